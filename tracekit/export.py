"""The call tree in formats other tools open (pure: each returns a string or a dict; the CLI writes).

collapsed  one line per call path with self time: `frame;frame;frame <self µs>`, the input of
           flamegraph.pl and inferno-flamegraph (integer weights: microseconds, rounded). The first
           two frames are the process and the thread or task, so each unit is its own tower.
speedscope speedscope's file format (https://www.speedscope.app/file-format-schema.json): one
           "sampled" profile per thread or task (speedscope's profile menu switches between them),
           each call path a sample weighted by its self time in microseconds; the frames carry
           their file and line. Opens in speedscope offline (its npm package ships the app).

Frame names come from the traced program: collapsed output replaces `;` (the separator) and any
control character (newlines would split a line) with a space.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from tracekit.analysis.calltree import CallTree
from tracekit.analysis.functions import split_name

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def _frame_text(name: str) -> str:
    return "".join(" " if c == ";" or unicodedata.category(c) == "Cc" else c for c in name)


def collapsed(tree: CallTree) -> str:
    """Collapsed stacks, one line per node with self time ≥ 0.5 µs, in tree order."""
    n = tree.nodes
    parent = n["parent"].to_numpy()
    names = [_frame_text(str(x)) for x in n["name"]]
    self_us = n["self_us"].to_numpy(dtype=float)
    paths: list[list[str]] = []
    lines = []
    for i in range(len(n)):
        paths.append([] if parent[i] < 0 else [*paths[parent[i]], names[i]])
        weight = round(float(self_us[i]))
        if paths[i] and weight > 0:
            lines.append(";".join(paths[i]) + f" {weight}")
    return "\n".join(lines) + ("\n" if lines else "")


def _frames(tree: CallTree) -> tuple[list[dict[str, Any]], list[int]]:
    """speedscope's shared frames (one per distinct name) and each node's frame index."""
    index: dict[str, int] = {}
    frames: list[dict[str, Any]] = []
    of_node = []
    for name, kind in zip(tree.nodes["name"].astype(str), tree.nodes["kind"], strict=True):
        if name not in index:
            func, file, line = split_name(name) if kind == "call" else (name, "", 0)
            frame: dict[str, Any] = {"name": func if file else name}
            if file:
                frame["file"], frame["line"] = file, line
            index[name] = len(frames)
            frames.append(frame)
        of_node.append(index[name])
    return frames, of_node


def speedscope(tree: CallTree, name: str, exporter: str) -> dict[str, Any]:
    """One sampled profile per track (or one for the whole tree when it has no track level)."""
    n = tree.nodes
    frames, frame_of = _frames(tree)
    parent = n["parent"].to_numpy()
    kinds = n["kind"].tolist()
    self_us = n["self_us"].to_numpy(dtype=float)
    owner: list[int] = []  # the track (or root) each node's samples belong to
    path: list[list[int]] = []  # frame indices from below the track down to the node
    for i in range(len(n)):
        if kinds[i] in ("root", "process", "track"):
            owner.append(i)
            path.append([])
            continue
        p = parent[i]
        owner.append(owner[p])
        path.append([*path[p], frame_of[i]])
    profiles: dict[int, dict[str, Any]] = {}
    for i in range(len(n)):
        if kinds[i] == "track" or (kinds[i] == "root" and "track" not in kinds):
            label = str(n["name"].iloc[i])
            proc = str(n["name"].iloc[parent[i]]) if kinds[i] == "track" else ""
            profiles[i] = {
                "type": "sampled", "name": f"{proc} / {label}" if proc else name, "unit": "microseconds",
                "startValue": 0, "endValue": 0, "samples": [], "weights": [],
            }  # fmt: skip
    for i in range(len(n)):
        prof = profiles.get(owner[i])
        weight = round(float(self_us[i]), 1)
        if prof is None or not path[i] or weight <= 0:
            continue
        prof["samples"].append(path[i])
        prof["weights"].append(weight)
        prof["endValue"] = round(prof["endValue"] + weight, 1)
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "shared": {"frames": frames},
        "profiles": list(profiles.values()),
        "name": name,
        "activeProfileIndex": 0,
        "exporter": exporter,
    }
