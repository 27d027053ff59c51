"""The reports' walk figure written as SVG without matplotlib: valid XML, every walk drawn with its sign,
the same graph as ``pl.paths``, and no plotting library imported on the identify path."""

from __future__ import annotations

import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from twincell import pl  # noqa: E402
from twincell.pl._walks import ACTIVATING, INHIBITING, walk_graph  # noqa: E402
from twincell.pl.svg import NODE_FONT, paths_svg  # noqa: E402

NS = {"s": "http://www.w3.org/2000/svg"}


def _synthetic_explanation(rows: list[tuple[tuple[str, ...], tuple[float, ...], str, float]],
                           target: str = "SYN1", share: float = 0.5) -> SimpleNamespace:
    """A synthetic explanation: walks (nodes, strengths, responding gene, readout) of made-up SYN genes."""
    paths = pd.DataFrame([{"nodes": n, "strengths": s, "gene": g, "readout": r} for n, s, g, r in rows],
                         columns=["nodes", "strengths", "gene", "readout"])
    return SimpleNamespace(target=target, direction="inhibit", covered_share=share, paths=paths)


@pytest.fixture()
def synthetic():
    """Three synthetic walks: an activating and an inhibiting hop, a hop back within a column, a readout of the
    target's own transcript, and a node name that needs XML escaping."""
    return _synthetic_explanation([(("SYN1", "SYN2", "SYN3"), (0.5, -0.3), "SYN9", 1.0),
                                   (("SYN1", "SYN3", "SYN2"), (-0.2, 0.4), "SYN8", -0.5),
                                   (("SYN1", "<SYN&4>"), (0.9,), "SYN1", 0.2)])


def _edges(root: ET.Element) -> list[ET.Element]:
    return [p for p in root.iter(f"{{{NS['s']}}}path") if p.get("marker-end")]


def test_svg_draws_every_node_and_edge_with_its_sign(synthetic):
    root = ET.fromstring(paths_svg(synthetic).split("\n", 1)[1])  # parses: names are escaped
    texts = [t.text for t in root.iter(f"{{{NS['s']}}}text")]
    assert {"SYN1", "SYN2", "SYN3", "<SYN&4>", "SYN9 mRNA", "SYN8 mRNA", "SYN1 mRNA"} <= set(texts)
    assert "SYN1 (inhibit): top 3 walks cover 50% of its score" in texts
    assert root.find("s:title", NS).text == "SYN1 (inhibit): top 3 walks cover 50% of its score"
    edges = _edges(root)
    # 5 protein edges (SYN1->SYN2, SYN2-|SYN3, SYN1-|SYN3, SYN3->SYN2, SYN1-><SYN&4>) and 3 readouts
    assert len(edges) == 8
    assert sum(e.get("stroke-dasharray") is not None for e in edges) == 3
    for e in edges:
        activating = e.get("stroke") == ACTIVATING
        assert e.get("stroke") in (ACTIVATING, INHIBITING)
        assert e.get("marker-end").startswith("url(#act-" if activating else "url(#inh-")
    markers = {m.get("id") for m in root.iter(f"{{{NS['s']}}}marker")}
    assert {e.get("marker-end")[5:-1] for e in edges} <= markers
    assert {"+0.5", "-0.3", "-0.2", "+0.4", "+0.9", "+1", "-0.5", "+0.2"} <= set(texts)  # every strength label
    assert sum(e.get("d").count("Q") for e in edges) == 2  # SYN3 -> SYN2 and SYN2 -| SYN3 stay in a column


def test_svg_shows_the_same_graph_as_the_matplotlib_figure(synthetic):
    ax = pl.paths(synthetic)
    root = ET.fromstring(paths_svg(synthetic).split("\n", 1)[1])
    svg_texts = {t.text for t in root.iter(f"{{{NS['s']}}}text")}
    mpl_texts = {t.get_text() for t in ax.texts if t.get_text()} | {ax.get_title()}  # arrows are empty texts
    mpl_texts |= {t.get_text() for t in ax.get_legend().get_texts()}
    assert svg_texts == mpl_texts
    assert len(_edges(root)) == len(walk_graph(synthetic).edges)
    plt.close(ax.figure)


def test_svg_of_an_explanation_without_walks():
    root = ET.fromstring(paths_svg(_synthetic_explanation([], target="SYN5", share=float("nan"))).split("\n", 1)[1])
    texts = [t.text for t in root.iter(f"{{{NS['s']}}}text")]
    assert "SYN5: no walks" in texts and "SYN5" in texts
    assert not _edges(root)


