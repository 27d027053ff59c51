"""``twincell bench``: run TwinBench (tiers 1-3), write the CSV / report, print the method x metric table."""

from __future__ import annotations

from pathlib import Path

import typer

from twincell.cli._common import console, print_table
from twincell.errors import TwinCellError


def bench(
    tiers: str = typer.Option("1,2,3", "--tiers", help="Comma-separated tiers: 1 forward, 2 target recovery, 3 clinical."),
    out: Path = typer.Option(None, "--out", help="Output directory (twinbench.csv, report.md/html, figures)."),
    methods: str = typer.Option(None, "--methods", help="Comma-separated method names (default: all registered except "
                                                          "designs that failed their round's rule and ablations; "
                                                          "--list-methods)."),
    quick: bool = typer.Option(False, "--quick", help="Small splits, few shuffles, short training (smoke run)."),
    seed: int = typer.Option(None, "--seed", help="Seed of splits, shuffles, bootstrap and training (default 0)."),
    seeds: str = typer.Option(None, "--seeds",
                              help="Several seeds for tiers 1-2, e.g. 0-4 or 0,3,7: tiers 1-2 run once per seed "
                                   "(summary = mean, seeds.csv = spread); tier 3 runs once, with the first seed. "
                                   "At most 100 seeds. Not with --seed."),
    signature: list[Path] = typer.Option(None, "--signature",
                                         help="Extra disease signature file, named <Disease>_<anything>.tsv (repeatable)."),
    targets: Path = typer.Option(None, "--targets", help="Approved-target table (disease, gene_symbol); default bundled."),
    no_bundled: bool = typer.Option(False, "--no-bundled", help="Leave out the bundled disease signatures (tier 3)."),
    model: Path = typer.Option(None, "--model", help="Saved TwinCell model for tier 3 (default: the default model)."),
    drug_test_fraction: float = typer.Option(1.0, "--drug-test-fraction",
                                             help="Share of the drugs tier 2 holds out as cases (T2-drug); the rest "
                                                  "are training drugs a method may train on. Default 1: all held out."),
    list_methods: bool = typer.Option(False, "--list-methods", help="Print the registered methods and exit."),
) -> None:
    """Benchmark TwinCell and its baselines on three tiers; write a tidy CSV and a report."""
    from twincell.bench import list_methods as registered
    from twincell.bench import run_benchmark, write_report
    from twincell.bench.methods import check_method_names
    from twincell.bench.report import check_bench_dir
    from twincell.bench.run import CASE_VIEWS, SKILL_HEADERS, SUMMARY_BLOCKS, check_tiers, parse_seeds

    if list_methods:
        print_table(registered(), title="TwinBench methods")
        return
    if out is None:
        raise TwinCellError("--out is required", "e.g. twincell bench --tiers 1,2,3 --out bench/")
    check_bench_dir(out)  # a file in the way or an unwritable folder: found before the run, not after hours of it
    tier_list = check_tiers(tiers)
    names = None if methods is None else [m.strip() for m in methods.split(",")]
    if names is not None and not all(names):
        raise TwinCellError(f"--methods {methods!r} has an empty name", "e.g. --methods twincell,degree")
    if names is not None:
        check_method_names(names)  # a misspelt name is named before a model loads
    seed_list = parse_seeds(seeds) if seeds is not None else None
    loaded = None
    if model is not None:
        from twincell.model import TwinCell

        loaded = TwinCell.load(model)
    result = run_benchmark(tier_list, names, quick=quick, seed=seed,
                           seeds=seed_list, signature_files=signature or (), targets_file=targets,
                           bundled=not no_bundled, model=loaded, drug_test_fraction=drug_test_fraction)
    files = write_report(result, out)
    summary = result.summary()
    for title, prefixes in SUMMARY_BLOCKS.items():
        block = summary[[c for c in summary.columns if c.split(" ")[0] in prefixes]].dropna(how="all")
        if not block.empty:
            print_table(block.reset_index(), title=f"TwinBench {title} (method x metric)")
    if seed_list is not None and len(seed_list) > 1:
        print_table(result.seeds(), title="TwinBench T1-T2 over seeds (the tables above show the mean)")
    gains = result.case_gains()
    for observed, views in CASE_VIEWS.items():  # one table per tier-2 dataset
        block = gains[[c for c in gains.columns if c.split(" ")[0] in (observed, *views)]].dropna(how="all")
        if not block.empty:
            print_table(block.reset_index(), title=f"TwinBench {observed}: where the skill comes from (AUROC; gene-set "
                                                   "gain = blind - free, case gain = observed - blind, mean over seeds)")
    skill = result.skill()
    if not skill.empty:
        print_table(skill.rename(columns=SKILL_HEADERS).reset_index(),
                    title="TwinBench T3: where the skill comes from (druggable universe, mean over diseases)")
    for key, why in result.facts.items():  # a tier or a method the run left out, and why
        if key.endswith("not scored"):
            console.print(f"[yellow]{key}: {why}[/]")
    if not result.coverage.empty:
        skipped = result.coverage[result.coverage["status"] != "scored"]
        for row in skipped.itertuples(index=False):
            console.print(f"[yellow]{row.disease}: {row.status}[/]")
    console.print(f"wrote {files['table']}, {files['markdown']}, {files['html']} ({result.facts['seconds']} s)")
