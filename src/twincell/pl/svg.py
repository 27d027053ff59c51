"""The walk figure as a standalone SVG document, written directly (no matplotlib: the reports stay fast).

Draws the same :class:`~twincell.pl._walks.WalkGraph` as :func:`twincell.pl.paths`: boxes, signed
edges with arrow heads (activating) or bars (inhibiting), strength labels, the title and the legend.
Text is kept as SVG text (small, sharp, searchable); box widths are estimated from the label length.
"""

from __future__ import annotations

import math
from html import escape

from twincell.pl._walks import LEGEND, ExplanationLike, WalkEdge, WalkGraph, walk_graph

WIDTH = 800  # px
MIN_PLOT_HEIGHT = 330  # px of the node area; taller when a column holds many boxes
ROW_GAP = 28  # px between stacked boxes at least
TITLE_HEIGHT, LEGEND_HEIGHT, SIDE = 44, 34, 20  # px
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
NODE_FONT, LABEL_FONT, TITLE_FONT, LEGEND_FONT = 12, 10, 15, 10  # px
CHAR_WIDTH = 0.62  # of the font size: estimated advance of one character
BOX_PAD_X, BOX_PAD_Y, GAP = 6, 5, 2  # px: box padding, space between an edge's end and a box
HEAD = 9  # px: length of an arrow head, drawn beyond the end of its line
PT = 100 / 72  # px per point (line widths are in points, as in matplotlib, at 100 dpi)
CURVE = 0.3  # control point offset of curved edges, as a share of their length (matplotlib's arc3 rad)
LOOP_HALF, LOOP_SPREAD, LOOP_HEIGHT = 9, 12, 40  # px: a self-loop's ends from its box's centre line, its control
# points' further spread and their height over the box (the loop rises 3/4 of it)


def _text_width(text: str, size: float) -> float:
    """Estimated width in px of ``text`` at font size ``size`` px."""
    return len(text) * size * CHAR_WIDTH


def _boundary(centre: tuple[float, float], toward: tuple[float, float], half: tuple[float, float],
              gap: float = GAP) -> tuple[float, float]:
    """Where the ray from a box's ``centre`` towards ``toward`` leaves it (half sizes ``half``), plus ``gap`` px."""
    dx, dy = toward[0] - centre[0], toward[1] - centre[1]
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    t = min(half[0] / abs(ux) if ux else math.inf, half[1] / abs(uy) if uy else math.inf) + gap
    return centre[0] + t * ux, centre[1] + t * uy


def _drawn(e: WalkEdge, d: str, label: tuple[float, float]) -> str:
    """The SVG path ``d`` of an edge in its style (colour, width, dashes, head or bar) and its label at ``label``."""
    dash = ' stroke-dasharray="5,3"' if e.readout else ""
    marker = f"{'act' if e.value > 0 else 'inh'}-{e.colour[1:]}"
    return (f'<path d="{d}" fill="none" stroke="{e.colour}" stroke-width="{e.width * PT:.2f}"{dash} '
            f'marker-end="url(#{marker})"/>\n'
            f'<text x="{label[0]:.1f}" y="{label[1] - 4:.1f}" font-size="{LABEL_FONT}" fill="{e.colour}" '
            f'text-anchor="middle">{e.value:+.2g}</text>')


def _edge(e: WalkEdge, px: dict[str, tuple[float, float]], half: dict[str, tuple[float, float]]) -> str:
    """The SVG path and label of one edge (straight, or a quadratic curve when the graph says so)."""
    (x0, y0), (x1, y1) = px[e.source], px[e.target]
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    cx, cy = (mx + CURVE * (y1 - y0), my - CURVE * (x1 - x0)) if e.curved else (mx, my)
    sx, sy = _boundary((x0, y0), (cx, cy) if e.curved else (x1, y1), half[e.source])
    tx, ty = _boundary((x1, y1), (cx, cy) if e.curved else (x0, y0), half[e.target],
                       GAP + HEAD if e.value > 0 else GAP)  # an arrow head continues beyond its line
    route = f"Q{cx:.1f},{cy:.1f} " if e.curved else "L"
    label = (0.25 * x0 + 0.5 * cx + 0.25 * x1, 0.25 * y0 + 0.5 * cy + 0.25 * y1) if e.curved else (mx, my)
    return _drawn(e, f"M{sx:.1f},{sy:.1f} {route}{tx:.1f},{ty:.1f}", label)


