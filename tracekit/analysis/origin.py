"""Where a function comes from: the program's own code, the standard library, or a third-party package.

`Origins` classes one function at a time from its file (Python functions) or its module (C functions,
named "module.func" by viztracer):
  own       a file under one of the program's roots (the script's directory, the current directory),
            and not inside a site-packages/dist-packages directory (a virtualenv under the project is
            third-party code, not the program's); for `-m MODULE`, also MODULE's top-level package
            wherever it is installed (`-m black` profiles black: its functions, compiled ones too,
            are the program's own)
  stdlib    a file of the standard library (under the analysing Python's stdlib, any
            lib/pythonX.Y/ outside site-packages, `<frozen ...>`), or a C function of a stdlib module
            or a builtin type (`builtins.exec`, `_asyncio.Task.result`, `str.join`); also a copy
            of a stdlib file under a root that shadows it (`./asyncio/tasks.py` when the stdlib has
            `asyncio/tasks.py`: `python -m` puts the current directory first on sys.path)
  package   a file under site-packages/dist-packages, or a C function of an installed module; the
            `package` is its distribution name (importlib.metadata: the dist-info next to the file,
            so the traced program's own environment decides, else the analysing environment's
            packages_distributions), or the top-level module name when no metadata names it
  unknown   anything else (`<string>`, a C method of a class named without its module): no guess

The metadata look-ups read dist-info files, once per site-packages directory (cached); everything else is
string work on the names.
"""

from __future__ import annotations

import builtins
import importlib.metadata as md
import os
import re
import sys
import sysconfig
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePosixPath

ORIGINS = ("own", "stdlib", "package", "unknown")
_SITE = re.compile(r"^(?P<site>.*/(?:site|dist)-packages)/(?P<rest>.+)$")
_STDLIB_DIR = re.compile(r"/lib/python3\.\d+t?/")
_BUILTIN_TYPES = frozenset(n for n, v in vars(builtins).items() if isinstance(v, type))


@dataclass(frozen=True)
class Origin:
    origin: str  # own | stdlib | package | unknown
    package: str  # distribution name (package), top-level module (stdlib), "" (own, unknown)


def _stdlib_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(sorted({paths["stdlib"].rstrip("/") + "/", paths["platstdlib"].rstrip("/") + "/"}))


@cache
def site_distributions(site: str) -> Mapping[str, str]:
    """Top-level module or package name → distribution name, from the dist-info in `site`."""
    out: dict[str, str] = {}
    for dist in md.distributions(path=[site]):
        name = _dist_name(dist)
        for top in _declared_or_recorded_tops(dist):
            if top.endswith((".dist-info", ".egg-info")) or top == "__pycache__":
                continue
            top = top.removesuffix(".py").split(".")[0]  # also `mod.cpython-311-x86_64-linux-gnu.so`
            if name and top:
                out.setdefault(top, name)
    return out


