"""Input you can trust (issue 14): real-world signature exports read right or refused clearly, never silently wrong.

All tables here are small synthetic signatures on real gene symbols; the values are made up.
"""

from __future__ import annotations

import codecs
import gzip
import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twincell.data.genes import GeneMapper
from twincell.data.signatures import read_signature
from twincell.data.tables import read_user_table, sniff_delimiter
from twincell.errors import DataFileError, SignatureError, TwinCellError

GENES = ["STAT1", "IRF7", "TNF", "IL6"]
LOGFC = [1.5, 2.0, -0.5, -1.25]


# -- item 1: unknown gene column names never turn row numbers into genes -------------------------------------------
@pytest.mark.parametrize("gene_column", ["external_gene_name", "Geneid", "Gene name"])
def test_common_tool_gene_columns_are_recognised(tmp_path, gene_column):
    f = tmp_path / "synthetic_export.tsv"
    pd.DataFrame({gene_column: GENES, "logFC": LOGFC}).to_csv(f, sep="\t", index=False)
    assert read_signature(f).logfc.to_dict() == dict(zip(GENES, LOGFC))


def test_row_numbers_are_never_gene_ids(tmp_path):
    with pytest.raises(SignatureError, match="no recognised gene column") as info:
        read_signature(pd.DataFrame({"logFC": [1.0, 2.0]}))        # on main: {"A1BG": 1.0, "A2M": 2.0}
    assert "--gene-col" in info.value.hint
    f = tmp_path / "synthetic_pandas_index.csv"                      # to_csv() wrote the RangeIndex as "Unnamed: 0"
    pd.DataFrame({"my_genes": GENES, "logFC": LOGFC}).to_csv(f)
    with pytest.raises(SignatureError, match="columns: Unnamed: 0, my_genes, logFC"):
        read_signature(f)
    assert read_signature(f, gene_col="my_genes").logfc.to_dict() == dict(zip(GENES, LOGFC))


def test_named_row_index_is_still_used():
    sig = read_signature(pd.DataFrame({"logFC": LOGFC}, index=GENES))
    assert sig.logfc.to_dict() == dict(zip(GENES, LOGFC))


# -- item 3 / 5: refuse all-zero and absurd values ------------------------------------------------------------------
def test_all_zero_signature_is_refused():
    with pytest.raises(SignatureError, match="nothing to reverse"):
        read_signature(pd.DataFrame({"gene": GENES, "logFC": 0.0}))
    with pytest.raises(SignatureError, match="maps to an HGNC symbol has log fold change 0"):
        read_signature(pd.DataFrame({"gene": ["STAT1", "NOT_A_GENE_XYZ"], "logFC": [0.0, 3.0]}))


def test_huge_values_are_refused_with_examples():
    with pytest.raises(SignatureError, match=r"1 values of column 'logFC'.*STAT1: 1e\+200") as info:
        read_signature(pd.DataFrame({"gene": GENES, "logFC": [1e200, 1.0, 2.0, 3.0]}))
    assert "log2 fold changes" in info.value.hint


# -- item 4: every dropped or merged row is counted and listed ------------------------------------------------------
def test_dropped_and_merged_rows_are_listed(caplog):
    table = pd.DataFrame({"gene": ["STAT1", " STAT1 ", "IRF7", "TNF", "IL6"],
                          "logFC": [1.0, 2.0, np.nan, np.inf, -1.0]})
    with caplog.at_level(logging.WARNING, logger="twincell.data.signatures"):
        sig = read_signature(table)
    assert sig.n_missing_values == 2 and sig.missing_ids == ["IRF7", "TNF"]
    assert sig.collapsed == ["STAT1"] and sig.merged == {"STAT1": [" STAT1 ", "STAT1"]}  # |2| kept first
    assert sig.logfc.to_dict() == {"STAT1": 2.0, "IL6": -1.0}
    assert "IRF7, TNF" in caplog.text and "STAT1 <-" in caplog.text


# -- item 7: delimiter sniffed, encodings detected, binary refused -------------------------------------------------
def _text(sep: str) -> str:
    return "\n".join([sep.join(["gene", "logFC"])] + [sep.join([g, str(v)]) for g, v in zip(GENES, LOGFC)]) + "\n"


@pytest.mark.parametrize(("name", "sep"), [("semicolon.csv", ";"), ("tabs_in.csv", "\t"), ("commas_in.tsv", ","),
                                           ("pipes.txt", "|")])
