"""What the walk figure shows, apart from how it is drawn: nodes, their places, edges, styles and labels.

Shared by the matplotlib figure (:func:`twincell.pl.paths`) and the standalone SVG writer
(:func:`twincell.pl.svg.paths_svg`); imports no plotting library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from twincell.errors import TwinCellError
from twincell.pl._checks import require_table

ACTIVATING = "#1a7f37"
INHIBITING = "#cf222e"
READOUT_LEGEND = "#57606a"
#: Legend entries: (label, colour, dashed).
LEGEND = (("activating edge", ACTIVATING, False), ("inhibiting edge", INHIBITING, False),
          ("readout onto a transcript", READOUT_LEGEND, True))


class ExplanationLike(Protocol):
    """What the walk figure reads from a :class:`twincell.identify.Explanation`."""

    target: str
    direction: str
    covered_share: float
    paths: pd.DataFrame


@dataclass(frozen=True)
class WalkEdge:
    """One drawn edge: from ``source`` to ``target`` with signed ``value`` (readout edges end on a transcript)."""

    source: str
    target: str
    value: float
    readout: bool
    colour: str
    width: float
    curved: bool

    @property
    def loop(self) -> bool:
        """Whether the edge returns to its own node (a self-loop, drawn as a loop over the top of its box)."""
        return self.source == self.target


@dataclass(frozen=True)
class WalkNode:
    """One box: its ``name``, place in data units (``x`` = column, ``y`` in [-0.5, 0.5]) and fill colour."""

    name: str
    x: float
    y: float
    face: str


@dataclass(frozen=True)
class WalkGraph:
    """Everything the walk figure draws; coordinates in data units (columns of hop depth, rows in [-0.5, 0.5])."""

    nodes: list[WalkNode]
    edges: list[WalkEdge]
    title: str
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    @property
    def max_rows(self) -> int:
        """The most boxes stacked in one column."""
        return int(max(np.unique([n.x for n in self.nodes], return_counts=True)[1], default=1))


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
    """Place each node: x = its column, the column's nodes spread evenly from y = 0.5 down to -0.5 (sorted)."""
    pos: dict[str, tuple[float, float]] = {}
    for h in sorted(set(depth.values())):
        names = sorted(n for n, d in depth.items() if d == h)
        ys = np.linspace(0.5, -0.5, len(names)) if len(names) > 1 else [0.0]
        pos.update({n: (float(h), float(y)) for n, y in zip(names, ys)})
    return pos


def _needs_curve(start: tuple[float, float], end: tuple[float, float], places: Iterable[tuple[float, float]],
                 clearance: float = 0.1) -> bool:
    """Whether an edge is drawn curved: it goes back or stays in its column, or its straight line would pass
    within ``clearance`` (data units) of a box in a column between its ends (and be hidden behind it)."""
    (x0, y0), (x1, y1) = start, end
    if x1 <= x0:
        return True
    return any(x0 < x < x1 and abs(y - (y0 + (x - x0) / (x1 - x0) * (y1 - y0))) < clearance for x, y in places)


def walk_graph(explanation: ExplanationLike) -> WalkGraph:
    """The walk figure of one explanation, independent of the drawing library.

    Parameters
    ----------
    explanation
        Needs ``target``, ``direction``, ``covered_share`` and the ``paths`` table (``nodes``,
        ``strengths``, ``gene``, ``readout``).

    Returns
    -------
    WalkGraph
        Boxes (target light blue, transcripts yellow, last column), edges (green activating, red
        inhibiting; width 1-4 by |strength| relative to the strongest protein edge, readouts 1.2; edges
        that go back, stay in a column or would pass behind a box curved; self-loops flagged by
        :attr:`WalkEdge.loop`), the title and the axis limits.
    """
    missing = [a for a in ("target", "direction", "covered_share", "paths") if not hasattr(explanation, a)]
    if missing:
        raise TwinCellError(f"pl.paths takes an Explanation, got {type(explanation).__name__} (it has no "
                            f"{', '.join(missing)})", "pass an Explanation from twincell.identify.explain / explain_many")
    table = require_table(explanation.paths, ("nodes", "strengths", "gene", "readout"),
                          "the explanation's walk table (.paths)",
                          "pass an Explanation from twincell.identify.explain / explain_many", allow_empty=True)
    depth, edges, transcripts = _graph(table)
    if not depth:
        depth = {explanation.target: 0}
    pos = _layout(depth)
    top = max((abs(v) for (_, _, ro), v in edges.items() if not ro), default=1.0) or 1.0
    drawn = [WalkEdge(a, b, value, ro, ACTIVATING if value > 0 else INHIBITING,
                      1.2 if ro else 1.0 + 3.0 * abs(value) / top, _needs_curve(pos[a], pos[b], pos.values()))
             for (a, b, ro), value in edges.items()]
    nodes = [WalkNode(name, x, y, "#ddf4ff" if name == explanation.target
                      else ("#fff8c5" if name in transcripts else "white")) for name, (x, y) in pos.items()]
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    share = explanation.covered_share
    title = (f"{explanation.target} ({explanation.direction}): top {len(table)} walks cover {share:.0%} of its "
             "score" if np.isfinite(share) else f"{explanation.target}: no walks")
    return WalkGraph(nodes, drawn, title, (min(xs) - 0.5, max(xs) + 0.5), (min(ys) - 0.3, max(ys) + 0.3))