def _dist_name(dist: md.Distribution) -> str:
    """The Name header of a distribution's metadata. Read from the header block's lines: parsing the
    whole file as email (`dist.metadata`) took ~1 ms a distribution, most of the scan's time."""
    for line in (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").splitlines():
        if not line:
            break  # the end of the headers
        if line.startswith("Name:"):
            return line[5:].strip()
    return dist.metadata["Name"] or ""


def _declared_or_recorded_tops(dist: md.Distribution) -> list[str]:
    """top_level.txt's names, else the first part of each RECORD path (most wheels built by modern
    backends have no top_level.txt), as packages_distributions infers them; RECORD read as text, not
    as `dist.files` (a PackagePath per file: 16,000 for this environment)."""
    declared = (dist.read_text("top_level.txt") or "").split()
    if declared:
        return declared
    record = dist.read_text("RECORD") or ""
    return [ln.split(",", 1)[0].split("/", 1)[0] for ln in record.splitlines() if ln and not ln.startswith("..")]


@cache
def installed_distributions() -> Mapping[str, str]:
    """The analysing environment's top-level module → first distribution name on sys.path (what
    packages_distributions gives), from the same per-directory scans as the run's site directories."""
    out: dict[str, str] = {}
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            for top, name in site_distributions(entry).items():
                out.setdefault(top, name)
    return out


@cache
def _stdlib_file_exists(rel: str) -> bool:
    return any(os.path.isfile(prefix + rel) for prefix in _stdlib_prefixes())


@dataclass(frozen=True)
class Origins:
    """Classes files and C module names against the program's roots. `site_dists` and `module_dists`
    are injectable so tests can use hand-built environments."""

    roots: tuple[str, ...]
    stdlib_prefixes: tuple[str, ...] = field(default_factory=_stdlib_prefixes)
    stdlib_modules: frozenset[str] = frozenset(sys.stdlib_module_names)
    site_dists: Callable[[str], Mapping[str, str]] = site_distributions
    module_dists: Callable[[], Mapping[str, str]] = installed_distributions
    own_modules: tuple[str, ...] = ()  # top-level modules that are the program (`-m black`: black)
    stdlib_has: Callable[[str], bool] = _stdlib_file_exists

    def of_file(self, file: str) -> Origin:
        if file.startswith("<frozen "):
            return Origin("stdlib", file.removeprefix("<frozen ").rstrip(">").split(".")[0])
        m = _SITE.match(file)
        if m is not None:
            top = m["rest"].split("/")[0].removesuffix(".py").split(".")[0]
            if top in self.own_modules:
                return Origin("own", "")
            dist = self.site_dists(m["site"]).get(top) or self.module_dists().get(top) or top
            return Origin("package", dist)
        if not file.startswith("/"):
            return Origin("unknown", "")
        # The stdlib before the roots: a program run from the home directory must not own a pyenv there.
        for prefix in self.stdlib_prefixes:
            if file.startswith(prefix):
                return Origin("stdlib", file[len(prefix) :].split("/")[0].removesuffix(".py"))
        s = _STDLIB_DIR.search(file)
        if s is not None:  # another Python's stdlib (the run used a different interpreter)
            return Origin("stdlib", file[s.end() :].split("/")[0].removesuffix(".py"))
        for root in self.roots:
            if root and file.startswith(root.rstrip("/") + "/"):
                rel = file[len(root.rstrip("/")) + 1 :]
                top = rel.split("/")[0].removesuffix(".py")
                if top in self.stdlib_modules and top not in self.own_modules and self.stdlib_has(rel):
                    return Origin("stdlib", top)  # a copy of the stdlib shadowing it
                return Origin("own", "")
        return Origin("unknown", "")

    def of_c_function(self, name: str) -> Origin:
        """A C function named "module.func", "module.Class.method" or "type.method"."""
        top = name.split(".")[0]
        if top in self.own_modules:
            return Origin("own", "")
        if top in self.stdlib_modules or top == "builtins":
            public = top.lstrip("_")  # a C accelerator counts with its module: _asyncio with asyncio
            return Origin("stdlib", public if public != top and public in self.stdlib_modules else top)
        if top in _BUILTIN_TYPES:
            return Origin("stdlib", "builtins")
        dist = self.module_dists().get(top)
        if dist is not None:
            return Origin("package", dist)
        return Origin("unknown", "")

    def of(self, function: str, file: str) -> Origin:
        return self.of_file(file) if file else self.of_c_function(function)


def program_origins(cwd: str, target: str, module: bool) -> Origins:
    """How to class a run's functions: its roots, and for `-m MODULE` the module's top-level package."""
    own = (target.split(".")[0],) if module and target else ()
    return Origins(program_roots(cwd, target, module), own_modules=own)


def program_roots(cwd: str, target: str, module: bool) -> tuple[str, ...]:
    """The directories whose files are the program's own: the script's directory and the current
    directory (a module run has only the current directory)."""
    roots = [cwd] if cwd else []
    if target and not module:
        script = PurePosixPath(target) if target.startswith("/") else PurePosixPath(cwd) / target
        roots.insert(0, str(_normalise(script.parent)))
    return tuple(dict.fromkeys(roots))


def _normalise(p: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in p.parts:
        if part == "..":
            if len(parts) > 1:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts) if parts else p


def classify(functions: Iterable[str], files: Iterable[str], origins: Origins) -> list[Origin]:
    return [origins.of(fn, fl) for fn, fl in zip(functions, files, strict=True)]
