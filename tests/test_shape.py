"""The shape the design asks of tracekit/, checked on its source with ast: no function over 60 lines, and
no upward import between the layers of the pipeline (the README's "Code layout" states the same table).

Layers, lowest first; a module may import from its own layer and the ones below it, never above:
  base      facts every stage shares: errors, the record formats, the run facts, the phase names
  capture   what runs in or beside the traced program: the child's boot, viztracer's workarounds, the
            structure recorder, the stack sampler, the psutil sampler
  trace     the raw files read back: viztracer's trace (tracekit/trace/) and the structure record
  analysis  pure: one run → Analysis; N runs → Comparison; 2 runs → Diff
  render    Analysis | Comparison | Diff → HTML, terminal text, export formats (strings)
  drive     the stages' drivers, with the I/O: run the child and write the run directory, read it back,
            time repeated runs, serve a trace to the viewer
  cli       the command line and the package's `tracekit.load()`
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tracekit"
MAX_LINES = 60

LAYERS: dict[str, list[str]] = {
    "base": ["tracekit.errors", "tracekit.records", "tracekit.reaper", "tracekit.runinfo", "tracekit.phases"],
    "capture": ["tracekit._boot", "tracekit._child", "tracekit.vizboot", "tracekit.recorder", "tracekit.stacks",
                "tracekit.sampler"],
    "trace": ["tracekit.trace", "tracekit.structure"],
    "analysis": ["tracekit.analysis", "tracekit.compare", "tracekit.diff"],
    "render": ["tracekit.render", "tracekit.export"],
    # supervise and postrun: the runner's halves (the child; the files after it)
    "drive": ["tracekit.runner", "tracekit.supervise", "tracekit.postrun", "tracekit.rundir", "tracekit.timing",
              "tracekit.diff_inputs", "tracekit.viewer"],
    "cli": ["tracekit.cli", "tracekit.__main__", "tracekit"],
}  # fmt: skip
ORDER = list(LAYERS)

# Functions still over the limit in code other helpers are reshaping at the same time (issue 14): each
# must still be too long, so the set only shrinks; the lead empties it when they have landed.
PENDING: set[str] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    """The layer of the longest table entry that is `module` or a package holding it (the entry
    "tracekit" is the package's own __init__ only, not everything in it)."""
    best: tuple[int, str] | None = None
    for layer, prefixes in LAYERS.items():
        for p in prefixes:
            inside = module.startswith(p + ".") and p != "tracekit"
            if (module == p or inside) and (best is None or len(p) > best[0]):
                best = (len(p), layer)
    return best[1] if best else None


def long_functions(source: str, max_lines: int = MAX_LINES) -> dict[str, int]:
    """qualname → lines (from `def` to its last line, decorators not counted) of each function over the limit."""
    out: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = (child.end_lineno or child.lineno) - child.lineno + 1
                    if lines > max_lines:
                        out[name] = lines
                walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(ast.parse(source), "")
    return out


def tracekit_imports(source: str, module: str, is_package: bool) -> set[str]:
    """The tracekit modules `source` imports, at module level or inside functions. `from tracekit import
    x` counts as importing tracekit.x when x is a module, else the package itself; the package's
    __version__ counts as nothing (every import of a tracekit module runs the package's __init__ anyway)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "tracekit")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "tracekit":
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                if is_module(sub):
                    out.add(sub)
                elif not (base == "tracekit" and a.name == "__version__"):
                    out.add(base)
    return out


def is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def upward_imports(module: str, imports: set[str]) -> list[str]:
    mine = layer_of(module)
    assert mine is not None
    out = []
    for dep in sorted(imports):
        theirs = layer_of(dep)
        if theirs is not None and ORDER.index(theirs) > ORDER.index(mine):
            out.append(f"{module} ({mine}) imports {dep} ({theirs})")
    return out


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_no_function_over_60_lines() -> None:
    too_long = {}
    for path in SOURCES:
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for name, lines in long_functions(path.read_text(encoding="utf-8")).items():
            too_long[f"{rel}:{name}"] = lines
    over = {k: v for k, v in too_long.items() if k not in PENDING}
    assert not over, f"functions over {MAX_LINES} lines: {over}"
    done = sorted(PENDING - set(too_long))
    assert not done, f"now {MAX_LINES} lines or fewer (or gone): remove them from PENDING: {done}"


def test_every_module_has_a_layer() -> None:
    missing = [module_name(p) for p in SOURCES if layer_of(module_name(p)) is None]
    assert not missing, f"put these modules in LAYERS (tests/test_shape.py) and the README's Code layout: {missing}"


def test_no_upward_import() -> None:
    found = []
    for path in SOURCES:
        module = module_name(path)
        if layer_of(module) is None:
            continue  # test_every_module_has_a_layer says so
        found += upward_imports(module, tracekit_imports(path.read_text(encoding="utf-8"), module,
                                                         path.name == "__init__.py"))  # fmt: skip
    assert not found, "upward imports:\n" + "\n".join(found)


LONG = "def f():\n" + "    x = 1\n" * 60 + "\n\nclass C:\n    def short(self):\n        return 1\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (LONG, {"f": 61}),
        ("def f():\n" + "    x = 1\n" * 59, {}),  # exactly 60 lines: allowed
        ("class C:\n    def m(self):\n" + "        x = 1\n" * 60, {"C.m": 61}),
        ("def outer():\n    def inner():\n" + "        x = 1\n" * 59, {"outer": 61, "outer.inner": 60}),
    ],
)
def test_long_functions_counts_def_to_last_line(source: str, expected: dict[str, int]) -> None:
    assert long_functions(source) == {k: v for k, v in expected.items() if v > MAX_LINES}


def test_the_import_check_sees_lazy_relative_and_package_imports() -> None:
    src = (
        "from tracekit import __version__, sampler\n"
        "from tracekit.trace.frames import Trace\n"
        "def f():\n    from tracekit.render.flame import MIN_SHARE\n    import tracekit.cli\n"
        "from . import units\nfrom .cpu import slice_cpu\n"
    )
    imports = tracekit_imports(src, "tracekit.analysis.findings", is_package=False)
    assert imports == {"tracekit.sampler", "tracekit.trace.frames", "tracekit.render.flame", "tracekit.cli",
                       "tracekit.analysis.units", "tracekit.analysis.cpu"}  # fmt: skip
    assert upward_imports("tracekit.analysis.findings", imports) == [
        "tracekit.analysis.findings (analysis) imports tracekit.cli (cli)",
        "tracekit.analysis.findings (analysis) imports tracekit.render.flame (render)",
    ]
    assert layer_of("tracekit.diff_inputs") == "drive" and layer_of("tracekit.diff") == "analysis"
    assert layer_of("tracekit") == "cli" and layer_of("tracekit.trace.nesting") == "trace"
    assert layer_of("tracekitx") is None and layer_of("tracekit.newmodule") is None
