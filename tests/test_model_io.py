"""Saving and loading: identical predictions, atomic writes, clear errors for broken model directories."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from twincell.errors import ModelFileError
from twincell.model import TwinCell
from twincell.model import io as model_io
from twincell.model.synthetic import simulate_responses, synthetic_interactome

DIM = 3


class RegistryLike:
    """The part of the ContextRegistry interface the model uses (ids, vector, encoder_name, dim)."""

    encoder_name = "synthetic-encoder"
    dim = DIM

    def __init__(self, vectors):
        self._v = vectors
        self.ids = list(vectors)

    def vector(self, i):
        return self._v[i]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    net = synthetic_interactome(n_nodes=30, n_edges=80, seed=3)
    rng = np.random.default_rng(0)
    registry = RegistryLike({c: rng.standard_normal(DIM).astype(np.float32) for c in ("cA", "cB")})
    truth = TwinCell(net, DIM, seed=1)
    truth.contexts = {c: registry.vector(c) for c in registry.ids}
    data = simulate_responses(truth, [{g: -1} for g in net.genes[:20]], ["cA", "cB"], noise=0.1,
                              name="synthetic_io")
    model = TwinCell(net, DIM, seed=2).fit(data, registry, max_epochs=2, lr=0.05)
    directory = model.save(tmp_path_factory.mktemp("models") / "model")
    return model, directory


def test_save_load_gives_identical_predictions(trained):
    model, directory = trained
    loaded = TwinCell.load(directory)
    pert = {model.genes[0]: -1, model.genes[4]: 1}
    for ctx in ("cA", "cB", None):
        np.testing.assert_array_equal(loaded.predict(pert, ctx), model.predict(pert, ctx))
    assert (loaded.operator("cA").A != model.operator("cA").A).nnz == 0
    assert loaded.metadata["context_encoder"] == "synthetic-encoder"
    assert loaded.metadata["datasets"][0]["name"] == "synthetic_io"
    assert loaded.hparams == model.hparams and loaded.interactome.fingerprint == model.interactome.fingerprint
    np.testing.assert_array_equal(loaded.contexts["cB"], model.contexts["cB"])
    pd.testing.assert_frame_equal(loaded.history, model.history, check_dtype=False)


def test_interrupted_save_keeps_the_previous_model(trained, tmp_path, monkeypatch):
    model, _ = trained
    target = model.save(tmp_path / "m")
    before = (target / "config.json").read_text()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model_io.np, "savez", fail)
    with pytest.raises(KeyboardInterrupt):
        model.save(target)
    assert (target / "config.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    TwinCell.load(target)


@pytest.mark.parametrize("damage, message, in_config", [
    (lambda d: (d / "weights.pt").write_bytes(b"garbage"), "corrupt", False),
    (lambda d: (d / "interactome.parquet").unlink(), "incomplete: interactome.parquet is missing", False),
    (lambda d: (d / "config.json").write_text("{not json"), "config.json is corrupt", True),
    (lambda d: (d / "config.json").unlink(), "no config.json", True),
    (lambda d: (d / "config.json").write_text("[]"), "JSON list, not an object", True),
    (lambda d: _edit_config(d, files=None), "files missing or of the wrong type", True),
    (lambda d: _edit_config(d, context_dim=None), "context_dim missing or of the wrong type", True),
    (lambda d: ((d / "config.json").unlink(), (d / "config.json").mkdir()), "corrupt or unreadable", True),
    (lambda d: ((d / "weights.pt").unlink(), (d / "weights.pt").mkdir()), "a folder is in its place", False),
])
def test_broken_model_directories_raise_model_file_error(trained, tmp_path, damage, message, in_config):
    model, _ = trained
    d = model.save(tmp_path / "m")
    damage(d)
    with pytest.raises(ModelFileError, match=message):
        TwinCell.load(d)
    if in_config:                                      # the inference path reads the same config.json
        with pytest.raises(ModelFileError, match=message):
            model_io.open_model(d)


def _edit_config(directory, **changes) -> None:
    """Rewrite a saved model's config.json with ``changes`` (a value None deletes the key)."""
    cfg = json.loads((directory / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key)
        else:
            cfg[key] = value
    (directory / "config.json").write_text(json.dumps(cfg))


def test_version_mismatch_and_missing_directory(trained, tmp_path):
    model, _ = trained
    d = model.save(tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    cfg["format"] = model_io.FORMAT_VERSION + 1
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="format"):
        TwinCell.load(d)
    with pytest.raises(ModelFileError, match="does not exist"):
        TwinCell.load(tmp_path / "nowhere")
    with pytest.raises(ModelFileError, match="is a file; a TwinCell model is a directory"):
        TwinCell.load(d / "config.json")


def test_weights_that_do_not_fit_the_config(trained, tmp_path):
    model, _ = trained
    d = model.save(tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    cfg["context_dim"] = DIM + 1
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="loadable"):
        TwinCell.load(d)


# -- issue 14, item 6: saving never destroys files that are not a TwinCell model -----------------------------------
def test_save_refuses_a_directory_of_other_files(trained, tmp_path):
    model, _ = trained
    work = tmp_path / "analysis"
    work.mkdir()
    (work / "notes.txt").write_text("my synthetic notes")
    with pytest.raises(ModelFileError, match="not a TwinCell model") as info:
        model.save(work)                                              # on main: notes.txt deleted
    assert "--overwrite" in info.value.hint
    assert (work / "notes.txt").read_text() == "my synthetic notes"
    model.save(work, overwrite=True)
    assert not (work / "notes.txt").exists() and TwinCell.load(work).context_dim == DIM
    model.save(work)                                                  # a TwinCell model directory is replaced
    (work / "notes.txt").write_text("notes written beside the model")
    (work / "plots").mkdir()
    with pytest.raises(ModelFileError, match=r"2 other file\(s\) or folder\(s\) \(notes.txt, plots\)"):
        model.save(work)                                              # before: both silently deleted
    assert (work / "notes.txt").exists() and (work / "plots").is_dir() and TwinCell.load(work).context_dim == DIM
    model.save(work, overwrite=True)
    assert sorted(p.name for p in work.iterdir()) == sorted(["config.json", *json.loads(
        (work / "config.json").read_text())["files"]])
    (work / "training_curves.png").write_bytes(b"synthetic figure")   # what `twincell train` writes beside it
    model.save(work)                                                  # so retraining into --out still works
    empty = tmp_path / "empty"
    empty.mkdir()
    model.save(empty)
    (tmp_path / "a_file").write_text("synthetic")
    with pytest.raises(ModelFileError, match="a_file is a file, not a folder"):
        model.save(tmp_path / "a_file" / "model")                    # before: a bare FileExistsError


def test_save_never_replaces_the_working_directory(trained, tmp_path, monkeypatch):
    model, _ = trained
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.tsv").write_text("synthetic")
    for target in (".", tmp_path, tmp_path.parent):
        with pytest.raises(ModelFileError, match="working directory"):
            model.save(target, overwrite=True)
    assert (tmp_path / "data.tsv").exists()


def test_cli_train_refuses_before_training(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from twincell.cli.main import app
    from twincell.data import training_data

    monkeypatch.setattr(training_data, "load_default_training_data",
                        lambda: pytest.fail("training started before --out was checked"))
    (tmp_path / "keep.txt").write_text("synthetic")
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path), "--epochs", "1"])
    assert isinstance(result.exception, ModelFileError) and (tmp_path / "keep.txt").exists()


def test_stale_temporaries_of_killed_saves_are_removed(trained, tmp_path):
    model, _ = trained
    dead_pid = 2 ** 22 + 12345                                        # above Linux's pid_max default: never alive
    stale = tmp_path / f".atomic_t.tmp-{dead_pid}"
    stale.mkdir()
    (stale / "weights.pt").write_bytes(b"half")
    other = tmp_path / ".atomic_t.tmp-notapid"
    other.mkdir()
    model.save(tmp_path / "atomic_t")
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".atomic_t.tmp-notapid", "atomic_t"]


# -- item 12: models from newer releases --------------------------------------------------------------------------
def test_future_format_says_upgrade_and_newer_release_warns(trained, tmp_path):
    model, _ = trained
    d = model.save(tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "format": model_io.FORMAT_VERSION + 1, "twincell_version": "9.0"}))
    with pytest.raises(ModelFileError) as info:
        TwinCell.load(d)
    assert "upgrade twincell" in info.value.hint and "train" not in info.value.hint
    (d / "config.json").write_text(json.dumps({**cfg, "twincell_version": "99.1.0"}))
    with pytest.warns(model_io.ModelVersionWarning, match="99.1.0"):
        TwinCell.load(d)
