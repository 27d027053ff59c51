"""The real interactome built from the bundled PathLinker, OmniPath, SIGNOR and CollecTRI files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twincell.errors import DataFileError, TwinCellError, UnknownGeneError
from twincell.network import Interactome


def _edge(net: Interactome, s: str, t: str, layer: str) -> pd.Series:
    e = net.edges
    rows = e[(e["source"] == s) & (e["target"] == t) & (e["layer"] == layer)]
    assert len(rows) == 1, f"{s}->{t} ({layer}) not found"
    return rows.iloc[0]


def test_sizes_within_stated_bounds(interactome):
    s = interactome.summary()
    assert 16_000 <= s["nodes"] <= 17_000
    assert 470_000 <= s["ppi_edges"] <= 503_987          # file rows minus unmapped / merged isoforms
    assert 190_000 <= s["ppi_undirected_pairs"] <= 205_404
    assert 85_000 <= s["ppi_directed_edges"] <= 93_179
    assert 40_000 <= s["tf_edges"] <= 43_178
    assert 0.01 < s["signed_share_ppi"] < 0.2
    assert s["largest_component"] >= 0.99 * s["nodes"]


@pytest.mark.parametrize(("s", "t", "sign"), [
    ("JAK1", "STAT1", 1), ("TYK2", "STAT1", 1), ("IL23R", "TYK2", 1), ("MAP2K1", "MAPK1", 1),
    ("KEAP1", "NFE2L2", -1), ("MDM2", "TP53", -1), ("BRAF", "MAP2K1", 1),
])
def test_known_signalling_edges_have_sign_and_direction(interactome, s, t, sign):
    e = _edge(interactome, s, t, "ppi")
    assert e["sign"] == sign and e["directed"]
    assert "pathlinker" in e["sources"] and "sign:" in e["sources"]


def test_collectri_tf_layer(interactome):
    e = _edge(interactome, "STAT1", "IRF1", "tf")
    assert e["sign"] == 1 and e["sources"] == "collectri"
    tf = interactome.edges[interactome.layer_mask("tf")]
    assert (tf["sign"] != 0).all()


def test_tf_mask_marks_the_sources_of_tf_edges(interactome):
    mask = interactome.tf_mask
    genes = pd.Index(interactome.genes)
    assert mask.shape == (interactome.n_nodes,) and mask.dtype == bool
    assert set(genes[mask]) == set(interactome.edges.loc[interactome.layer_mask("tf"), "source"])
    assert mask[genes.get_loc("STAT1")] and not mask[genes.get_loc("JAK1")]   # a TF; a kinase with no TF edge
    with pytest.raises(ValueError):
        mask[0] = not mask[0]                        # shared by every caller: read-only


def test_undirected_pairs_are_stored_both_ways(interactome):
    ppi = interactome.edges[interactome.layer_mask("ppi")]
    pairs = set(zip(ppi["source"], ppi["target"]))
    undirected = ppi[~ppi["directed"]]
    # the reverse always exists, and is undirected too, even where an isoform's row states a direction
    assert all((t, s) in pairs for s, t in zip(undirected["source"], undirected["target"]))
    directed = set(zip(ppi.loc[ppi["directed"], "source"], ppi.loc[ppi["directed"], "target"]))
    assert not any((t, s) in directed for s, t in zip(undirected["source"], undirected["target"]))


def test_adjacency_matches_edge_table(interactome):
    a = interactome.adjacency("ppi", signed=True)
    i, j = interactome.gene_index["KEAP1"], interactome.gene_index["NFE2L2"]
    assert a[i, j] < 0
    assert a.shape == (interactome.n_nodes, interactome.n_nodes)


def test_paths_are_valid_simple_walks_sorted_by_probability(interactome):
    paths = interactome.paths("IL23R", "IRF1", k=5)
    assert len(paths) == 5
    edges = set(zip(interactome.edges["source"], interactome.edges["target"]))
    probs = [p.probability for p in paths]
    assert probs == sorted(probs, reverse=True)
    assert len({p.nodes for p in paths}) == 5
    for p in paths:
        assert p.nodes[0] == "IL23R" and p.nodes[-1] == "IRF1"
        assert len(set(p.nodes)) == len(p.nodes)
        assert all((u, v) in edges for u, v in zip(p.nodes[:-1], p.nodes[1:]))
        assert len(p.edge_signs) == len(p.nodes) - 1


def test_paths_unknown_gene_is_reported(interactome):
    with pytest.raises(UnknownGeneError, match="NOT_A_GENE") as err:
        interactome.paths("STAT1", "NOT_A_GENE")
    assert err.value.genes == ["NOT_A_GENE"]


def test_paths_take_any_gene_id_the_mapper_reads(interactome):
    by_symbol = [str(p) for p in interactome.paths("JAK1", "STAT1", 3)]
    assert [str(p) for p in interactome.paths("jak1", "ENSG00000115415", 3)] == by_symbol   # STAT1's Ensembl ID
    assert interactome.node_name("jak1") == "JAK1" and interactome.node_name("NOT_A_GENE") == "NOT_A_GENE"


def test_save_load_round_trip(interactome, tmp_path):
    f = interactome.save(tmp_path / "net.parquet")
    back = Interactome.load(f)
    pd.testing.assert_frame_equal(back.edges, interactome.edges)
    assert back.fingerprint == interactome.fingerprint
    assert back.meta["sources"] == interactome.meta["sources"]


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        Interactome.load(tmp_path / "missing.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataFileError, match="not a readable parquet"):
        Interactome.load(bad)
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(plain)
    with pytest.raises(DataFileError, match="not a TwinCell interactome"):
        Interactome.load(plain)


def test_from_edges_any_id_and_undirected_rows():
    df = pd.DataFrame({"a": ["3716", "P42224", "TYK2"], "b": ["6772", "IRF1", "NOT_A_GENE"],
                       "w": [0.9, 0.8, 0.5], "directed": [False, True, True], "sign": [1, 1, 1]})
    net = Interactome.from_edges(df, source="a", target="b", weight="w", name="synthetic")
    pairs = set(zip(net.edges["source"], net.edges["target"]))
    assert pairs == {("JAK1", "STAT1"), ("STAT1", "JAK1"), ("STAT1", "IRF1")}
    assert net.meta["unmapped_ids"] == ["NOT_A_GENE"]


def test_from_edges_errors():
    with pytest.raises(DataFileError, match="no column 'source'"):
        Interactome.from_edges(pd.DataFrame({"x": ["A"], "target": ["B"]}))
    with pytest.raises(DataFileError, match="empty"):
        Interactome.from_edges(pd.DataFrame({"source": [], "target": []}))
    with pytest.raises(DataFileError, match="both genes mapped"):
        Interactome.from_edges(pd.DataFrame({"source": ["FOO1X"], "target": ["BAR2Y"]}))
    with pytest.raises(DataFileError, match="non-numeric"):
        Interactome.from_edges(pd.DataFrame({"source": ["JAK1"], "target": ["STAT1"], "weight": ["high"]}))
    with pytest.raises(TwinCellError, match="invalid interactome sources"):
        Interactome.build(sources=["omnipath"])
    for weights in ([150.0], [float("inf")]):               # STRING's 0-1000 scores are not probabilities
        with pytest.raises(DataFileError, match=r"evidence scores in \(0, 1\]"):
            Interactome.from_edges(pd.DataFrame({"source": ["JAK1"], "target": ["STAT1"], "weight": weights}))
    with pytest.raises(DataFileError, match="neither numbers nor known words: activ"):
        Interactome.from_edges(pd.DataFrame({"source": ["JAK1"], "target": ["STAT1"], "sign": ["activ"]}))
    with pytest.raises(DataFileError, match="neither directed nor undirected: maybe"):
        Interactome.from_edges(pd.DataFrame({"source": ["JAK1"], "target": ["STAT1"], "directed": ["maybe"]}))


def test_from_edges_reads_common_sign_and_direction_codings_and_reports_what_it_leaves_out(caplog):
    df = pd.DataFrame({"source": ["JAK1", "TYK2", "SOCS1", "MX1", "JAK1", "NOT_A_GENE", "STAT1"],
                       "target": ["STAT1", "STAT1", "JAK1", "MX1", "STAT1", "STAT1", "IRF1"],
                       "sign": ["activation", "+", "inhibition", "1", "+", "-", np.nan],
                       "directed": [1.0, "yes", True, 1, 1, 0, np.nan]})
    net = Interactome.from_edges(df, name="synthetic_table")
    edges = net.edges.set_index(["source", "target"])
    assert edges.loc[("JAK1", "STAT1"), "sign"] == 1 and edges.loc[("TYK2", "STAT1"), "sign"] == 1
    assert edges.loc[("SOCS1", "JAK1"), "sign"] == -1 and edges.loc[("STAT1", "IRF1"), "sign"] == 0
    assert edges["directed"].all() and ("STAT1", "JAK1") not in edges.index   # 1.0 and NaN mean directed
    assert net.meta["left_out"] == {"rows_with_an_unmapped_gene": 1, "self_loops": 1, "duplicate_edges": 1}
    assert "left out 1 rows with an unmapped gene, 1 self loops, 1 duplicate edges" in caplog.text
    undirected = Interactome.from_edges(pd.DataFrame({"source": ["JAK1"], "target": ["STAT1"], "directed": [0.0]}))
    assert set(zip(undirected.edges["source"], undirected.edges["target"])) == {("JAK1", "STAT1"), ("STAT1", "JAK1")}


@pytest.mark.parametrize("order", [1, -1])
def test_from_edges_merges_rows_of_one_edge_whatever_their_order(order):
    """Rows of the same edge merge as the bundled network's do, in any order: the largest weight, the majority sign
    (a tie is unsigned), undirected both ways when any row of the pair is; an undirected row's sign stays on its own
    direction."""
    df = pd.DataFrame({"source": ["JAK1", "JAK1", "TYK2", "TYK2", "SOCS1"],
                       "target": ["STAT1", "STAT1", "STAT1", "STAT1", "JAK1"],
                       "weight": [0.2, 0.9, 0.5, 0.5, 0.7], "sign": [0, 1, 1, -1, -1],
                       "directed": [False, True, True, True, False]}).iloc[::order]
    edges = Interactome.from_edges(df, name="synthetic").edges.set_index(["source", "target"])
    assert edges.loc[("JAK1", "STAT1"), ["weight", "sign"]].tolist() == [pytest.approx(0.9), 1]
    assert not edges.loc[("JAK1", "STAT1"), "directed"] and not edges.loc[("STAT1", "JAK1"), "directed"]
    assert edges.loc[("TYK2", "STAT1"), "sign"] == 0 and edges.loc[("TYK2", "STAT1"), "directed"]
    assert edges.loc[("SOCS1", "JAK1"), "sign"] == -1 and edges.loc[("JAK1", "SOCS1"), "sign"] == 0


def test_from_edges_names_a_missing_column_it_was_given_and_self_loops():
    df = pd.DataFrame({"source": ["JAK1"], "target": ["STAT1"], "score": [0.5]})
    with pytest.raises(DataFileError, match="no column 'score_x'"):
        Interactome.from_edges(df, weight="score_x")
    assert Interactome.from_edges(df, weight="score").edges["weight"].tolist() == [0.5]
    with pytest.raises(DataFileError, match="every mapped row of the network table is a self-loop"):
        Interactome.from_edges(pd.DataFrame({"source": ["JAK1", "STAT1"], "target": ["JAK1", "STAT1"]}))


def test_adjacency_keeps_one_row_signed_or_not():
    """A pair in both layers: the signed and the unsigned adjacency take their values from the same (heavier) row."""
    net = Interactome.from_edges(pd.DataFrame({"source": ["JAK1", "JAK1"], "target": ["STAT1", "STAT1"],
                                               "weight": [0.5, 1.0], "sign": [-1, 0], "layer": ["ppi", "tf"]}))
    i, j = net.gene_index["JAK1"], net.gene_index["STAT1"]
    assert net.adjacency()[i, j] == 1.0 and net.adjacency(signed=True)[i, j] == 0.0


def test_paths_and_neighbourhood_check_their_arguments(interactome):
    with pytest.raises(TwinCellError, match="k must be at least 1"):
        interactome.paths("JAK1", "STAT1", k=0)
    with pytest.raises(TwinCellError, match="unknown layer 'TF'"):
        interactome.paths("JAK1", "STAT1", layer="TF")
    with pytest.raises(TwinCellError, match="size must be at least 1"):
        interactome.neighbourhood("JAK1", 0)


def test_min_weight_and_source_options():
    net = Interactome.build(sources=["pathlinker"], min_weight=0.9)
    assert (net.edges["weight"] >= 0.9).all()
    assert (net.edges["sign"] == 0).all() and not net.layer_mask("tf").any()
    assert np.isin(net.meta["sources"], ["pathlinker"]).all()
    assert net.meta["pathlinker_evidence_left_out"] == ["Phosphosite"]


def test_a_network_without_phosphositeplus_keeps_none_of_its_pathlinker_rows():
    """The commercial build (no psp) kept 3,004 PathLinker rows whose only evidence is PhosphoSitePlus (SGK1 -> APBB1)."""
    from twincell.data.genes import GeneMapper
    from twincell.network import build

    mapper = GeneMapper.default()
    every, _ = build.pathlinker_edges(mapper)
    without, _ = build.pathlinker_edges(mapper, without=(build.PATHLINKER_PSP,))
    pair = (every["source"] == "SGK1") & (every["target"] == "APBB1")
    assert every.loc[pair, "evidence"].tolist() == ["Phosphosite"]
    assert not ((without["source"] == "SGK1") & (without["target"] == "APBB1")).any()
    assert not without["evidence"].str.split("|").map(lambda s: "Phosphosite" in s).any()
    assert 2_900 < len(every) - len(without) < 3_200


def test_neighbourhood_and_subgraph(interactome):
    genes = interactome.neighbourhood("STAT1", 50)
    assert genes[0] == "STAT1" and len(genes) == len(set(genes)) == 50
    sub = interactome.subgraph(genes)
    assert set(sub.genes) <= set(genes)
    assert set(zip(sub.edges["source"], sub.edges["target"])) <= set(zip(interactome.edges["source"], interactome.edges["target"]))
    assert sub.meta["subgraph_of"] == interactome.fingerprint
    with pytest.raises(TwinCellError, match="no edge of the interactome joins two of the 2 genes"):
        interactome.subgraph(["STAT1", "A1BG"])


def test_a_table_without_weights_says_every_edge_weighs_1(caplog):
    """Synthetic STRING-style table: its `score` column was ignored without a word."""
    df = pd.DataFrame({"source": ["EGFR", "GRB2"], "target": ["GRB2", "SOS1"], "score": [0.2, 0.3]})
    net = Interactome.from_edges(df)
    assert (net.edges["weight"] == 1).all() and net.meta["weights"] == "none given: every edge 1"
    assert "has no 'weight' column: every edge gets weight 1 (unused columns: score" in caplog.text
    assert Interactome.from_edges(df, weight="score").meta["weights"] == "column 'score'"


def test_edge_tables_with_repeated_labels_or_boolean_signs_and_empty_layers(tmp_path):
    """Found by review: after a concat without ignore_index a row with no sign took another row's sign word; a True /
    False sign column crashed in np.sign; a layer without edges crashed adjacency (paths over 'tf' of a PPI-only
    network); damaged provenance metadata and a file standing where a folder should be gave bare errors."""
    import pyarrow.parquet as pq

    unsigned = pd.DataFrame({"source": ["TP53"], "target": ["MDM2"], "sign": [None]})
    inhibition = pd.DataFrame({"source": ["EGFR"], "target": ["KRAS"], "sign": ["inhibition"]})
    net = Interactome.from_edges(pd.concat([unsigned, inhibition]))             # both rows labelled 0
    signs = net.edges.set_index(["source", "target"])["sign"]
    assert signs[("TP53", "MDM2")] == 0 and signs[("EGFR", "KRAS")] == -1
    with pytest.raises(DataFileError, match="holds True / False, not signs"):
        Interactome.from_edges(unsigned.assign(sign=[True]))
    assert net.paths("TP53", "MDM2", layer="tf") == [] and net.adjacency("tf").nnz == 0
    file = net.save(tmp_path / "net.parquet")
    table = pq.read_table(file)
    meta = {**table.schema.metadata, b"twincell_interactome": b"[1, 2]"}
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "damaged.parquet")
    with pytest.raises(DataFileError, match="provenance metadata is damaged"):
        Interactome.load(tmp_path / "damaged.parquet")
    (tmp_path / "plain.txt").write_text("synthetic")
    with pytest.raises(TwinCellError, match="plain.txt is a file, not a folder"):
        net.save(tmp_path / "plain.txt" / "x.parquet")
