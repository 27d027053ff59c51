"""`twincell train` on user files: a PerturbationDataset .h5ad, a saved ContextRegistry, the default network."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from twincell.cli.main import app
from twincell.context import ContextRegistry
from twincell.model import TwinCell
from twincell.model.synthetic import simulate_responses


def test_train_command_writes_a_loadable_model(interactome, tmp_path):
    registry = ContextRegistry("synthetic-encoder", 3)
    registry.add("ctxA", np.array([0.5, -1.0, 0.2]), source="synthetic")
    truth = TwinCell.prior(interactome)
    genes = [str(g) for g in interactome.genes[::50]]
    data = simulate_responses(truth, [{"MAP2K1": -1}, {"EGFR": -1}, {"STAT3": 1}], [None], genes=genes,
                              name="synthetic_cli")
    data.adata.obs["context"] = "ctxA"
    data.write(tmp_path / "data.h5ad")
    registry.save(tmp_path / "contexts.npz")
    out = tmp_path / "model"
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "data.h5ad"), "--contexts",
                                      str(tmp_path / "contexts.npz"), "--out", str(out), "--epochs", "1"])
    assert result.exit_code == 0, result.output
    model = TwinCell.load(out)
    assert model.metadata["context_encoder"] == "synthetic-encoder"
    assert model.datasets[0].name == "synthetic_cli" and len(model.history) == 1
    assert (out / "training_curves.png").stat().st_size > 0
