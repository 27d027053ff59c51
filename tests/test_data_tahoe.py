"""Tahoe-100M reader on SYNTHETIC schema-exact parquet: pseudobulk values vs numpy, Dask cluster, errors, CLI."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from twincell.cli.main import app
from twincell.data._synthetic_tahoe import SYNTHETIC_UNMAPPED_ENSEMBL, write_synthetic_tahoe
from twincell.data.genes import GeneMapper
from twincell.data.perturbation import PerturbationDataset
from twincell.data.tahoe import aggregate_shards, open_tahoe, parse_dose, prepare_tahoe, shard_sums, token_columns
from twincell.errors import DataFileError


@pytest.fixture(scope="module")
def synthetic_tahoe(tmp_path_factory):
    # 3 shards of 1,000 cells over 2 plates: shard 1's row group holds both plates (Tahoe has such row groups)
    return write_synthetic_tahoe(tmp_path_factory.mktemp("synthetic_tahoe"), n_cells=3000, n_genes=30, n_shards=3)


@pytest.fixture(scope="module")
def prepared(synthetic_tahoe):
    return prepare_tahoe(synthetic_tahoe)


def numpy_pseudobulk(root) -> pd.DataFrame:
    """Direct dense computation: (drug, dose, line, plate) x symbol log1p-CP10k differences to DMSO_TF."""
    cells = pq.read_table(sorted((root / "data").glob("*.parquet"))).to_pandas()
    genes = pd.read_parquet(root / "metadata" / "gene_metadata.parquet")
    samples = pd.read_parquet(root / "metadata" / "sample_metadata.parquet").set_index("sample")
    dense = np.zeros((len(cells), int(genes["token_id"].max()) + 1))
    for i, (tok, val) in enumerate(zip(cells["genes"], cells["expressions"])):
        if val[0] < 0:
            tok, val = tok[1:], val[1:]
        dense[i, tok] += val
    cells["dose"] = [float(ast.literal_eval(samples.loc[s, "drugname_drugconc"])[0][1]) for s in cells["sample"]]
    keys = ["drug", "dose", "cell_line_id", "plate"]
    sums = pd.DataFrame(dense).groupby([cells[k] for k in keys]).sum()
    totals = sums.sum(axis=1)
    sym = GeneMapper.default().map(genes["ensembl_id"], kind="ensembl").symbols
    cols = {t: sym[e] for t, e in zip(genes["token_id"], genes["ensembl_id"]) if e in sym}
    by_sym = sums[list(cols)].T.groupby(pd.Series(cols)).sum().T
    logn = np.log1p(by_sym.div(totals, axis=0) * 1e4)
    ctrl = logn.xs("DMSO_TF", level="drug")
    treated = logn.drop(index="DMSO_TF", level="drug")
    out = treated.copy()
    for idx in treated.index:
        drug, dose, line, plate = idx
        (c,) = [r for r in ctrl.index if r[1] == line and r[2] == plate]
        out.loc[idx] = treated.loc[idx] - ctrl.loc[c]
    return out


def test_schema_of_synthetic_fixture(synthetic_tahoe):
    schema = pq.read_schema(next((synthetic_tahoe / "data").glob("*.parquet")))
    assert schema.names == ["genes", "expressions", "drug", "sample", "BARCODE_SUB_LIB_ID", "cell_line_id",
                            "moa-fine", "canonical_smiles", "pubchem_cid", "plate"]
    assert str(schema.field("genes").type) == "list<element: int64>"
    assert str(schema.field("expressions").type) == "list<element: float>"


def test_pseudobulk_matches_numpy(synthetic_tahoe, prepared):
    expected = numpy_pseudobulk(synthetic_tahoe)
    obs = prepared.obs
    assert prepared.n_obs == len(expected) == 3 * 2 * 3  # drugs x plates x lines
    assert "DMSO_TF" not in set(obs["perturbation"])  # the control is never a perturbation ...
    assert "Trametinib (DMSO_TF solvate)" in set(obs["perturbation"])  # ... and the solvate trap is a drug
    for i in range(prepared.n_obs):
        key = (obs["perturbation"].iloc[i], obs["dose"].iloc[i], obs["cell_line_id"].iloc[i], obs["plate"].iloc[i])
        np.testing.assert_allclose(prepared.adata[i, expected.columns].X.ravel(), expected.loc[key].to_numpy(),
                                   rtol=1e-5, atol=1e-5)
    assert prepared.uns["value_type"] == "log_fold_change"
    assert list(prepared.uns["unmapped_genes"]) == [SYNTHETIC_UNMAPPED_ENSEMBL]


def test_metadata_joins(prepared):
    obs = prepared.obs
    assert set(obs["dose"]) == {0.05, 5.0}  # from drugname_drugconc, trailing-space name included
    erd = obs[obs["perturbation"] == "Erdafitinib"]
    assert len(erd) == 6 and erd["targets"].iloc[0] == "FGFR1:-1;FGFR2:-1;FGFR3:-1;FGFR4:-1"
    assert "GPT-4o" in prepared.uns["drug_target_caveat"]
    assert set(obs.loc[obs["cell_line_id"] == "CVCL_0023", "context"]) == {"A549"}
    assert (obs["n_control_cells"] > 0).all()


def test_dask_local_cluster_equals_in_process(synthetic_tahoe):
    distributed = pytest.importorskip("distributed")
    layout = open_tahoe(synthetic_tahoe)
    lookup, symbols, _ = token_columns(layout.genes)
    local = aggregate_shards(layout.shards, lookup, len(symbols))
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        remote = aggregate_shards(layout.shards, lookup, len(symbols), scheduler=cluster.scheduler_address,
                                  split_every=2)
    pd.testing.assert_frame_equal(local.keys, remote.keys)
    np.testing.assert_allclose(local.sums, remote.sums)
    np.testing.assert_array_equal(local.n_cells, remote.n_cells)
    assert local.n_cells.sum() == layout.n_cells == 3000


def test_plate_filter(synthetic_tahoe, prepared):
    one = prepare_tahoe(synthetic_tahoe, plates=["plate2"])
    assert set(one.obs["plate"]) == {"plate2"}
    np.testing.assert_array_equal(prepare_tahoe(synthetic_tahoe, plates="plate2").X, one.X)  # one name, not letters
    full = prepared.obs["plate"].to_numpy() == "plate2"
    np.testing.assert_allclose(one.X, prepared.X[full], rtol=1e-6)


def test_parse_dose():
    assert parse_dose("[('Erdafitinib ', 0.05, 'uM')]") == 0.05
    with pytest.raises(DataFileError, match="cannot parse"):
        parse_dose("0.05 uM")


def test_malformed_inputs(tmp_path, synthetic_tahoe, caplog):
    with pytest.raises(DataFileError, match="no expression shards"):
        open_tahoe(tmp_path)
    broken = shutil.copytree(synthetic_tahoe, tmp_path / "broken")
    (broken / "metadata" / "sample_metadata.parquet").unlink()
    with pytest.raises(DataFileError, match="sample_metadata.parquet is missing"):
        open_tahoe(broken)
    plate_without = shutil.copytree(synthetic_tahoe, tmp_path / "plate_without_control")
    shards = sorted((plate_without / "data").glob("*.parquet"))
    plate = pq.read_table(shards[0]).column("plate")[0].as_py()
    for shard in shards:  # one plate loses its DMSO_TF wells: its treated groups are left out, and said so
        table = pq.read_table(shard)
        keep = pc.invert(pc.and_(pc.equal(table.column("drug"), "DMSO_TF"), pc.equal(table.column("plate"), plate)))
        pq.write_table(table.filter(keep), shard)
    with caplog.at_level("WARNING", logger="twincell.data.tahoe"):
        ds = prepare_tahoe(plate_without)
    left_out = list(ds.adata.uns["groups_without_control"])
    assert left_out and all(g.endswith(f"/{plate}") for g in left_out)
    assert f"{len(left_out)} treated groups (drug/dose/cell line/plate) have no DMSO_TF cells" in caplog.text
    assert "gene tokens map to no HGNC symbol" in caplog.text  # the fixture's unmapped Ensembl ID
    no_ctrl = shutil.copytree(synthetic_tahoe, tmp_path / "no_ctrl")
    for shard in (no_ctrl / "data").glob("*.parquet"):
        table = pq.read_table(shard)
        pq.write_table(table.filter(pc.not_equal(table.column("drug"), "DMSO_TF")), shard)
    with pytest.raises(DataFileError, match="no DMSO_TF control"):
        prepare_tahoe(no_ctrl)


def test_cli_prepare(synthetic_tahoe, tmp_path):
    out = tmp_path / "tahoe.h5ad"
    res = CliRunner().invoke(app, ["data", "prepare", "tahoe", "--src", str(synthetic_tahoe), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert PerturbationDataset.read(out).n_obs == 18


def test_batch_size_does_not_change_sums(synthetic_tahoe):
    layout = open_tahoe(synthetic_tahoe)
    lookup, symbols, _ = token_columns(layout.genes)
    one = shard_sums(str(layout.shards[0]), lookup, len(symbols))
    many = shard_sums(str(layout.shards[0]), lookup, len(symbols), batch_size=300)
    pd.testing.assert_frame_equal(one.keys, many.keys)
    np.testing.assert_allclose(one.sums, many.sums)


def per_cell_reference(shards, lookup: np.ndarray, n_cols: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-(drug, sample, line, plate) sums (gene columns + library size) and cell counts, one dense numpy row
    per cell."""
    cells = pq.read_table(shards).to_pandas()
    dense = np.zeros((len(cells), n_cols + 1))
    for i, (tok, val) in enumerate(zip(cells["genes"], cells["expressions"])):
        if len(val) and val[0] < 0:
            tok, val = tok[1:], val[1:]
        col = lookup[tok]
        np.add.at(dense[i], col[col >= 0], val[col >= 0])
        dense[i, -1] = val.sum()
    keys = ["drug", "sample", "cell_line_id", "plate"]
    return pd.DataFrame(dense).groupby([cells[k] for k in keys]).sum(), cells.groupby(keys).size().to_numpy()