def test_delimiter_is_sniffed_not_taken_from_extension(tmp_path, name, sep):
    f = tmp_path / name
    f.write_text(_text(sep))
    assert read_signature(f).logfc.to_dict() == dict(zip(GENES, LOGFC))


@pytest.mark.parametrize(("name", "text"), [
    ("synthetic_excel_de.csv", "gene;logFC\nSTAT1;1,5\nIRF7;-2,25\n"),            # Excel, European locale
    ("synthetic_excel_de.tsv", "gene\tlogFC\nSTAT1\t1,5\nIRF7\t-2,25\n"),        # was: "holds no numbers"
    ("synthetic_commented.tsv", "# exported by limma 3.58\n# contrast: SLE - healthy\ngene\tlogFC\nSTAT1\t1.5\n"
                                "IRF7\t-2.25\n"),                                # was: the header read as a comment
])
def test_decimal_commas_and_comment_lines(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    assert read_signature(f).logfc.to_dict() == {"STAT1": 1.5, "IRF7": -2.25}


def test_a_ragged_row_is_named_not_hidden_by_the_delimiter_sniffer(tmp_path):
    f = tmp_path / "synthetic_ragged.csv"
    rows = "".join(f"G{i},{i / 10}\n" for i in range(1, 20))
    f.write_text("gene,logFC\n" + rows + "STAT1,1.5,oops\n")
    assert sniff_delimiter(f.read_text()) == ","
    with pytest.raises(DataFileError, match="Expected 2 fields in line 21, saw 3"):
        read_signature(f)
    f.write_text("gene,logFC\nIRF7,2.0\nSTAT1,1.5,oops\nMX1,0.5\n")  # one ragged row in a short table, too
    with pytest.raises(DataFileError, match="Expected 2 fields in line 3, saw 3"):
        read_signature(f)


def test_json_web_pages_and_giant_fields_are_named(tmp_path):
    """A service request body (JSON) or a saved web page is not a table; a field beyond the csv module's 128 KB limit
    does not crash the delimiter sniffer."""
    f = tmp_path / "synthetic_request.json"
    f.write_text('{"signature": {' + ", ".join(f'"G{i}": {i / 7:.3f}' for i in range(20_000)) + "}}")
    with pytest.raises(DataFileError, match="is JSON, not a delimited table"):
        read_signature(f)
    f.write_text("<!DOCTYPE html>\n<html><body>gene,logFC</body></html>\n")
    with pytest.raises(DataFileError, match="HTML or XML"):
        read_signature(f)
    import csv

    limit = csv.field_size_limit()
    giant = '"' + "x" * 200_000 + '"'  # beyond the csv module's 128 KB field limit
    assert sniff_delimiter(f"gene,note\nSTAT1,{giant}\nIRF7,y\n") == ","
    assert sniff_delimiter(f"gene;note\nSTAT1;{giant}\nIRF7;y\n") == ";"
    assert csv.field_size_limit() == limit  # the process-wide limit is restored
    f.write_text("[gene]\tlogFC\nSTAT1\t1.5\nIRF7\t-0.5\n")  # a bracketed header is a table, not JSON
    assert read_signature(f, gene_col="[gene]").logfc.to_dict() == {"STAT1": 1.5, "IRF7": -0.5}


def test_r_row_names_header_one_field_short():
    assert sniff_delimiter('"logFC"\t"adj.P.Val"\n"STAT1"\t1.5\t0.01\n') == "\t"


@pytest.mark.parametrize("encode", [
    lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),                 # Excel "CSV UTF-8"
    lambda t: t.encode("utf-16"),                                   # Excel "Unicode text" (BOM)
    lambda t: t.encode("utf-16-le"),                                # UTF-16 without BOM
    lambda t: t.encode("latin-1"),
    lambda t: gzip.compress(t.encode()),                            # gzip content without .gz
], ids=["utf8-bom", "utf16", "utf16le-nobom", "latin1", "gzip-no-ext"])
def test_encodings_and_compression_from_content(tmp_path, encode):
    f = tmp_path / "synthetic_signature.csv"
    f.write_bytes(encode(_text(",").replace("gene,", "gène_x,gene,").replace("\nSTAT1", "\né,STAT1")
                         .replace("\nIRF7", "\né,IRF7").replace("\nTNF", "\né,TNF").replace("\nIL6", "\né,IL6")))
    sig = read_signature(f)
    assert sig.logfc.to_dict() == dict(zip(GENES, LOGFC))


