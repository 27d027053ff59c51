"""Figure of a target explanation: its top signalling walks drawn as a small directed graph."""

from __future__ import annotations

from typing import Protocol

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

ACTIVATING = "#1a7f37"
INHIBITING = "#cf222e"


class ExplanationLike(Protocol):
    """What :func:`paths` reads from a :class:`twincell.identify.Explanation`."""

    target: str
    direction: str
    covered_share: float
    paths: pd.DataFrame


def _graph(table: pd.DataFrame) -> tuple[dict[str, int], dict[tuple[str, str, bool], float], set[str]]:
    """Column of each node, the signed strength of each drawn edge (readout edges flagged), and the
    transcript nodes (``"<gene> mRNA"``, drawn in a last column so a protein and its own transcript
    never share a box)."""
    depth: dict[str, int] = {}
    edges: dict[tuple[str, str, bool], float] = {}
    transcripts: set[str] = set()
    for row in table.itertuples(index=False):
        nodes = list(row.nodes)
        for h, name in enumerate(nodes):
            depth[name] = min(depth.get(name, h), h)
        for a, b, s in zip(nodes[:-1], nodes[1:], row.strengths):
            edges[(a, b, False)] = float(s)
        transcript = f"{row.gene} mRNA"
        transcripts.add(transcript)
        edges[(nodes[-1], transcript, True)] = float(row.readout)
    last = max(depth.values(), default=0) + 1
    depth.update({t: last for t in transcripts})
    return depth, edges, transcripts


def _layout(depth: dict[str, int]) -> dict[str, tuple[float, float]]:
    pos: dict[str, tuple[float, float]] = {}
    for h in sorted(set(depth.values())):
        names = sorted(n for n, d in depth.items() if d == h)
        ys = np.linspace(0.5, -0.5, len(names)) if len(names) > 1 else [0.0]
        pos.update({n: (float(h), float(y)) for n, y in zip(names, ys)})
    return pos


def paths(explanation: ExplanationLike, ax: Axes | None = None) -> Axes:
    """Draw a target's top walks: proteins as boxes, edges coloured by sign, width by strength.

    Parameters
    ----------
    explanation
        A :class:`twincell.identify.Explanation` (needs ``target``, ``direction``, ``covered_share``
        and the ``paths`` table with ``nodes``, ``strengths``, ``gene``, ``readout``).
    ax
        Axes to draw on (default: a new figure).

    Returns
    -------
    Axes
        Green arrows activate, red bars inhibit (labels: signed strength, width: |strength|); dashed
        arrows are the readout onto the responding genes' transcripts (yellow ``<gene> mRNA`` boxes,
        last column). Other columns are hop depth from the target.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    table = explanation.paths
    depth, edges, transcripts = _graph(table)
    if not depth:
        depth = {explanation.target: 0}
    pos = _layout(depth)
    top = max((abs(v) for (_, _, ro), v in edges.items() if not ro), default=1.0) or 1.0
    for (a, b, is_readout), value in edges.items():
        (x0, y0), (x1, y1) = pos[a], pos[b]
        colour = ACTIVATING if value > 0 else INHIBITING
        width = 1.2 if is_readout else 1.0 + 3.0 * abs(value) / top
        style = "-|>" if value > 0 else "-["
        rad = 0.3 if x1 <= x0 else 0.0
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": style, "color": colour, "lw": width, "shrinkA": 18, "shrinkB": 18,
                                "linestyle": "--" if is_readout else "-", "connectionstyle": f"arc3,rad={rad}"})
        at = 0.5 if rad == 0.0 else 0.35  # labels of curved (backward) edges sit off the straight ones
        ax.text(x0 + at * (x1 - x0), y0 + at * (y1 - y0) + 0.03, f"{value:+.2g}", fontsize=7, color=colour, ha="center")
    for name, (x, y) in pos.items():
        face = "#ddf4ff" if name == explanation.target else ("#fff8c5" if name in transcripts else "white")
        ax.text(x, y, name, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round,pad=0.3", "facecolor": face, "edgecolor": "#444"})
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.3, max(ys) + 0.3)
    ax.set_axis_off()
    share = explanation.covered_share
    ax.set_title(f"{explanation.target} ({explanation.direction}): top {len(table)} walks cover "
                 f"{share:.0%} of its score" if np.isfinite(share) else f"{explanation.target}: no walks")
    ax.legend(handles=[Line2D([], [], color=ACTIVATING, label="activating edge"),
                       Line2D([], [], color=INHIBITING, label="inhibiting edge"),
                       Line2D([], [], color="#57606a", linestyle="--", label="readout onto a transcript")],
              loc="lower center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=7, frameon=False)
    return ax
