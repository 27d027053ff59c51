"""TwinBench output files: tidy CSVs, figures, and one report in Markdown and HTML from the same sections."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from twincell import __version__
from twincell._cache import probe_output_dir
from twincell.bench.run import LOWER_IS_BETTER, BenchResult
from twincell.bench.tier2 import RICH_GENES
from twincell.pl.bench import metric_table, roc_curves

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("twincell.bench", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]))

READING = (
    "Tier 1 predicts held-out responses (Pearson, direction accuracy and MSE on the top-20 DE genes; "
    "l2_ratio < 1 beats the mean baseline). Tier 2 recovers the over-expressed gene from its response alone "
    "(target genes never perturbed in training); its direction_accuracy is the share of those over-expressions for "
    "which a method says 'activate' the target to reproduce the response (a drug-free check of directions). Tier 3 ranks targets from patient-tissue signatures against "
    "approved-drug targets; `_druggable` metrics use only other drug targets as negatives (the headline: "
    "disease-blind controls score high on all genes but not there), and mode_collapse_p is small only when "
    "the ranking depends on the disease's own signature (T3 gives the number of diseases with p < 0.05 and "
    "Fisher's combined p). Brackets: 95% bootstrap intervals over the approved targets, except the gains over "
    "shuffled signatures, whose brackets are the 2.5-97.5 percentiles over the shuffles."
)
SKILL_READING = (
    "Tier 3, druggable universe, mean over diseases. signature_gain: AUROC minus the AUROC with the logFC values "
    "permuted among the signature's own genes (does the ranking use the direction and size of each change?); "
    "geneset_gain: minus the AUROC with the values placed on random network genes (does it use which genes "
    "change?); auroc_druggable_unseen: only genes never perturbed in the default model's training data; "
    "druggable_in_top_50: drug targets among the top 50; direction_accuracy: approved targets with a known drug "
    "action whose predicted direction matches (methods that give one); direction_balanced_accuracy: the mean over "
    "the two actions (activate, inhibit) of the share predicted correctly (a constant direction scores 0.5; the "
    "disease-blind controls druggability, inhibit everything, and popular_targets, each gene's majority drug "
    "action, show what needs no disease); direction_coverage: the share of those targets given any direction "
    "(both accuracies count 'no direction' as a miss); mode_collapse_n_significant: diseases "
    "with mode-collapse p < 0.05; mode_collapse_fisher_p: Fisher's combination of the diseases' p-values."
)

SEEDS_READING = (
    "Each seed draws its own tier 1-2 splits, trainings and bootstrap resamples; mean, sample sd, min and max "
    "of each summary metric over the seeds (n = seeds with a value). The method x metric table above is the "
    "mean; tier 3 ran once, with the first seed. Differences between methods smaller than the sd are not "
    "measured differences."
)


logger = logging.getLogger(__name__)

#: The files :func:`write_report` writes (besides ``roc_<disease>.png``), when their tables are not empty.
BENCH_FILES = frozenset({"twinbench.csv", "summary.csv", "seeds.csv", "skill.csv", "case_gain.csv", "targets.csv",
                         "coverage.csv", "tier2_cases.csv", "tier2_sources.csv", "metric_table.png", "report.md",
                         "report.html"})


@dataclass
class Section:
    """One report section: heading, text, optional table and optional figure file name."""

    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    image: str | None = None


def _fmt(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.3g}"
    return str(v)


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame (index included) as a GitHub-flavoured Markdown table, numbers to 3 significant digits."""
    frame = df.reset_index()
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _with_ci(rows: pd.DataFrame, index: str, columns: str) -> pd.DataFrame:
    """Pivot tidy rows into ``value [ci_low, ci_high]`` strings."""
    text = [f"{v:.3f}" if np.isnan(lo) else f"{v:.3f} [{lo:.2f}, {hi:.2f}]"
            for v, lo, hi in zip(rows["value"], rows["ci_low"], rows["ci_high"])]
    out = rows.assign(text=text).pivot(index=index, columns=columns, values="text")
    order = list(dict.fromkeys(rows[index]))
    return out.loc[order]


CASE_GAIN_READING = (
    "Tier 2, AUROC of each dataset's held-out cases as observed and in three views: free (every case replaced by the "
    "training split's mean response on all its genes: nothing of the case is left; tier 2's disease-blind control), "
    "blind (the case's own measured genes with the training mean's values) and specific (each response minus its "
    "least-squares fit on that mean). Gene-set gain = blind - free (what the set of genes a case measures earned); "
    "case gain = observed - blind (what its values earned). A method whose observed AUROC is its free AUROC ranks "
    f"every case alike. The rich columns are the LINCS cases with at least {RICH_GENES} measured genes. For the drugs "
    "(T2-drug, never in tier 2's training) the mean response stands in for the training mean: the mean over the same "
    "dataset's drugs with no target in the network."
)


