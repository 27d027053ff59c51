"""Figure of a target explanation: its top signalling walks drawn as a small directed graph (matplotlib).

What is drawn comes from :func:`twincell.pl._walks.walk_graph`, shared with the standalone SVG of the
reports (:func:`twincell.pl.svg.paths_svg`); matplotlib is imported on the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twincell.pl._checks import require_axes
from twincell.pl._walks import LEGEND, ExplanationLike, walk_graph

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LOOP_BASE, LOOP_HALF, LOOP_SPREAD, LOOP_HEIGHT = 9, 6, 9, 29  # points: a self-loop's ends over its box's centre
# (just above its top) and from its centre line, its control points' further spread and height (it rises 3/4 of it)


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
        last column). Other columns are hop depth from the target. A self-loop is an arc over the top of its box.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path
    from matplotlib.transforms import Affine2D, ScaledTranslation

    if require_axes(ax) is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 4.5))
    loop = Path([(-LOOP_HALF, LOOP_BASE), (-LOOP_HALF - LOOP_SPREAD, LOOP_BASE + LOOP_HEIGHT),
                 (LOOP_HALF + LOOP_SPREAD, LOOP_BASE + LOOP_HEIGHT), (LOOP_HALF, LOOP_BASE)],
                [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
    graph = walk_graph(explanation)
    pos = {n.name: (n.x, n.y) for n in graph.nodes}
    for e in graph.edges:
        (x0, y0), (x1, y1) = pos[e.source], pos[e.target]
        style = {"arrowstyle": "-|>" if e.value > 0 else "-[", "color": e.colour, "lw": e.width,
                 "linestyle": "--" if e.readout else "-"}
        if e.loop:
            # a self-loop: a cubic curve over the top of its box, drawn in points from the box's centre (points ->
            # inches -> pixels at the dpi of the render, so a figure saved at another dpi keeps the loop's size)
            at_box = Affine2D().scale(1 / 72) + ax.figure.dpi_scale_trans + ScaledTranslation(x0, y0, ax.transData)
            ax.add_patch(FancyArrowPatch(path=loop, transform=at_box, mutation_scale=10, **style))
            ax.annotate(f"{e.value:+.2g}", xy=(x0, y0), xytext=(0, LOOP_BASE + 0.75 * LOOP_HEIGHT + 5),
                        textcoords="offset points", fontsize=7, color=e.colour, ha="center")
            continue
        rad = 0.3 if e.curved else 0.0
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={**style, "shrinkA": 18, "shrinkB": 18, "connectionstyle": f"arc3,rad={rad}"})
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
