"""CLI commands of the foundation layer, through typer's runner."""

from __future__ import annotations

from typer.testing import CliRunner

from twincell.cli.main import app

runner = CliRunner()


def test_data_list_flags_conditions():
    res = runner.invoke(app, ["data", "list"])
    assert res.exit_code == 0, res.output
    assert "pathlinker_ppi" in res.output and "NON-COMMERCIAL" in res.output


def test_network_summary_on_user_table(tmp_path):
    f = tmp_path / "synthetic_edges.tsv"
    f.write_text("source\ttarget\tweight\nJAK1\tSTAT1\t0.9\nSTAT1\tIRF1\t0.8\n")
    res = runner.invoke(app, ["network", "summary", "--network", str(f)])
    assert res.exit_code == 0, res.output
    assert "nodes" in res.output and "3" in res.output


def test_network_paths_command(tmp_path):
    f = tmp_path / "synthetic_edges.tsv"
    f.write_text("source\ttarget\tweight\tsign\nJAK1\tSTAT1\t0.9\t1\nSTAT1\tIRF1\t0.8\t1\n")
    res = runner.invoke(app, ["network", "paths", "JAK1", "IRF1", "--network", str(f)])
    assert res.exit_code == 0, res.output
    assert "JAK1 -> STAT1 -> IRF1" in res.output