def _tier3_sections(result: BenchResult, out: Path) -> list[Section]:
    t = result.table
    t3 = t[(t["tier"] == 3) & (t["signature"] == "mean")]
    sections = [Section("Tier 3: diseases and signatures",
                        "Every disease of the target table or the signatures; none is skipped silently.",
                        result.coverage.set_index("disease"))]
    skill = result.skill()
    if not skill.empty:
        sections.append(Section("Tier 3: where the skill comes from", SKILL_READING, skill))
    mean_of_signatures = "Mean over each disease's signatures."
    for metric, what, reading in (
            ("auroc_druggable", "AUROC among drug targets (headline)", mean_of_signatures),
            ("auroc", "AUROC, all network genes", mean_of_signatures),
            ("signature_gain_druggable", "gain over value-permuted signatures (druggable AUROC)", mean_of_signatures),
            ("geneset_gain_druggable", "gain over random gene sets (druggable AUROC)", mean_of_signatures),
            ("auroc_druggable_unseen", "AUROC among drug targets never perturbed in training", mean_of_signatures),
            ("auprc_druggable", "AUPRC among drug targets", mean_of_signatures),
            ("recall_at_100", "recall@100, all genes", mean_of_signatures),
            ("mode_collapse_p_druggable", "mode-collapse p-value (druggable AUROC)",
             "One p-value per disease: its mean druggable AUROC over its signatures against the same mean on the "
             "other diseases' signatures and on random gene sets (not a mean of p-values).")):
        rows = t3[t3["metric"] == metric]
        if not rows.empty:
            sections.append(Section(f"Tier 3: {what}", reading, _with_ci(rows, "method", "disease")))
    for disease in result.roc["disease"].unique() if not result.roc.empty else []:
        fig = Figure(figsize=(8.6, 4.2))
        for ax, universe in zip(fig.subplots(1, 2), ("all", "druggable")):
            roc_curves(result.roc, disease, universe=universe, ax=ax)
        fig.tight_layout()
        name = f"roc_{disease}.png"
        fig.savefig(out / name, dpi=120)
        tg = result.targets
        tg = tg[(tg["disease"] == disease) & (tg["signature"] == "mean") & (tg["universe"] == "all")]
        table = tg.pivot(index="gene", columns="method", values="top_percent")[list(dict.fromkeys(tg["method"]))]
        sections.append(Section(f"{disease}: ROC curves and where each approved target lands",
                                "Table: rank of each approved target as a top-percent of all network genes "
                                "(lower is better; mean rank over the signatures; blank = not a network gene).",
                                table.round(1), name))
    return sections


def _tier12_sections(result: BenchResult, seeds: pd.DataFrame, gains: pd.DataFrame) -> list[Section]:
    """Tier 2's case gains (:meth:`BenchResult.case_gains`), the spread over the seeds (when several), then tier 2
    and tier 1 with bootstrap intervals (first seed)."""
    t = result.table
    run_seeds = list(dict.fromkeys(t.loc[t["tier"] != 3, "seed"])) if "seed" in t.columns else []
    sections, label = [], ""
    if not gains.empty:
        sections.append(Section("Tier 2: where the skill comes from", CASE_GAIN_READING, gains))
    if len(run_seeds) > 1:
        sections.append(Section(f"Tiers 1-2 over {len(run_seeds)} seeds ({', '.join(map(str, run_seeds))})",
                                SEEDS_READING, seeds.set_index(["method", "metric"])))
        t, label = t[t["seed"] == run_seeds[0]], f", seed {run_seeds[0]}"
    for tier, title in ((2, "Tier 2: zero-shot target recovery"), (1, "Tier 1: forward prediction")):
        for dataset in t.loc[t["tier"] == tier, "signature"].unique():
            rows = t[(t["tier"] == tier) & (t["signature"] == dataset)]
            sections.append(Section(f"{title}, {dataset}{label}", "", _with_ci(rows, "method", "metric")))
    return sections