def test_svg_grows_so_that_stacked_boxes_do_not_overlap():
    many = _synthetic_explanation([(("SYN1",), (), f"SYN{i}", 0.1) for i in range(2, 42)])
    root = ET.fromstring(paths_svg(many).split("\n", 1)[1])
    assert float(root.get("height")) > 408
    transcripts = [r for r in root.iter(f"{{{NS['s']}}}rect") if r.get("fill") == "#fff8c5"]
    assert len(transcripts) == 40
    tops = sorted(float(r.get("y")) for r in transcripts)
    assert min(b - a for a, b in zip(tops[:-1], tops[1:])) > max(float(r.get("height")) for r in transcripts)
    assert min(float(r.get("height")) for r in transcripts) >= NODE_FONT


def test_identify_path_imports_no_plotting_or_training_library():
    code = ("import sys, twincell.cli.identify, twincell.identify.report; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'matplotlib', 'torch', 'sklearn', 'anndata', 'scanpy', 'jinja2'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_edge_that_would_pass_behind_a_box_is_curved():
    # SYN1 => SYN5 mRNA (middle of the last column) would run straight through the box of SYN2, at the same
    # height one column earlier; SYN1 => SYN6 mRNA (bottom) passes below it
    crossing = _synthetic_explanation([(("SYN1", "SYN2"), (0.5,), "SYN2", 1.0), (("SYN1",), (), "SYN5", 0.3),
                                       (("SYN1",), (), "SYN6", 0.2)])
    edges = {(e.source, e.target): e.curved for e in walk_graph(crossing).edges}
    assert edges == {("SYN1", "SYN2"): False, ("SYN2", "SYN2 mRNA"): False, ("SYN1", "SYN5 mRNA"): True,
                     ("SYN1", "SYN6 mRNA"): False}
    root = ET.fromstring(paths_svg(crossing).split("\n", 1)[1])
    assert sum("Q" in e.get("d") for e in _edges(root)) == 1


def test_a_self_loop_is_drawn_over_its_box_without_nan_or_warnings():
    """Synthetic walks through self-loops (SYN2 -> SYN2 activating, SYN1 -| SYN1 inhibiting): the SVG wrote NaN
    coordinates (an edge from a place to itself has no direction) and matplotlib drew nothing."""
    looped = _synthetic_explanation([(("SYN1", "SYN2", "SYN2", "SYN3"), (0.5, 0.7, -0.3), "SYN9", 1.0),
                                     (("SYN1", "SYN1", "SYN3"), (-0.4, 0.2), "SYN8", 0.6)])
    assert {(e.source, e.value) for e in walk_graph(looped).edges if e.loop} == {("SYN2", 0.7), ("SYN1", -0.4)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = paths_svg(looped)
        ax = pl.paths(looped)
        ax.figure.canvas.draw()
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    root = ET.fromstring(svg.split("\n", 1)[1])
    box = {t.text: float(t.get("x")) for t in root.iter(f"{{{NS['s']}}}text")}
    children = list(root)
    top = {name.text: float(rect.get("y")) for rect, name in zip(children, children[1:]) if rect.get("rx")}
    loops = [e for e in _edges(root) if "C" in e.get("d")]
    assert len(loops) == 2 and len(_edges(root)) == len(walk_graph(looped).edges)
    for e in loops:
        xs, ys = zip(*(map(float, p.split(",")) for p in e.get("d").replace("M", "").replace("C", "").split()))
        node = "SYN2" if e.get("stroke") == ACTIVATING else "SYN1"
        assert abs(xs[0] + xs[-1] - 2 * box[node]) < 1 and max(ys) < top[node]  # over the top of its own box
    assert {"+0.7", "-0.4"} <= set(box)
    assert len(ax.patches) == 2 and all(np.isfinite(p.get_path().vertices).all() for p in ax.patches)  # the loops
    mpl_texts = {t.get_text() for t in ax.texts if t.get_text()} | {ax.get_title()}
    assert set(box) == mpl_texts | {t.get_text() for t in ax.get_legend().get_texts()}
    # the loop keeps its size in points at any dpi of the render (savefig(dpi=300), a retina notebook)
    widths = []
    for dpi in (100, 300):
        ax.figure.set_dpi(dpi)
        ax.figure.canvas.draw()
        widths.append(ax.patches[0].get_window_extent().width / dpi)
    assert widths[1] == pytest.approx(widths[0], rel=0.05)
    plt.close(ax.figure)