def assert_equal_to_reference(got, shards, lookup: np.ndarray, n_cols: int) -> None:
    """``got`` (GroupSums) equals the per-cell numpy reference of ``shards`` to 1e-6."""
    expected, n_cells = per_cell_reference(shards, lookup, n_cols)
    assert [tuple(r) for r in got.keys.itertuples(index=False)] == list(expected.index)
    np.testing.assert_allclose(got.sums, expected.to_numpy(), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(got.n_cells, n_cells)


def test_shard_sums_equal_a_per_cell_numpy_reference(synthetic_tahoe):
    """The compiled pass gives today's per-(drug, sample, line, plate) sums: dense numpy per cell, to 1e-6."""
    layout = open_tahoe(synthetic_tahoe)
    lookup, symbols, _ = token_columns(layout.genes)
    plates_per_row_group = [(st.min, st.max) for s in layout.shards for md in [pq.ParquetFile(s).metadata]
                            for st in (md.row_group(i).column(9).statistics for i in range(md.num_row_groups))]
    assert any(lo != hi for lo, hi in plates_per_row_group)  # the plate column is read for that batch ...
    assert any(lo == hi for lo, hi in plates_per_row_group)  # ... and taken from the statistics for the others
    assert_equal_to_reference(aggregate_shards(layout.shards, lookup, len(symbols)), layout.shards, lookup,
                              len(symbols))


@pytest.mark.parametrize("rewrite", [dict(write_statistics=False), dict(row_group_size=250, shuffle=True)])
def test_shard_sums_without_statistics_or_with_mixed_row_groups(synthetic_tahoe, tmp_path, rewrite):
    """Shards without footer statistics, or whose every row group mixes plates, give the reference sums."""
    layout = open_tahoe(synthetic_tahoe)
    lookup, symbols, _ = token_columns(layout.genes)
    table = pq.read_table(layout.shards)
    if rewrite.pop("shuffle", False):
        table = table.take(np.random.default_rng(0).permutation(table.num_rows))
    pq.write_table(table, tmp_path / "train-00000-of-00001.parquet", **rewrite)
    shard = str(tmp_path / "train-00000-of-00001.parquet")
    assert_equal_to_reference(shard_sums(shard, lookup, len(symbols), batch_size=600), [shard], lookup, len(symbols))
    only = shard_sums(shard, lookup, len(symbols), plates=["plate2"])
    assert set(only.keys["plate"]) == {"plate2"}
    full = shard_sums(shard, lookup, len(symbols))
    np.testing.assert_allclose(only.sums, full.sums[(full.keys["plate"] == "plate2").to_numpy()], rtol=1e-12)


def test_list_batches_smaller_than_a_row_group_give_the_reference_sums(synthetic_tahoe, monkeypatch):
    """Lists decoded a few cells at a time (batches end inside row groups) still give the per-cell reference."""
    from twincell.data import tahoe

    layout = open_tahoe(synthetic_tahoe)
    lookup, symbols, _ = token_columns(layout.genes)
    monkeypatch.setattr(tahoe, "LIST_BATCH_ENTRIES", 50)  # ~5 cells of ~10 entries per batch
    runs = list(tahoe.read_shard(str(layout.shards[1]), batch_size=1500))
    batches = [b.num_rows for run in runs for b in run.lists]
    assert max(batches) < 1000 and sum(batches) == sum(run.keys.num_rows for run in runs) == 1000
    assert_equal_to_reference(aggregate_shards(layout.shards, lookup, len(symbols)), layout.shards, lookup,
                              len(symbols))


def _with_lists(table, cells, genes, expressions):
    """``table`` with the ``genes`` / ``expressions`` lists of rows ``cells`` replaced."""
    columns = {}
    for name, new in (("genes", genes), ("expressions", expressions)):
        values = table.column(name).to_pylist()
        for i in cells:
            values[i] = new
        columns[name] = pa.array(values, table.schema.field(name).type)
    return table.set_column(0, "genes", columns["genes"]).set_column(1, "expressions", columns["expressions"])


def test_null_lists_count_as_empty_cells_and_unequal_lists_are_named(synthetic_tahoe, tmp_path):
    """SYNTHETIC shards: a cell with null lists adds nothing but is counted (as one with empty lists); token and
    count lists of different lengths raise a DataFileError naming the shard."""
    layout = open_tahoe(synthetic_tahoe)
    lookup, symbols, _ = token_columns(layout.genes)
    table = pq.read_table(layout.shards[0])
    pq.write_table(_with_lists(table, [3, 500], None, None), tmp_path / "null.parquet", row_group_size=1000)
    pq.write_table(_with_lists(table, [3, 500], [], []), tmp_path / "empty.parquet", row_group_size=1000)
    got = shard_sums(str(tmp_path / "null.parquet"), lookup, len(symbols))
    assert_equal_to_reference(got, [str(tmp_path / "empty.parquet")], lookup, len(symbols))
    assert got.n_cells.sum() == table.num_rows
    short = table.column("expressions").to_pylist()[7][:-1]
    pq.write_table(_with_lists(table, [7], table.column("genes").to_pylist()[7], short), tmp_path / "bad.parquet")
    with pytest.raises(DataFileError, match="bad.parquet: genes and expressions lists differ in length"):
        shard_sums(str(tmp_path / "bad.parquet"), lookup, len(symbols))


def test_add_token_lists_on_synthetic_lists():
    from twincell.data.pseudobulk import BAD_COUNT, BAD_LENGTH, BAD_TOKEN, add_token_lists

    lookup = np.array([-1, -1, 0, 1, -1], dtype=np.int32)  # tokens 2, 3 are genes; token 4 is unmapped
    tokens = np.array([1, 2, 3, 1, 4, 2], dtype=np.int64)
    values = np.array([-2, 5, 1, -2, 7, 3], dtype=np.float32)  # cells: [CLS, 2, 3], [CLS, 4, 2]
    offsets = np.array([0, 3, 6])
    out = np.zeros((2, 3))
    assert add_token_lists(np.array([1, 0]), offsets, offsets, tokens, values, lookup, out) == (0, -1)
    np.testing.assert_array_equal(out, [[3, 0, 10], [5, 1, 6]])  # library size counts the unmapped token
    skipped = np.zeros((2, 3))
    add_token_lists(np.array([-1, 0]), offsets, offsets, tokens, values, lookup, skipped)
    np.testing.assert_array_equal(skipped, [[3, 0, 10], [0, 0, 0]])
    bad = values.copy()
    bad[4] = np.nan
    assert add_token_lists(np.array([0, 0]), offsets, offsets, tokens, bad, lookup, np.zeros((1, 3)))[0] == BAD_COUNT
    bad[4] = np.inf  # an infinite count made the group's library infinite: every gene log1p(0), one NaN (was: passed)
    assert add_token_lists(np.array([0, 0]), offsets, offsets, tokens, bad, lookup, np.zeros((1, 3))) == (BAD_COUNT, 1)
    bad[4] = 2.5  # normalised values would be normalised again (was: summed as counts)
    assert add_token_lists(np.array([0, 0]), offsets, offsets, tokens, bad, lookup, np.zeros((1, 3))) == (BAD_COUNT, 1)
    far = tokens.copy()
    far[5] = 99
    assert add_token_lists(np.array([0, 0]), offsets, offsets, far, values, lookup, np.zeros((1, 3))) == (BAD_TOKEN, 1)
    short = np.array([0, 3, 5])  # the second cell's count list is one entry shorter than its token list
    code = add_token_lists(np.array([0, 0]), offsets, short, tokens, values, lookup, np.zeros((1, 3)))
    assert code == (BAD_LENGTH, 1)


# -- issue 14, item 10: cell names map to the bundled context ids; clear errors on corrupt input -----------------
def test_cell_names_map_to_bundled_context_ids():
    from twincell.data.tahoe import context_names

    lines = pd.DataFrame({"cell_name": ["HepG2/C3A", "A549", "hTERT-HPNE", "Made Up-Line 7"],
                          "Cell_ID_Cellosaur": ["CVCL_XXXX_SYNTHETIC", "CVCL_0023", "CVCL_YYYY_SYNTHETIC", "CVCL_Z"]})
    assert context_names(lines) == {"CVCL_XXXX_SYNTHETIC": "HEPG2_C3A", "CVCL_0023": "A549",
                                    "CVCL_YYYY_SYNTHETIC": "HTERT_HPNE", "CVCL_Z": "MADE_UP_LINE_7"}


@pytest.mark.parametrize(("column", "kind"), [("genes", pa.list_(pa.float64())), ("expressions", pa.list_(pa.string())),
                                              ("drug", pa.int64()), ("plate", pa.int64())])
def test_every_shard_s_column_types_are_checked_before_any_cell_is_read(tmp_path, synthetic_tahoe, column, kind):
    """A later shard with another column type (float tokens, text counts, integer-coded drugs or plates) is named up
    front; before, it crashed inside numba or pyarrow, at the final write, or silently merged groups."""
    broken = shutil.copytree(synthetic_tahoe, tmp_path / f"types_{column}")
    shard = sorted((broken / "data").glob("*.parquet"))[-1]
    table = pq.read_table(shard)
    values = table.column(column)
    if column in ("drug", "plate"):  # integer codes of the strings
        codes = {v: i for i, v in enumerate(sorted(set(values.to_pylist())))}
        replaced = pa.array([codes[v] for v in values.to_pylist()], kind)
    else:
        replaced = pc.cast(values, kind)
    pq.write_table(table.set_column(table.schema.get_field_index(column), column, replaced), shard)
    with pytest.raises(DataFileError, match=f"{shard.name} has columns of other types.*{column} is") as info:
        open_tahoe(broken)
    assert "schema" in info.value.hint


def test_corrupt_shard_names_the_file(tmp_path, synthetic_tahoe):
    broken = shutil.copytree(synthetic_tahoe, tmp_path / "corrupt")
    shard = sorted((broken / "data").glob("*.parquet"))[-1]
    shard.write_bytes(shard.read_bytes()[: len(shard.read_bytes()) // 2])     # a truncated download
    with pytest.raises(DataFileError, match=shard.name) as info:
        prepare_tahoe(broken)
    assert "download" in info.value.hint


def test_damaged_list_page_names_the_file(tmp_path, synthetic_tahoe):
    """A SYNTHETIC shard whose token list pages are overwritten mid-file: a DataFileError naming it, no traceback."""
    shard = tmp_path / "train-00000-of-00001.parquet"
    shutil.copy(sorted((synthetic_tahoe / "data").glob("*.parquet"))[0], shard)
    genes = pq.ParquetFile(shard).metadata.row_group(0).column(0)
    data = bytearray(shard.read_bytes())
    middle = (genes.dictionary_page_offset or genes.data_page_offset) + genes.total_compressed_size // 2
    data[middle:middle + 64] = b"\xff" * 64
    shard.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=f"{shard.name} is corrupt") as info:
        shard_sums(str(shard), np.full(100, -1, np.int32), 1)
    assert "download" in info.value.hint


def test_unreachable_scheduler_and_out_directory(tmp_path, synthetic_tahoe, monkeypatch):
    from twincell.data import tahoe
    from twincell.errors import TwinCellError

    pytest.importorskip("distributed")
    monkeypatch.setattr(tahoe, "SCHEDULER_TIMEOUT_S", 1)
    with pytest.raises(TwinCellError, match="cannot reach the Dask scheduler") as info:
        prepare_tahoe(synthetic_tahoe, scheduler="tcp://127.0.0.1:9")
    assert "--scheduler" in info.value.hint
    with pytest.raises(DataFileError, match="is a directory") as info:
        prepare_tahoe(synthetic_tahoe, out=tmp_path)
    assert "tahoe.h5ad" in info.value.hint


def test_too_many_key_values_in_one_shard_is_named(tmp_path):
    """A SYNTHETIC shard with 65,537 distinct wells exceeds the packed group code: a DataFileError, not wrong sums."""
    import pyarrow as pa

    n = (1 << 16) + 1
    offsets = pa.array(np.arange(n + 1, dtype=np.int32))
    table = pa.table({"genes": pa.ListArray.from_arrays(offsets, pa.array(np.full(n, 3, np.int64))),
                      "expressions": pa.ListArray.from_arrays(offsets, pa.array(np.ones(n, np.float32))),
                      "drug": ["d"] * n, "sample": [f"smp_{i}" for i in range(n)], "cell_line_id": ["CVCL_0023"] * n,
                      "plate": ["plate1"] * n})
    pq.write_table(table, tmp_path / "train-00000-of-00001.parquet")
    with pytest.raises(DataFileError, match="distinct 'sample' values") as info:
        shard_sums(str(tmp_path / "train-00000-of-00001.parquet"), np.array([-1, -1, -1, 0], np.int32), 1)
    assert "split" in info.value.hint


def test_user_mistakes_in_plates_metadata_and_units_are_named(tmp_path, synthetic_tahoe):
    """Found by review: a misspelt plate was ignored, duplicated metadata rows were resolved silently, nM doses were
    read as uM, and an empty gene table gave a bare numpy error."""
    with pytest.raises(DataFileError, match="no cell of plate\\(s\\) plate_2 .*found: plate1"):
        prepare_tahoe(synthetic_tahoe, plates=["plate1", "plate_2"])
    with pytest.raises(DataFileError, match="no cell of plate\\(s\\) Plate1"):
        prepare_tahoe(synthetic_tahoe, plates=["Plate1"])
    assert parse_dose("[('Drug', 50.0, 'nM')]") == pytest.approx(0.05)
    with pytest.raises(DataFileError, match="unknown dose unit 'ug/ml'"):
        parse_dose("[('Drug', 5.0, 'ug/ml')]")
    twice = shutil.copytree(synthetic_tahoe, tmp_path / "twice")
    samples = pq.read_table(twice / "metadata" / "sample_metadata.parquet").to_pandas()
    wrong = samples.head(2).assign(drugname_drugconc="[('X', 9.9, 'uM')]")
    pq.write_table(pa.Table.from_pandas(pd.concat([samples, wrong]), preserve_index=False),
                   twice / "metadata" / "sample_metadata.parquet")
    with pytest.raises(DataFileError, match="lists 2 sample\\(s\\) more than once with different drugname_drugconc"):
        prepare_tahoe(twice)
    drugs = shutil.copytree(synthetic_tahoe, tmp_path / "drugs_twice")
    table = pq.read_table(drugs / "metadata" / "drug_metadata.parquet").to_pandas()
    named = table[table["drug"].notna()]
    again = named.head(1).assign(targets="NOTCH1")
    pq.write_table(pa.Table.from_pandas(pd.concat([table, named.head(1), again]), preserve_index=False),
                   drugs / "metadata" / "drug_metadata.parquet")          # an exact repeat is fine, a conflict is not
    with pytest.raises(DataFileError, match="lists 1 drug\(s\) more than once with different targets"):
        prepare_tahoe(drugs)
    empty = shutil.copytree(synthetic_tahoe, tmp_path / "empty_genes")
    genes = pq.read_table(empty / "metadata" / "gene_metadata.parquet")
    pq.write_table(genes.slice(0, 0), empty / "metadata" / "gene_metadata.parquet")
    with pytest.raises(DataFileError, match="lists no gene token"):
        prepare_tahoe(empty)


def test_gene_tokens_summed_into_one_symbol_are_listed(synthetic_tahoe, tmp_path):
    """The synthetic gene table with one more token whose Ensembl ID maps to a symbol another token already has: both
    tokens' counts are summed into that symbol, and uns['merged_genes'] says which."""
    import shutil

    from twincell.data.genes import merged_gene_ids

    assert merged_gene_ids(["ENSG00000141510", "TP53", "EGFR"], ["TP53", "TP53", "EGFR"]) == ["TP53: ENSG00000141510, TP53"]
    assert list(prepare_tahoe(synthetic_tahoe).uns["merged_genes"]) == []
    root = tmp_path / "merged"
    shutil.copytree(synthetic_tahoe, root)
    genes = pd.read_parquet(root / "metadata" / "gene_metadata.parquet")
    mapped = genes[genes["ensembl_id"] != SYNTHETIC_UNMAPPED_ENSEMBL]
    twin = mapped.iloc[[0]].assign(token_id=int(genes["token_id"].max()) + 1)
    pd.concat([genes, twin], ignore_index=True).to_parquet(root / "metadata" / "gene_metadata.parquet", index=False)
    merged = list(prepare_tahoe(root).uns["merged_genes"])
    assert len(merged) == 1 and merged[0].count(str(mapped["ensembl_id"].iloc[0])) == 2


def _copy_with(synthetic_tahoe, tmp_path, name: str, table: str, change) -> Path:
    """A copy of the synthetic Tahoe folder with one metadata table changed by ``change(DataFrame) -> DataFrame``."""
    root = shutil.copytree(synthetic_tahoe, tmp_path / name)
    file = root / "metadata" / f"{table}.parquet"
    pq.write_table(pa.Table.from_pandas(change(pq.read_table(file).to_pandas()), preserve_index=False), file)
    return root


def test_a_broken_shard_is_named_with_or_without_plates(tmp_path, synthetic_tahoe):
    """A negative count read with plates= was reported as 'no cell of plate(s)', sending users to the plate names."""
    root = shutil.copytree(synthetic_tahoe, tmp_path / "negative")
    shard = sorted((root / "data").glob("*.parquet"))[0]
    table = pq.read_table(shard)
    expr = table.column("expressions").combine_chunks()
    values = expr.values.to_numpy().copy()
    values[5] = -3.0                                                   # synthetic corruption of one count
    table = table.set_column(1, "expressions", pa.ListArray.from_arrays(expr.offsets, pa.array(values)))
    pq.write_table(table, shard, row_group_size=1000)
    plate = str(table.column("plate")[0])
    with pytest.raises(DataFileError, match="negative, NaN, infinite or fractional counts"):
        prepare_tahoe(root, plates=[plate])
    values = expr.values.to_pylist()
    values[5] = None
    pq.write_table(table.set_column(1, "expressions", pa.ListArray.from_arrays(expr.offsets,
                                                                                pa.array(values, pa.float32()))),
                   shard, row_group_size=1000)
    with pytest.raises(DataFileError, match="null entries inside the genes or expressions lists"):  # was ArrowInvalid
        prepare_tahoe(root)


@pytest.mark.parametrize("change, message", [
    (lambda g: g.assign(token_id=g["token_id"].astype(float).where(g.index != 2)), "not whole numbers >= 0"),
    (lambda g: g.assign(token_id=g["token_id"].where(g.index != 5, -1)), "not whole numbers >= 0"),
    (lambda g: g.assign(token_id=g["token_id"].where(g.index != 5, g["token_id"].iloc[6])), "to several genes"),
])
def test_gene_tokens_must_be_distinct_whole_numbers(tmp_path, synthetic_tahoe, change, message):
    """Was: a bare IndexError (missing), or a gene silently all zeros (negative or shared token)."""
    with pytest.raises(DataFileError, match=message):
        prepare_tahoe(_copy_with(synthetic_tahoe, tmp_path, "tokens", "gene_metadata", change))


def test_a_well_sample_metadata_gives_another_drug_is_refused(tmp_path, synthetic_tahoe):
    def relabel(samples: pd.DataFrame) -> pd.DataFrame:
        treated = samples.index[samples["drug"] != "DMSO_TF"][0]
        other = samples.loc[samples["drug"] != samples.loc[treated, "drug"], "drug"].iloc[0]
        return samples.assign(drug=samples["drug"].where(samples.index != treated, other))

    with pytest.raises(DataFileError, match="disagree with sample_metadata"):     # was: the other well's dose used
        prepare_tahoe(_copy_with(synthetic_tahoe, tmp_path, "relabelled", "sample_metadata", relabel))
    with pytest.raises(DataFileError, match="lists 2 drugs"):                        # was: the first drug's dose
        parse_dose("[('Erdafitinib', 0.05, 'uM'), ('Infigratinib', 5.0, 'uM')]")


def test_a_line_missing_from_cell_line_metadata_keeps_its_bundled_context(tmp_path, synthetic_tahoe, prepared):
    from twincell.data.bundled import read_table

    bundled = read_table("cell_line_map", sep="\t", dtype=str).query("dataset == 'tahoe100m'")
    by_id = dict(zip(bundled["cellosaurus_id"], bundled["context"]))
    cvcl = next(c for c in prepared.obs["cell_line_id"] if c in by_id)    # a line the bundled map knows by its id
    context = by_id[cvcl]
    root = _copy_with(synthetic_tahoe, tmp_path, "no_line", "cell_line_metadata",
                      lambda t: t[t["Cell_ID_Cellosaur"] != cvcl])
    got = prepare_tahoe(root).obs
    assert set(got.loc[got["cell_line_id"] == cvcl, "context"]) == {context}          # was: the Cellosaurus id


def test_token_ids_written_as_decimal_text_and_sample_rows_without_a_name(tmp_path, synthetic_tahoe, prepared):
    """Found by review: token ids stored as text "3.0" passed the check, then failed int() in prepare_tahoe; two
    sample_metadata rows without a sample name (describing no well) made pandas' bare InvalidIndexError."""
    root = _copy_with(synthetic_tahoe, tmp_path, "decimal_tokens", "gene_metadata",
                      lambda g: g.assign(token_id=g["token_id"].astype(float).astype(str)))
    np.testing.assert_array_equal(prepare_tahoe(root).X, prepared.X)

    def two_blank_rows(samples: pd.DataFrame) -> pd.DataFrame:
        blank = samples.iloc[:2].assign(sample=None, drugname_drugconc=["[('A', 1.0, 'uM')]", "[('B', 2.0, 'uM')]"])
        return pd.concat([samples, blank], ignore_index=True)

    np.testing.assert_array_equal(prepare_tahoe(_copy_with(synthetic_tahoe, tmp_path, "blank_samples",
                                                           "sample_metadata", two_blank_rows)).X, prepared.X)
