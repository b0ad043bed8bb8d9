"""Rich renderables → the exact text a terminal of a given width shows (renderers return it; only the
CLI prints). Colour and the box characters are the caller's choice: the CLI passes what its own
terminal supports; tests pass nothing and get plain UTF-8 text at a fixed width."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Literal

from rich.console import Console, RenderableType

ColorSystem = Literal["standard", "256", "truecolor"]


class _Buffer(io.StringIO):
    """A string buffer that reports an encoding, so rich draws ASCII boxes for an ASCII terminal."""

    def __init__(self, encoding: str) -> None:
        super().__init__()
        self.reported_encoding = encoding

    @property  # StringIO's is None; rich reads it to choose its box characters
    def encoding(self) -> str:  # type: ignore[override]
        return self.reported_encoding


def to_text(
    parts: Iterable[RenderableType], width: int, color_system: ColorSystem | None = None, encoding: str = "utf-8"
) -> str:
    """Each part printed on its own line(s), tables fitted to `width` columns (text lines are not
    wrapped: the terminal wraps them, and a copied message stays one line); colour escapes only with a
    `color_system`."""
    buf = _Buffer(encoding)
    con = Console(
        file=buf, width=width, color_system=color_system, force_terminal=color_system is not None,
        highlight=False, emoji=False, markup=False, legacy_windows=False, soft_wrap=True,
    )  # fmt: skip
    for part in parts:
        con.print(part)
    return buf.getvalue()
