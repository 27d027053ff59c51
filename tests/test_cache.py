"""The build-once pickle cache (``twincell._cache.cached_build``) behind the gene mapper and the drug tables."""

from __future__ import annotations

from twincell._cache import cached_build


def test_cached_build_builds_once_per_source_version(tmp_path, monkeypatch, python_environ):
    monkeypatch.setenv("TWINCELL_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "synthetic_source.txt"
    source.write_text("version 1")
    calls: list[int] = []

    def build() -> dict[str, int]:
        calls.append(1)
        return {"synthetic": len(calls)}

    assert cached_build("synthetic", [source], build) == {"synthetic": 1}
    assert cached_build("synthetic", [source], build) == {"synthetic": 1}     # read back, not rebuilt
    assert len(calls) == 1
    source.write_text("version 2")                                          # a changed source: a new key
    assert cached_build("synthetic", [source], build) == {"synthetic": 2}
    assert len(list((tmp_path / "cache").glob("synthetic-*.pkl"))) == 2


def test_cached_build_survives_a_corrupt_or_unwritable_cache(tmp_path, monkeypatch, python_environ):
    monkeypatch.setenv("TWINCELL_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "synthetic_source.txt"
    source.write_text("v")
    assert cached_build("synthetic", [source], lambda: [1, 2]) == [1, 2]
    (file,) = (tmp_path / "cache").glob("synthetic-*.pkl")
    file.write_bytes(b"not a pickle")
    assert cached_build("synthetic", [source], lambda: [3]) == [3]           # corrupt file: rebuilt
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("TWINCELL_CACHE", str(blocker))
    assert cached_build("synthetic", [source], lambda: [4]) == [4]           # cannot write: still answers
