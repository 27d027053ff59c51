"""The bundled data catalogue: every file present, small, with provenance and licence."""

from __future__ import annotations

import pytest

from twincell.data import bundled
from twincell.errors import DataFileError


def test_every_catalogued_file_exists_and_is_small():
    for entry in bundled.CATALOG:
        p = bundled.path(entry.name)
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        assert files, entry.name
        for f in files:
            assert f.stat().st_size < 20 * 1024**2, f"{f} is over 20 MB"


def test_sources_md_names_every_original_file():
    text = (bundled.datasets_dir() / "SOURCES.md").read_text()
    for entry in bundled.CATALOG:
        stem = entry.file.split("/")[-1].removesuffix(".gz")
        assert stem in text, f"{stem} has no provenance line in SOURCES.md"


def test_catalog_flags_conditional_licences():
    df = bundled.catalog()
    flagged = set(df.loc[df["flag"] == "!", "name"])
    assert {"signor_psp", "pathlinker_ppi", "pharmacotherapydb"} <= flagged
    assert "hgnc" not in flagged


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(DataFileError, match="unknown bundled dataset 'nope'"):
        bundled.path("nope")