def check_bench_dir(out_dir: str | os.PathLike) -> Path:
    """Check that :func:`write_report` can write into ``out_dir`` (before a run of hours, not after it); returns it as
    a ``Path``.

    Raises
    ------
    TwinCellError
        If ``out_dir`` or one of its parents is a file, or the folder cannot be created or written to.
    """
    out = Path(out_dir)
    probe_output_dir(out, "the TwinBench report")
    return out


def write_report(result: BenchResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the TwinBench files into ``out_dir`` (created if needed; :func:`check_bench_dir`).

    Files: ``twinbench.csv`` (tidy metrics, with each row's ``seed``), ``summary.csv`` (method x metric;
    tiers 1-2: mean over the seeds), ``seeds.csv`` (tiers 1-2: mean, sd, min, max and n of each summary
    metric over the seeds), ``skill.csv`` (where the tier-3 skill comes from), ``case_gain.csv`` (where the
    tier-2 skill comes from: observed, blind and specific cases, case gain), ``targets.csv``
    (rank of every approved target), ``coverage.csv``, ``tier2_cases.csv``, ``tier2_sources.csv`` (tier 2 per
    method, source dataset and variant), ``metric_table.png``,
    ``roc_<disease>.png``, ``report.md`` and ``report.html``.

    Files of these names that an earlier run left in ``out_dir`` and this run does not write (a tier or a disease it
    did not score) are kept and named in a warning, so that no one reads them as this run's.

    Returns
    -------
    dict
        Kind -> written path.
    """
    out = check_bench_dir(out_dir)
    earlier = {p for p in out.iterdir() if p.name in BENCH_FILES or (p.name.startswith("roc_") and p.suffix == ".png")
               } if out.is_dir() else set()
    out.mkdir(parents=True, exist_ok=True)
    files = {"table": out / "twinbench.csv", "summary": out / "summary.csv"}
    result.table.to_csv(files["table"], index=False)
    summary = result.summary()
    summary.to_csv(files["summary"])
    seeds = result.seeds()
    if not seeds.empty:
        files["seeds"] = out / "seeds.csv"
        seeds.to_csv(files["seeds"], index=False)
    skill = result.skill()
    if not skill.empty:
        files["skill"] = out / "skill.csv"
        skill.to_csv(files["skill"])
    gains = result.case_gains()
    if not gains.empty:
        files["case_gain"] = out / "case_gain.csv"
        gains.to_csv(files["case_gain"])
    for key, frame in (("targets", result.targets), ("coverage", result.coverage), ("tier2_cases", result.tier2_cases),
                       ("tier2_sources", result.tier2_sources())):
        if not frame.empty:
            files[key] = out / f"{key}.csv"
            frame.to_csv(files[key], index=False)
    sections = [Section("Method x metric", READING, summary, None)]
    if not summary.empty:
        fig = Figure(figsize=(1.5 + 0.95 * summary.shape[1], 1.2 + 0.4 * summary.shape[0]))
        metric_table(summary, lower_is_better=[c for c in summary.columns if c.split(' ')[-1] in LOWER_IS_BETTER],
                     ax=fig.subplots())
        fig.tight_layout()
        fig.savefig(out / "metric_table.png", dpi=120)
        files["metric_table"] = out / "metric_table.png"
        sections[0].image = "metric_table.png"
    if not result.coverage.empty:
        sections += _tier3_sections(result, out)
    sections += _tier12_sections(result, seeds, gains)
    facts = [("twincell", __version__), *result.facts.items()]
    md = ["# TwinBench report", "", *[f"- **{k}**: {v}" for k, v in facts], ""]
    for s in sections:
        md += [f"## {s.title}", "", s.text, ""] if s.text else [f"## {s.title}", ""]
        if s.table is not None:
            md += [markdown_table(s.table), ""]
        if s.image:
            md += [f"![{s.title}]({s.image})", ""]
    files["markdown"] = out / "report.md"
    files["markdown"].write_text("\n".join(md))
    rendered = [{"title": s.title, "text": s.text, "image": s.image,
                 "table": None if s.table is None else s.table.to_html(na_rep="", float_format=lambda v: f"{v:.3g}")}
                for s in sections]
    files["html"] = out / "report.html"
    files["html"].write_text(_ENV.get_template("bench_report.html.j2").render(facts=facts, sections=rendered))
    written = set(files.values()) | {out / f"roc_{d}.png" for d in (result.roc["disease"].unique()
                                                                     if not result.roc.empty else [])}
    stale = sorted(p.name for p in earlier - written)
    if stale:
        logger.warning("%s holds files of an earlier TwinBench run that this run did not write: %s (move them, or "
                       "use a new --out folder)", out, ", ".join(stale))
    return files
