"""The report template's bytecode cache: used when writable, never a cause of a failed report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RENDER = (
    "from tracekit.render.templating import env; env.get_template('report.html.j2'); "
    "print(env.bytecode_cache is not None)"
)


def render(cache_home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    return subprocess.run([sys.executable, "-c", RENDER], capture_output=True, text=True, env=env, timeout=60)


def test_compiled_templates_are_kept_and_reused(tmp_path: Path) -> None:
    first = render(tmp_path)
    assert first.returncode == 0 and first.stdout.strip() == "True", first.stderr
    (entry,) = (tmp_path / "tracekit" / "jinja2").iterdir()
    assert entry.suffix == ".cache" and entry.stat().st_size > 1000
    stamp = entry.stat().st_mtime_ns
    again = render(tmp_path)
    assert again.returncode == 0 and entry.stat().st_mtime_ns == stamp  # loaded, not compiled and written again


def test_a_corrupt_or_unwritable_cache_never_fails_the_template(tmp_path: Path) -> None:
    assert render(tmp_path).returncode == 0
    (entry,) = (tmp_path / "tracekit" / "jinja2").iterdir()
    entry.write_bytes(b"j2 not a bytecode entry")
    assert render(tmp_path).returncode == 0
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    p = render(blocked)
    assert p.returncode == 0 and p.stdout.strip() == "False", p.stderr


def test_an_environment_with_other_options_never_gets_this_ones_compiled_code(tmp_path: Path) -> None:
    # Jinja2 keys its cache on the template's name only: an overlay with autoescape off (as the report's
    # canary test makes) was served the code compiled with escaping on, and escaped
    from jinja2 import DictLoader, Environment

    from tracekit.render.templating import bytecode_cache

    cache = bytecode_cache({"XDG_CACHE_HOME": str(tmp_path)})
    assert cache is not None

    def render(**options: bool) -> str:
        env = Environment(loader=DictLoader({"t.html": "{{ x }}"}), bytecode_cache=cache, cache_size=0, **options)
        return env.get_template("t.html").render(x="<b>")

    assert render(autoescape=True) == "&lt;b&gt;"
    assert render(autoescape=False) == "<b>"
    assert render(autoescape=True) == "&lt;b&gt;"  # each from its own entry now
    assert len(list((tmp_path / "tracekit" / "jinja2").iterdir())) == 2