def _loop(e: WalkEdge, px: dict[str, tuple[float, float]], half: dict[str, tuple[float, float]]) -> str:
    """The SVG path and label of a self-loop: a cubic curve leaving the top of its box and coming back onto it (the
    line or arc of :func:`_edge` from a place to itself has no direction, and its ends were NaN)."""
    x, y = px[e.source]
    top = y - half[e.source][1] - GAP
    end = top - HEAD if e.value > 0 else top  # an arrow head continues beyond its line
    rise = top - LOOP_HEIGHT
    d = (f"M{x - LOOP_HALF:.1f},{top:.1f} C{x - LOOP_HALF - LOOP_SPREAD:.1f},{rise:.1f} "
         f"{x + LOOP_HALF + LOOP_SPREAD:.1f},{rise:.1f} {x + LOOP_HALF:.1f},{end:.1f}")
    return _drawn(e, d, (x, top - 0.75 * LOOP_HEIGHT - 4))


def _markers(graph: WalkGraph) -> str:
    """Arrow heads (activating) and bars (inhibiting) in each edge colour used, sized in px."""
    kinds = sorted({(e.value > 0, e.colour) for e in graph.edges})
    defs = []
    for activating, colour in kinds:
        shape = '<path d="M0,0 L10,5 L0,10 z"' if activating else '<rect x="7" y="0" width="3" height="10"'
        size = HEAD if activating else 12
        defs.append(f'<marker id="{"act" if activating else "inh"}-{colour[1:]}" viewBox="0 0 10 10" '
                    f'refX="{0 if activating else 10}" refY="5" markerWidth="{size}" markerHeight="{size}" '
                    f'markerUnits="userSpaceOnUse" orient="auto">{shape} fill="{colour}"/></marker>')
    return "<defs>" + "".join(defs) + "</defs>"


def _legend(y: float) -> str:
    """The legend row (one line sample and label per edge kind), centred at height ``y`` px."""
    sizes = [28 + 6 + _text_width(label, LEGEND_FONT) for label, _, _ in LEGEND]
    x = (WIDTH - sum(sizes) - 24 * (len(sizes) - 1)) / 2
    parts = []
    for (label, colour, dashed), size in zip(LEGEND, sizes):
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 28:.1f}" y2="{y:.1f}" stroke="{colour}" '
                     f'stroke-width="2"{dash}/><text x="{x + 34:.1f}" y="{y + 3.5:.1f}" '
                     f'font-size="{LEGEND_FONT}">{escape(label)}</text>')
        x += size + 24
    return "\n".join(parts)


def paths_svg(explanation: ExplanationLike) -> str:
    """A target's top walks as an SVG document: the figure of :func:`twincell.pl.paths`, without matplotlib.

    Parameters
    ----------
    explanation
        A :class:`twincell.identify.Explanation` (needs ``target``, ``direction``, ``covered_share``
        and the ``paths`` table with ``nodes``, ``strengths``, ``gene``, ``readout``).

    Returns
    -------
    str
        The SVG text, 800 px wide, 408 px high or more when a column stacks many boxes: proteins as
        boxes (the target light blue, columns = hop depth), green arrows activate and red bars inhibit
        (width by |strength|, label = signed strength; a self-loop over the top of its box), dashed arrows are
        the readout onto the responding genes' transcripts (yellow ``<gene> mRNA`` boxes, last column), then a
        legend.
    """
    graph = walk_graph(explanation)
    (x_lo, x_hi), (y_lo, y_hi) = graph.xlim, graph.ylim
    plot_height = max(MIN_PLOT_HEIGHT, ROW_GAP * (graph.max_rows - 1) * (y_hi - y_lo))
    height = TITLE_HEIGHT + plot_height + LEGEND_HEIGHT
    px = {n.name: (SIDE + (n.x - x_lo) / (x_hi - x_lo) * (WIDTH - 2 * SIDE),
                   TITLE_HEIGHT + (y_hi - n.y) / (y_hi - y_lo) * plot_height) for n in graph.nodes}
    half = {n.name: (_text_width(n.name, NODE_FONT) / 2 + BOX_PAD_X, NODE_FONT / 2 + BOX_PAD_Y)
            for n in graph.nodes}
    boxes = []
    for n in graph.nodes:
        (x, y), (hw, hh) = px[n.name], half[n.name]
        boxes.append(f'<rect x="{x - hw:.1f}" y="{y - hh:.1f}" width="{2 * hw:.1f}" height="{2 * hh:.1f}" rx="5" '
                     f'fill="{n.face}" stroke="#444"/><text x="{x:.1f}" y="{y + NODE_FONT * 0.35:.1f}" '
                     f'font-size="{NODE_FONT}" text-anchor="middle">{escape(n.name)}</text>')
    title = escape(graph.title)
    return "\n".join([
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="{FONT}">',
        f"<title>{title}</title>", _markers(graph), '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2:.0f}" y="28" font-size="{TITLE_FONT}" text-anchor="middle">{title}</text>',
        *((_loop if e.loop else _edge)(e, px, half) for e in graph.edges), *boxes,
        _legend(height - LEGEND_HEIGHT / 2), "</svg>", ""])