@pytest.mark.parametrize(("content", "message"), [
    (b"PK\x03\x04" + b"\x00" * 40, "Excel .xlsx"),
    (b"\x89HDF\r\n\x1a\n" + b"\x00" * 40, "HDF5"),
    (b"gene\tlogFC\n\x00\x01\x02\x03\xff\x00\x00\x07junk", "binary file"),
    (b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip-compressed but the archive is corrupt"),
])
def test_binary_and_corrupt_files_name_the_problem(tmp_path, content, message):
    f = tmp_path / "synthetic_signature.tsv"
    f.write_bytes(content)
    with pytest.raises(DataFileError, match=message) as info:
        read_signature(f)
    assert info.value.hint


def test_directory_and_bytes(tmp_path):
    with pytest.raises(DataFileError, match="is a directory"):
        read_user_table(tmp_path, what="signature file")
    table = read_user_table(codecs.BOM_UTF8 + b"gene,logFC\nSTAT1,1\n", what="upload")
    assert list(table.columns) == ["gene", "logFC"]                  # no BOM glued to the first column name


# -- property: only genes from the input, or a TwinCellError ----------------------------------------------------------
_IDS = st.sampled_from(["STAT1", " STAT1 ", "irf7", "6772", "ENSG00000115415", "1", "2", "0", "", "NA", "TP53",
                        "NOT_A_GENE_XYZ", "nan", "IL6", "A1BG"])
_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["up", "", "1e400", "-0"]),
                    st.integers(-5, 5))
_COLUMNS = st.sampled_from(["gene", "logFC", "padj", "external_gene_name", "value", "Unnamed: 0", "log2FoldChange",
                            "names", "ID", "x"])


@st.composite
def _tables(draw) -> pd.DataFrame:
    columns = draw(st.lists(_COLUMNS, min_size=1, max_size=4, unique=True))
    n = draw(st.integers(0, 6))
    data = {c: draw(st.lists(st.one_of(_IDS, _VALUES), min_size=n, max_size=n)) for c in columns}
    index = draw(st.one_of(st.none(), st.lists(_IDS, min_size=n, max_size=n)))
    return pd.DataFrame(data, index=index)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=_tables())
def test_read_signature_returns_only_input_genes_or_a_twincell_error(table):
    """A synthetic random table gives genes that some input identifier maps to, or a TwinCellError; nothing else."""
    mapper = GeneMapper.default()
    cells = [str(v) for col in table.columns for v in table[col]]
    if not pd.api.types.is_numeric_dtype(table.index):
        cells += [str(v) for v in table.index]                       # row names are input; row numbers are not
    allowed = set(mapper.map(cells).symbols.values())
    try:
        sig = read_signature(table, mapper=mapper)
    except TwinCellError:
        return
    assert set(sig.logfc.index) <= allowed
    assert np.isfinite(sig.logfc.to_numpy()).all() and (sig.logfc.abs() <= 1000).all()


_LINES = st.lists(st.lists(st.one_of(_IDS, st.sampled_from(["logFC", "gene", "1.5", "-2", "nan", '"a,b"', "é"])),
                           min_size=1, max_size=4), min_size=0, max_size=6)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_LINES, sep=st.sampled_from(["\t", ",", ";", "|"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "gzip"]), junk=st.binary(max_size=8))
def test_random_files_give_input_genes_or_a_twincell_error(tmp_path_factory, lines, sep, encoding, junk):
    """Synthetic random files in any delimiter and encoding (some with junk bytes appended)."""
    text = "\n".join(sep.join(row) for row in lines)
    data = gzip.compress(text.encode()) if encoding == "gzip" else text.encode(encoding)
    f = tmp_path_factory.mktemp("random") / "synthetic.csv"
    f.write_bytes(data + junk)
    try:
        sig = read_signature(f)
    except TwinCellError:
        return
    allowed = set(GeneMapper.default().map([c.strip('"') for row in lines for c in row]).symbols.values())
    assert set(sig.logfc.index) <= allowed


def test_gzip_bomb_stops_at_the_byte_limit():
    bomb = gzip.compress(b"gene,logFC\n" + b"STAT1,1\n" * 2_000_000)       # 16 MB of synthetic rows, ~50 kB gzipped
    with pytest.raises(DataFileError, match="larger than the limit of 100,000 bytes"):
        read_user_table(bomb, what="upload", max_bytes=100_000)
    assert len(read_user_table(gzip.compress(b"gene,logFC\nSTAT1,1\n"), max_bytes=100)) == 1


