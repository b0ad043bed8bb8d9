"""A click CLI (group, options, a file argument) run in-process: `wc`-like counting of a generated
file, with contextlib context managers around each step. Sequential work on one thread."""

import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import click

STEPS: list[str] = []


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    STEPS.append(f"{name} {time.perf_counter() - t:.3f}")


@click.group()
def cli() -> None:
    """Count things in text files."""


@cli.command()
@click.option("--top", default=5, help="how many words to show")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def count(top: int, path: str) -> None:
    with step("read"), open(path) as fh:
        text = fh.read()
    with step("count"):
        counts: dict[str, int] = {}
        for word in text.split():
            counts[word] = counts.get(word, 0) + 1
    with step("sort"):
        best = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    click.echo(" ".join(w for w, _ in best))


with tempfile.TemporaryDirectory() as tmp:
    src = Path(tmp) / "words.txt"
    src.write_text(" ".join(f"w{i % 997}" for i in range(40_000)))
    for _ in range(2):
        cli.main(["count", "--top", "3", str(src)], standalone_mode=False)
print(json.dumps({"steps": len(STEPS), "threads": 0, "processes": 0}))
sys.exit(0)
