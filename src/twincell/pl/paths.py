"""Figure of a target explanation: its top signalling walks drawn as a small directed graph (matplotlib).

What is drawn comes from :func:`twincell.pl._walks.walk_graph`, shared with the standalone SVG of the
reports (:func:`twincell.pl.svg.paths_svg`); matplotlib is imported on the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twincell.pl._walks import LEGEND, ExplanationLike, walk_graph

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def paths(explanation: ExplanationLike, *, ax: Axes | None = None) -> Axes:
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
    from matplotlib.lines import Line2D

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 4.5))
    graph = walk_graph(explanation)
    pos = {n.name: (n.x, n.y) for n in graph.nodes}
    for e in graph.edges:
        (x0, y0), (x1, y1) = pos[e.source], pos[e.target]
        rad = 0.3 if e.curved else 0.0
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "-|>" if e.value > 0 else "-[", "color": e.colour, "lw": e.width,
                                "shrinkA": 18, "shrinkB": 18, "linestyle": "--" if e.readout else "-",
                                "connectionstyle": f"arc3,rad={rad}"})
        at = 0.35 if e.curved else 0.5  # labels of curved edges sit off the straight ones
        ax.text(x0 + at * (x1 - x0), y0 + at * (y1 - y0) + 0.03, f"{e.value:+.2g}", fontsize=7, color=e.colour,
                ha="center")
    for n in graph.nodes:
        ax.text(n.x, n.y, n.name, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round,pad=0.3", "facecolor": n.face, "edgecolor": "#444"})
    ax.set_xlim(*graph.xlim)
    ax.set_ylim(*graph.ylim)
    ax.set_axis_off()
    ax.set_title(graph.title)
    ax.legend(handles=[Line2D([], [], color=c, linestyle="--" if dashed else "-", label=label)
                       for label, c, dashed in LEGEND],
              loc="lower center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=7, frameon=False)
    return ax