def test_target_files_use_the_same_reader(tmp_path):
    from twincell.bench.diseases import read_targets

    f = tmp_path / "synthetic_targets.csv"
    f.write_bytes(codecs.BOM_UTF8 + b"disease;gene_symbol\nNewDisease;EGFR\n")   # Excel: BOM and semicolons
    assert read_targets(f)[["disease", "gene"]].values.tolist() == [["NewDisease", "EGFR"]]


def test_a_delimiter_ending_every_row_is_not_a_row_name_column(tmp_path):
    """A synthetic TSV whose rows (not its header) end in a tab: pandas would read the genes as an index and shift
    every column by one; R's unnamed row-name column (one field fewer in the header, every field filled) still reads."""
    trailing = tmp_path / "trailing.tsv"
    trailing.write_text("gene\tlogFC\nSTAT1\t1.5\t\nIFI6\t2.0\t\nJAK1\t-0.5\t\n")
    r_names = tmp_path / "r_names.tsv"
    r_names.write_text("logFC\tpadj\nSTAT1\t1.5\t0.01\nIFI6\t2.0\t0.02\nJAK1\t-0.5\t0.03\n")
    for path in (trailing, r_names):
        assert read_signature(path).logfc.to_dict() == {"STAT1": 1.5, "IFI6": 2.0, "JAK1": -0.5}


def test_a_named_last_column_of_missing_values_is_no_trailing_delimiter(tmp_path):
    """A synthetic table as R's write.table writes it (row names, so a header one field shorter than the rows) whose
    last, named column is all NA: the trailing-delimiter repair fired and shifted every column by one."""
    table = tmp_path / "r_all_na_last.tsv"
    table.write_text("logFC\tpadj\tnote\nSTAT1\t1.5\t0.01\tNA\nIFI6\t2.0\t0.02\tNA\nJAK1\t-0.5\t0.03\tNA\n")
    frame = read_user_table(table)
    assert list(frame.columns) == ["logFC", "padj", "note"] and list(frame.index) == ["STAT1", "IFI6", "JAK1"]
    assert frame["padj"].tolist() == [0.01, 0.02, 0.03] and frame["note"].isna().all()
    assert read_signature(table).logfc.to_dict() == {"STAT1": 1.5, "IFI6": 2.0, "JAK1": -0.5}
    trailing = b"gene\tlogFC\nSTAT1\t1.5\t\nIFI6\t2.0\t\n"                 # still repaired, NA-parsing or not
    for options in ({}, {"dtype": str, "keep_default_na": False}):
        assert list(read_user_table(trailing, **options).columns) == ["gene", "logFC"]
    # a blank line, or a last row without its trailing delimiter, does not stop the repair
    for text in (b"gene,logFC\nSTAT1,0.8,\nIRF1,0.5,\nJAK2,-0.25,\n \n", b"gene\tlogFC\nSTAT1\t1.5\t\nIFI6\t2.0\n"):
        frame = read_user_table(text)
        assert list(frame.columns) == ["gene", "logFC"] and frame["gene"].tolist()[0] == "STAT1"


def test_row_numbers_and_text_in_a_table_are_refused_not_read(tmp_path):
    """Synthetic tables: row numbers were read as Entrez IDs (0, 1, 2 -> A1BG, A2M ...), and text such as '#DIV/0!'
    or a quoted decimal comma was counted as a missing value and left out."""
    from twincell.data.signatures import read_signature
    from twincell.errors import SignatureError

    with pytest.raises(SignatureError, match="are row numbers"):
        read_signature(pd.DataFrame({"ID": [0, 1, 2, 3], "logFC": [1.0, -1.0, 2.0, 0.5]}))
    table = tmp_path / "text.csv"
    table.write_text('gene,logFC\nSTAT1,"1,5"\nIRF7,-2\nMX1,#DIV/0!\nOAS1,NA\n')
    with pytest.raises(SignatureError, match="holds 2 value\\(s\\) that are not numbers \\(STAT1: '1,5'; MX1: '#DIV/0!'\\)"):
        read_signature(table)
    table.write_text("gene,logFC\nSTAT1,1.5\nIRF7,-2\nOAS1,NA\nMX1,inf\n")
    sig = read_signature(table)                                      # NA and inf are still counted as missing
    assert set(sig.logfc.index) == {"STAT1", "IRF7"} and sorted(sig.missing_ids) == ["MX1", "OAS1"]
