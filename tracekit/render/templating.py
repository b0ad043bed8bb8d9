"""The one Jinja2 environment every HTML renderer uses: autoescape on for every template and string,
so whatever came from the traced program is escaped unless a renderer deliberately marks it safe.

Compiled templates are kept in Jinja2's bytecode cache under `$XDG_CACHE_HOME/tracekit/jinja2`
(`~/.cache/...`): compiling report.html.j2 takes 40-110 ms on this machine, loading it ~2 ms. Jinja2
keys each entry on the template's source and the Python version; an unwritable cache is skipped."""

from __future__ import annotations

import contextlib
import os

import jinja2
from jinja2 import BytecodeCache, Environment, FileSystemBytecodeCache, PackageLoader, select_autoescape
from jinja2.bccache import Bucket

from tracekit.render.terminal import fmt_bytes


class _QuietCache(FileSystemBytecodeCache):
    """A cache that never fails a report (a full disk or a directory gone read-only skips the entry),
    keyed on what the compiled code depends on besides the source: Jinja2 keys only on the template's
    name, so an environment with other options (autoescape off in a test's overlay, a later tracekit's
    trim_blocks) would otherwise load code compiled for this one."""

    def get_bucket(self, environment: Environment, name: str, filename: str | None, source: str) -> Bucket:
        escape = environment.autoescape(name) if callable(environment.autoescape) else environment.autoescape
        options = (
            jinja2.__version__, bool(escape), environment.trim_blocks, environment.lstrip_blocks,
            environment.keep_trailing_newline, environment.newline_sequence, environment.optimized,
            environment.block_start_string, environment.variable_start_string, environment.comment_start_string,
            environment.line_statement_prefix, environment.line_comment_prefix,
            sorted(environment.extensions),
        )  # fmt: skip
        bucket = Bucket(
            environment, self.get_cache_key(f"{name}\0{options!r}", filename), self.get_source_checksum(source)
        )
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError, ValueError, EOFError):
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def bytecode_cache(environ: os._Environ[str] | dict[str, str] = os.environ) -> BytecodeCache | None:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "tracekit", "jinja2")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return _QuietCache(folder) if os.access(folder, os.W_OK | os.X_OK) else None


env = Environment(
    loader=PackageLoader("tracekit.render", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    bytecode_cache=bytecode_cache(),
)
env.filters["bytes"] = fmt_bytes
