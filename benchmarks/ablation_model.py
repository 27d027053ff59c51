"""Ablation of the model's design choices (issue 12): each design trained and benchmarked in one run.

For every design (a set of TwinCell hyper-parameters, fit options and training data) this script

* trains TwinCell inside TwinBench tiers 1 and 2 (held-out LINCS target genes, a held-out NeurIPS cell
  type, held-out CytoSig cytokines whose receptors tier 2 recovers: a design that trains on CytoSig leaves
  those cytokines out) with that design: these tiers and the default-model training's validation loss decide;
* trains the design's default model on all bundled training data (as ``train_default_model`` does, but
  for ``--epochs`` epochs, 2 by default, to keep the run short) and scores tier 3 once with it (approved
  targets of the five diseases), with TwinBench's "where the skill comes from" metrics
  (:data:`twincell.bench.run.SKILL_METRICS`: ``signature_gain_druggable`` (real - value-permuted),
  ``geneset_gain_druggable``, ``auroc_druggable_unseen``, ``druggable_in_top_50``, ``direction_accuracy``,
  mode collapse).

Designs that keep only a share of the training perturbations (``data_half``, ``data_quarter``, ``data_5pct``) and
``common_response`` (every training row replaced by the mean response) are tiers 1-2 analyses and run only with
``--tiers12-only``; so are the designs that add tier 2's training drugs to the tier's training (``chosen_drugs``,
``chosen_drugs_common``, ``shared_chosen_drugs``; their default model would train on every drug, as ``chosen``'s does),
which need ``--drug-test-fraction`` below 1 (a seeded share of the drugs held out as ``T2-drug`` cases, the rest
training drugs; :func:`twincell.bench.tier2_drugs.split_drugs`), and the in-sample analyses that add the cases' own
rows instead (``chosen_cases``, ``chosen_cases_common``).

Every design's rows carry its validation loss, the number of unsigned edges its training opened, the
inverse-task validation metrics (the held-out perturbations' targets ranked by the adjoint of their responses:
mean AUROC, median rank), training time
and seconds per epoch, for each model it trains. ``--inverse-grid`` instead chooses the inverse loss's
weight and temperature on the validation perturbations of the default model's training data alone (no
TwinBench tier): it trains ``--grid-design`` (``chosen`` or ``shared_chosen``) with each setting for
``--epochs`` epochs and prints the setting round 5's rule picks.

Disease-blind controls and baselines (network propagation, the untrained prior, the random-sign prior, degree,
druggability)
are scored once in the same run (tier 2 only with ``--tiers12-only``). Before training, it prints what the co-expression sign prior
(``coexpression_sign``) has to work with: the share of unsigned edges with co-expression data and how
well co-expression separates the known activating from the known inhibiting edges (AUROC). Prints one
table and writes it as CSV (``--out``: ``ablation.csv``), with each design's tier 2 by source dataset
(``tier2_sources-<design>.csv``, :meth:`twincell.bench.BenchResult.tier2_sources`: the drugs pool three datasets).

    PYTHONPATH=src python benchmarks/ablation_model.py --out results/ablation
    PYTHONPATH=src python benchmarks/ablation_model.py --designs chosen,coexpression_sign --quick
    PYTHONPATH=src python benchmarks/ablation_model.py --designs chosen,chosen_drugs --tiers12-only --drug-test-fraction 0.5
    PYTHONPATH=src python benchmarks/ablation_model.py --inverse-grid --out results/inverse_grid
    PYTHONPATH=src python benchmarks/ablation_model.py --inverse-grid --grid-design shared_chosen --grid 0.1:3,0.3:3
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from twincell.bench import run_benchmark
from twincell.bench.learned import TwinCellMethod
from twincell.bench.methods import METHODS, Method, Resources
from twincell.bench.run import PREFIX, skill_table, summary_table
from twincell.bench.tier2 import STRATA, VARIANTS
from twincell.bench.tier2_drugs import load_drug_datasets, split_drugs, training_drug_rows
from twincell.context import ContextRegistry
from twincell.data.perturbation import PerturbationDataset
from twincell.data.training_data import load_bundled, load_default_training_data
from twincell.model import TwinCell, train_default_model
from twincell.model.coexpression import bundled_coexpression, shrink
from twincell.model.module import prior_sign
from twincell.model.twincell import DEFAULT_HPARAMS
from twincell.network import Interactome

CONTROLS = ("network_propagation", "twincell_prior", "random_sign_prior", "degree", "druggability")
#: The drug and over-expression datasets every design trains on (CytoSig is a design option).
BASE_DATASETS = ("lincs_overexpression", "signatures_tahoe", "signatures_neurips", "signatures_sciplex")


@dataclass
class Design:
    """One design: TwinCell hyper-parameters, fit options, and whether CytoSig joins the training data.

    ``fit`` overrides :data:`BASE_FIT`: a design that does not ask for causal shrinkage trains without it
    (its off state, as every design measured before it existed), and every design averages its background over the
    training rows only and shrinks jointly when it shrinks (``causal_shrinkage=True``), as every design here was
    measured before the twentieth round made ``"split"`` and ``background_rows="all"`` the library's defaults.
    """

    name: str
    hparams: dict = field(default_factory=dict)
    fit: dict = field(default_factory=dict)
    cytosig: bool = False
    note: str = ""
    #: Share of each tier's training perturbations kept (seeded by the run's seed); below 1 the design is a tiers 1-2
    #: data-scaling analysis (the ``--tiers12-only`` runs), not a candidate for the default model.
    train_fraction: float = 1.0
    #: Replace every LINCS training response of the tier by its context's mean response, at the row's measured genes
    #: (``PerturbationDataset.common_response``): a tiers 1-2 control that can teach only what all perturbations share.
    common_response: bool = False
    #: Tier 2's training drugs (``--drug-test-fraction`` below 1) join the tier's training data: ``responses`` (their
    #: rows) or ``common`` (their rows replaced by their context's mean response: a target-blind control). Tiers 1-2
    #: analyses: the design's default model would be ``chosen``'s, which trains on every drug.
    drugs: Literal["responses", "common"] | None = None
    #: Whose rows ``drugs`` adds: tier 2's training drugs, or its held-out drugs, the ``T2-drug`` cases themselves (an
    #: in-sample analysis: can the adjoint read a response the model was trained on?).
    drug_rows: Literal["training", "cases"] = "training"

    @property
    def analysis(self) -> bool:
        """Whether the design is a tiers 1-2 analysis (part of the data, the mean response or tier 2's training drugs),
        not a candidate."""
        return self.train_fraction < 1.0 or self.common_response or self.drugs is not None


BASE_FIT = {"causal_shrinkage": False, "background_rows": "training"}
CASCADE = {"normalisation": "in_degree", "damping": 0.8, "n_hops": 4}
CAUSAL_FIT = {"residual_loss": True, "validation_split": "target"}
OLD = {"normalisation": "symmetric", "damping": 0.5, "n_hops": 3, "edge_model": "free", "gate_mode": "switch"}
ALL = {**CASCADE, "edge_model": "shared", "gate_mode": "modulate"}
CHOSEN = {**OLD, **CASCADE, "gate_mode": "modulate"}
SHARED_CHOSEN = {**CHOSEN, "edge_model": "shared"}
SHARED_STRENGTH = {**CHOSEN, "edge_model": "shared_strength"}
RECEIVER_SIGN = {**CHOSEN, "receiver_sign": True}
#: Weight lambda and temperature tau of the inverse loss, chosen by ``--inverse-grid`` (docs/model.md): the
#: highest validation inverse AUROC among the settings whose validation loss is within 0.001 of lambda = 0.
INVERSE_FIT = {"inverse_loss": 0.3, "inverse_temperature": 3.0}
#: lambda and tau chosen by the same rule for the shared edge model (``--inverse-grid --grid-design shared_chosen``).
SHARED_INVERSE_FIT = {"inverse_loss": 0.1, "inverse_temperature": 3.0}
#: Training length of the model-selection designs: the default model's (8 epochs), patience 2.
LONG_FIT = {"max_epochs": 8, "patience": 2}
#: The (lambda, tau) settings ``--inverse-grid`` compares with lambda = 0 (off).
INVERSE_GRID = ((0.03, 10.0), *((lam, tau) for lam in (0.1, 0.3, 1.0) for tau in (3.0, 10.0, 30.0)))
#: Designs that train exactly what ``chosen`` trains (kept for their rounds' commands; left out of the default list).
SAME_AS_CHOSEN = ("causal_shrinkage",)
DESIGNS = {d.name: d for d in (
    Design("baseline", OLD, note="the model before issue 12"),
    Design("cascade", {**OLD, **CASCADE}, note="in-degree normalisation, damping 0.8, K = 4"),
    Design("shared_edges", {**OLD, "edge_model": "shared"}, note="feature-based strengths/signs + corrections"),
    Design("causal_training", OLD, CAUSAL_FIT, note="residual losses, validation on held-out targets"),
    Design("modulating_gates", {**OLD, "gate_mode": "modulate"}, note="gates 1 +- 0.5 tanh, no context = 1"),
    Design("cytosig", OLD, cytosig=True, note="+ CytoSig cytokines through LIANA receptors"),
    Design("all", ALL, CAUSAL_FIT, cytosig=True, note="every change above"),
    Design("chosen", CHOSEN, {"causal_shrinkage": True}, cytosig=True,
           note="the default of rounds 2-19: cascade + modulating gates + CytoSig + causal shrinkage (joint; round 20 "
                "split it)"),
    Design("chosen_without_cytosig", CHOSEN, {"causal_shrinkage": True},
           note="chosen without CytoSig in training: what the cytokines teach, on tier 2's held-out cytokines"),
    Design("sign_prior", {**CHOSEN, "sign_prior": True}, cytosig=True,
           note="chosen + unsigned edges start at (and are pulled to) the mean known sign"),
    Design("causal_shrinkage", CHOSEN, {"causal_shrinkage": True}, cytosig=True,
           note="the second round's design (chosen + per-dataset shrinkage of the causal part, fitted on validation "
                "rows): identical to chosen since chosen adopted it; kept so that the round's command runs"),
    Design("class_attenuation", {**CHOSEN, "class_attenuation": True}, cytosig=True,
           note="chosen + one learned attenuation per receiving-node class (TF, receptor, ligand, other)"),
    Design("combined", {**CHOSEN, "sign_prior": True, "class_attenuation": True}, {"causal_shrinkage": True},
           cytosig=True, note="chosen + sign_prior + class_attenuation + causal_shrinkage"),
    Design("coexpression_sign", {**CHOSEN, "coexpression_sign": True}, {"causal_shrinkage": True}, cytosig=True,
           note="chosen + per-edge prior sign from co-expression over the bundled baseline profiles"),
    Design("target_validation", CHOSEN, {"causal_shrinkage": True, "validation_split": "target"}, cytosig=True,
           note="chosen + early stopping and shrinkage on held-out target genes (round 1 had it only with residual losses)"),
    Design("inverse_loss", CHOSEN, {"causal_shrinkage": True, **INVERSE_FIT}, cytosig=True,
           note="chosen + inverse loss: each row's targets must win a softmax of its response's adjoint"),
    Design("shared_chosen", SHARED_CHOSEN, {"causal_shrinkage": True}, cytosig=True,
           note="chosen + shared edge model: strengths/signs from edge features + per-edge corrections"),
    Design("shared_inverse", SHARED_CHOSEN, {"causal_shrinkage": True, **INVERSE_FIT},
           cytosig=True, note="chosen + shared edge model + inverse loss (lambda, tau of round 5, not re-tuned)"),
    Design("shared_inverse_tuned", SHARED_CHOSEN, {"causal_shrinkage": True, **SHARED_INVERSE_FIT}, cytosig=True,
           note="chosen + shared edge model + inverse loss (lambda, tau chosen for the shared edge model)"),
    Design("shared_strength", SHARED_STRENGTH, {"causal_shrinkage": True}, cytosig=True,
           note="chosen + shared strengths from edge features, per-edge signs (unsigned edges start closed)"),
    Design("receiver_sign", RECEIVER_SIGN, {"causal_shrinkage": True}, cytosig=True,
           note="chosen + unsigned edges into a node share one sign logit (+ penalised per-edge corrections)"),
    Design("known_signs_only", {**CHOSEN, "learn_unknown_signs": False}, {"causal_shrinkage": True}, cytosig=True,
           note="chosen with unsigned edges kept closed (signs not learned): only known-sign edges carry signal"),
    Design("frozen_signalling", {**CHOSEN, "learn_signalling": False}, {"causal_shrinkage": True}, cytosig=True,
           note="chosen with the signalling edges kept at their prior: only readout, gates and gains learn"),
    Design("l1_weak", CHOSEN, {"causal_shrinkage": True, "l1": 1e-4}, cytosig=True,
           note="chosen with a 10x weaker pull of strengths and learned signs to their prior (l1 1e-4, was 1e-3)"),
    Design("l1_strong", CHOSEN, {"causal_shrinkage": True, "l1": 1e-2}, cytosig=True,
           note="chosen with a 10x stronger pull of strengths and learned signs to their prior (l1 1e-2)"),
    Design("long_training", CHOSEN, {"causal_shrinkage": True, **LONG_FIT}, cytosig=True,
           note="chosen trained up to 8 epochs, patience 2 (TwinBench: 3, patience 1), selected on the loss"),
    Design("select_inverse", CHOSEN, {"causal_shrinkage": True, **LONG_FIT, "select_on": "inverse_auroc"},
           cytosig=True, note="long_training, selecting the epoch on the validation rows' inverse AUROC"),
    Design("select_inverse_unseen", CHOSEN,
           {"causal_shrinkage": True, **LONG_FIT, "select_on": "inverse_auroc_unseen"}, cytosig=True,
           note="long_training, selecting the epoch on the inverse AUROC of validation targets no training row perturbs"),
    Design("data_half", CHOSEN, {"causal_shrinkage": True}, cytosig=True, train_fraction=0.5,
           note="chosen trained on a seeded half of the tier's LINCS training perturbations (data scaling; tiers 1-2)"),
    Design("data_quarter", CHOSEN, {"causal_shrinkage": True}, cytosig=True, train_fraction=0.25,
           note="chosen trained on a seeded quarter of the tier's LINCS training perturbations (data scaling; tiers 1-2)"),
    Design("common_response", CHOSEN, {"causal_shrinkage": True}, cytosig=True, common_response=True,
           note="chosen trained on the mean LINCS training response in every row (a control; tiers 1-2)"),
    Design("residual", CHOSEN, {"causal_shrinkage": True, "residual_loss": True}, cytosig=True,
           note="chosen with losses on the response minus its dataset's background (round 1 tested it only on the old model)"),
    Design("residual_common_response", CHOSEN, {"causal_shrinkage": True, "residual_loss": True}, cytosig=True,
           common_response=True, note="residual on mean LINCS responses: what a background-free loss learns from shared responses"),
    Design("contrastive", CHOSEN, {"causal_shrinkage": True, "contrastive_loss": 0.3, "contrastive_temperature": 0.1},
           cytosig=True, note="chosen + contrastive loss: each response must match its own perturbation's predicted "
                              "response better, by cosine, than the batch's others (ninth round)"),
    Design("data_5pct", CHOSEN, {"causal_shrinkage": True}, cytosig=True, train_fraction=0.05,
           note="chosen trained on a seeded 5 % of the tier's LINCS training perturbations (data scaling; tiers 1-2)"),
    Design("chosen_drugs", CHOSEN, {"causal_shrinkage": True}, cytosig=True, drugs="responses",
           note="chosen + tier 2's training drugs (all their rows, context-free) in the tier-2 training, as the default "
                "model trains on drugs (thirteenth round; needs --drug-test-fraction < 1)"),
    Design("chosen_drugs_common", CHOSEN, {"causal_shrinkage": True}, cytosig=True, drugs="common",
           note="chosen_drugs with each training drug's rows replaced by their context's mean response (a target-blind "
                "control of the thirteenth round)"),
    Design("chosen_cases", CHOSEN, {"causal_shrinkage": True}, cytosig=True, drugs="responses", drug_rows="cases",
           note="chosen + every row of tier 2's held-out drugs, the T2-drug cases themselves: in sample, can the adjoint "
                "read a response the model was trained on? (needs --drug-test-fraction < 1)"),
    Design("chosen_cases_common", CHOSEN, {"causal_shrinkage": True}, cytosig=True, drugs="common", drug_rows="cases",
           note="chosen_cases with each case drug's rows replaced by their context's mean response (its target-blind "
                "control)"),
    Design("shared_chosen_drugs", SHARED_CHOSEN, {"causal_shrinkage": True}, cytosig=True, drugs="responses",
           note="shared_chosen + tier 2's training drugs: do shared edge parameters carry what drugs teach to targets "
                "no training row perturbed? (fourteenth round; needs --drug-test-fraction < 1)"),
    Design("six_hops", {**CHOSEN, "n_hops": 6}, {"causal_shrinkage": True}, cytosig=True,
           note="chosen with walks of up to K = 6 hops (was 4): receptors further above the TFs"),
    Design("damping_1", {**CHOSEN, "damping": 1.0}, {"causal_shrinkage": True}, cytosig=True,
           note="chosen without damping (gamma = 1, was 0.8): a cascade keeps its full size"),
    Design("damping_06", {**CHOSEN, "damping": 0.6}, {"causal_shrinkage": True}, cytosig=True,
           note="chosen with stronger damping (gamma = 0.6, was 0.8): shorter walks weigh more"),
    Design("shared_network", {**SHARED_CHOSEN, "node_embedding": "network"}, {"causal_shrinkage": True}, cytosig=True,
           note="shared_chosen + each end's position in the interactome's spectral embedding, and their product, as "
                "edge features (twenty-first round)"),
    Design("shared_strength_network", {**SHARED_STRENGTH, "node_embedding": "network"}, {"causal_shrinkage": True},
           cytosig=True, note="shared_strength + the same embedding features (strengths only; per-edge signs)"),
)}
#: Tier-2 metrics by target class shown per design: tidy metric name -> column suffix (e.g. ``T2 auroc non-TF``).
STRATUM_COLUMNS = {f"{metric}_{stratum}": f"{metric} {label}" for stratum, label in zip(STRATA, ("TF", "non-TF"))
                   for metric in ("auroc", "recall_at_10")}
#: Models trained by the designs inside tiers 1-2 (cleared per design): see :func:`fit_summary`.
FITTED: list[TwinCell] = []


def fit_summary(model: TwinCell, label: str) -> dict[str, float]:
    """Validation loss and inverse-task metrics at the kept epoch (the history's ``kept``), training time and s per
    epoch."""
    h = model.history
    best = h[h["kept"]].iloc[0]
    return {f"val_loss ({label})": float(best["val_loss"]),
            f"val inverse AUROC ({label})": float(best.get("inverse_auroc_val", np.nan)),
            f"val inverse median rank ({label})": float(best.get("inverse_rank_val", np.nan)),
            f"val inverse AUROC, targets unseen in training ({label})":
                float(best.get("inverse_auroc_unseen_val", np.nan)),
            f"unsigned edges opened, |sign| > 0.01 ({label})": open_signs(model),
            f"train_s ({label})": round(float(model.metadata["training_seconds"]), 1),
            f"s/epoch ({label})": round(float(h["seconds"].mean()), 2), f"epochs ({label})": len(h)}


def training_cytokines(held_out: frozenset[str], held_out_genes: frozenset[str]) -> PerturbationDataset:
    """The bundled CytoSig rows a design trains on inside tiers 1-2: all but the tier's held-out cytokines and the
    cytokines that enter through one of its held-out LINCS target genes."""
    data = load_bundled("cytosig")
    return data.subset(~data.obs["perturbation"].isin(held_out).to_numpy()).without_targets(held_out_genes)


def keep_perturbations(data: PerturbationDataset, fraction: float, seed: int) -> PerturbationDataset:
    """``data`` with a seeded ``fraction`` of its perturbations (all their rows, in every context); all when 1."""
    if fraction >= 1.0:
        return data
    perturbations = data.obs["perturbation"].unique()
    rng = np.random.default_rng(seed)
    kept = rng.choice(perturbations, size=max(1, round(fraction * len(perturbations))), replace=False)
    return data.subset(data.obs["perturbation"].isin(kept).to_numpy())


def open_signs(model: TwinCell, threshold: float = 0.01) -> int:
    """Number of unsigned signalling edges whose learned sign exceeds ``threshold`` in size (the edges training opened)."""
    layer = model.module.ppi
    return int((layer.sign()[layer.unknown].detach().abs() > threshold).sum())


def drug_names(datasets: Sequence[PerturbationDataset], resources: Resources,
               which: Literal["training", "cases"]) -> frozenset[str]:
    """Tier 2's training drugs, or its cases: every drug with a network target that is not a training drug."""
    if which == "training":
        return resources.training_drugs
    every, _ = split_drugs(datasets, pd.Index(resources.network.genes), 1.0, resources.seed)
    return every - resources.training_drugs


def design_method(design: Design) -> type[Method]:
    """A ``twincell`` method class that trains with ``design`` inside tiers 1 and 2."""

    class DesignMethod(TwinCellMethod):
        def fit(self, train):  # noqa: D102
            contexts = self.resources.contexts
            dim = 0 if contexts is None else int(contexts.dim)
            model = TwinCell(self.resources.network, dim, seed=self.resources.seed, **design.hparams)
            extra = ([training_cytokines(self.resources.held_out, self.resources.held_out_genes)]
                     if design.cytosig else [])
            if design.drugs is not None and self.resources.training_drugs:  # none in the held-out cell type's tier 1
                datasets = self.resources.drug_datasets or load_drug_datasets()
                rows = training_drug_rows(datasets, drug_names(datasets, self.resources, design.drug_rows),
                                          self.resources.held_out_genes)
                extra += [d.common_response() for d in rows] if design.drugs == "common" else rows
            train = keep_perturbations(train, design.train_fraction, self.resources.seed)
            if design.common_response:
                train = train.common_response()
            self.model = model.fit([train, *extra], contexts, **{**self.resources.train_options, **BASE_FIT, **design.fit})
            FITTED.append(self.model)
            return self

    DesignMethod.name = "twincell"
    return DesignMethod


@contextlib.contextmanager
def registered(cls: type[Method]) -> Iterator[None]:
    """Temporarily register ``cls`` under its name (restores the original class)."""
    old = METHODS[cls.name]
    METHODS[cls.name] = cls
    try:
        yield
    finally:
        METHODS[cls.name] = old


def coexpression_report(network: Interactome) -> str:
    """What ``coexpression_sign`` has to work with, per layer: coverage of unsigned edges, AUROC on known signs."""
    co = bundled_coexpression(network.edges["source"].to_numpy(), network.edges["target"].to_numpy())
    rho, sign = shrink(co), network.edges["sign"].to_numpy()
    lines = []
    for layer in ("ppi", "tf"):
        m = network.layer_mask(layer)
        unsigned, signed = m & (sign == 0), m & (sign != 0) & co.has_data
        auc = roc_auc_score(sign[signed] > 0, rho[signed]) if len(np.unique(sign[signed])) == 2 else np.nan
        lines.append(f"co-expression, {layer}: {int((unsigned & co.has_data).sum())} of {int(unsigned.sum())} unsigned edges"
                     f" have data ({(unsigned & co.has_data).sum() / max(unsigned.sum(), 1):.1%}); "
                     f"AUROC of rho for +1 vs -1 over the {int(signed.sum())} signed edges with data "
                     f"({(sign[signed] > 0).mean():.1%} +1): {auc:.3f}")
    return "\n".join(lines)


def tier_rows(name: str, table: pd.DataFrame) -> dict[str, float]:
    """One design's summary row (method ``twincell``) from a TwinBench table."""
    s = summary_table(table)
    row = s.loc[name].to_dict() if name in s.index else {}
    t2 = table[(table["tier"] == 2) & (table["method"] == name) & (table["metric"] == "auroc")]
    for _, r in t2.iterrows():  # the interval that decides "not worse beyond its CI"
        label = PREFIX.get((2, r["signature"]), "T2")
        row[f"{label} auroc CI"] = f"{r['ci_low']:.3f}-{r['ci_high']:.3f}"
    strata = table[(table["tier"] == 2) & (table["method"] == name) & table["metric"].isin(STRATUM_COLUMNS)]
    for _, r in strata.iterrows():
        row[f"{PREFIX.get((2, r['signature']), 'T2')} {STRATUM_COLUMNS[r['metric']]}"] = r["value"]
    if (table["tier"] == 3).any():
        skill = skill_table(table)
        row.update({f"T3 {k}": v for k, v in (skill.loc[name] if name in skill.index else {}).items()})
    return row


def case_counts(cases: pd.DataFrame) -> dict[str, int]:
    """Tier 2's held-out LINCS perturbations by target stratum (``T2 TF targets``, ``T2 non-TF targets``)."""
    one = cases[cases["variant"] == VARIANTS[0]].drop_duplicates("perturbation")
    tf = int((one["target_class"] == "tf").sum())
    return {"T2 TF targets": tf, "T2 non-TF targets": len(one) - tf}


def run_design(design: Design, args, network: Interactome) -> dict:
    """Tiers 1-2 with the design trained inside, then (unless ``--tiers12-only``) its default model and tier 3."""
    t0 = time.monotonic()
    FITTED.clear()
    with registered(design_method(design)):
        t12 = run_benchmark((1, 2), ["twincell"], quick=args.quick, seed=args.seed, network=network,
                            drug_test_fraction=args.drug_test_fraction)
    t_bench12 = time.monotonic() - t0
    sources = t12.tier2_sources()  # tier 2 by source dataset (the drugs pool three), one file per design
    sources.assign(design=design.name, seed=args.seed).to_csv(Path(args.out) / f"tier2_sources-{design.name}.csv",
                                                              index=False)
    fits = {k: v for m in FITTED for k, v in fit_summary(m, f"fit on {m.datasets[0].name}").items()}
    if args.tiers12_only:
        row = {"design": design.name, "seed": args.seed, **tier_rows("twincell", t12.table),
               **case_counts(t12.tier2_cases), **fits,
               "bench_s": round(t_bench12), "note": design.note}
        print(pd.Series(row).to_string(), flush=True)
        return row
    t0 = time.monotonic()
    data = load_default_training_data(BASE_DATASETS + (("cytosig",) if design.cytosig else ()))
    fit = {"max_epochs": 1 if args.quick else args.epochs}
    model = train_default_model(Path(args.out) / f"model-{design.name}", datasets=data, interactome=network,
                                seed=args.seed, hparams=design.hparams, **{**BASE_FIT, **design.fit, **fit})
    t_train = time.monotonic() - t0
    t0 = time.monotonic()
    t3 = run_benchmark((3,), ["twincell"], quick=args.quick, seed=args.seed, network=network, model=model)
    row = {"design": design.name, **tier_rows("twincell", t12.table), **case_counts(t12.tier2_cases),
           **tier_rows("twincell", t3.table), **fits,
           **fit_summary(model, "default model"),
           "alpha (default model)": " ".join(f"{k.split('_')[-1]}={v:.2f}" for k, v in
                                             model.metadata.get("causal_shrinkage", {}).items()),
           "train_s with loading (default model)": round(t_train),
           "bench_s": round(t_bench12 + time.monotonic() - t0), "note": design.note}
    print(pd.Series(row).to_string(), flush=True)
    return row


def inverse_grid(args, network: Interactome, settings: Sequence[tuple[float, float]]) -> pd.DataFrame:
    """Train ``--grid-design`` on the default model's data with lambda = 0 and each (lambda, tau) of ``settings``.

    Rows: lambda, tau and :func:`fit_summary` (validation loss, inverse AUROC and median rank of the held-out
    perturbations' targets, the same AUROC over targets no training row perturbs, seconds per epoch), and
    the epoch time over that of the runs with lambda = 0 (the loss's overhead). No TwinBench tier is used.
    """
    design = DESIGNS[args.grid_design]
    data = load_default_training_data(BASE_DATASETS + (("cytosig",) if design.cytosig else ()))
    contexts = ContextRegistry.default()
    rows = []
    for lam, tau in ((0.0, 10.0), *settings):
        model = TwinCell(network, contexts.dim, seed=args.seed, **design.hparams)
        model.fit(data, contexts, max_epochs=1 if args.quick else args.epochs, causal_shrinkage=False,
                  inverse_loss=lam, inverse_temperature=tau)
        rows.append({"design": design.name, "lambda": lam, "tau": tau, **fit_summary(model, "validation")})
        print(pd.Series(rows[-1]).to_string(), flush=True)
    table = pd.DataFrame(rows)
    base = table.loc[table["lambda"] == 0, "s/epoch (validation)"].mean()
    table["epoch time / off"] = (table["s/epoch (validation)"] / base).round(2)
    return table


def grid_choice(table: pd.DataFrame) -> str:
    """Round 5's rule on an :func:`inverse_grid` table, and whether its pick loses on unseen targets.

    The pick is the highest validation inverse AUROC among the settings whose validation loss is within
    0.001 of lambda = 0's (lambda = 0 included); a pick whose AUROC over targets no training row perturbs is
    below lambda = 0's is flagged as the sign of memorisation round 5 found.
    """
    loss, auroc = "val_loss (validation)", "val inverse AUROC (validation)"
    unseen = "val inverse AUROC, targets unseen in training (validation)"
    off = table[table["lambda"] == 0].iloc[0]
    eligible = table[table[loss] <= off[loss] + 0.001]
    pick = eligible.loc[eligible[auroc].idxmax()]
    text = (f"chosen by round 5's rule: lambda = {pick['lambda']:g}, tau = {pick['tau']:g} "
            f"(val inverse AUROC {pick[auroc]:.3f}, val loss {pick[loss]:.5f}; lambda = 0: {off[auroc]:.3f}, "
            f"{off[loss]:.5f})")
    if pick[unseen] < off[unseen]:
        text += (f"\nmemorisation sign: its AUROC on targets unseen in training is {pick[unseen]:.3f}, "
                 f"below lambda = 0's {off[unseen]:.3f}")
    return text


def run_controls(args, network: Interactome) -> list[dict]:
    """The baselines and disease-blind controls, scored once (tier 2, and tier 3 unless ``--tiers12-only``)."""
    tiers = (2,) if args.tiers12_only else (2, 3)
    res = run_benchmark(tiers, list(CONTROLS), quick=args.quick, seed=args.seed, network=network,
                        drug_test_fraction=args.drug_test_fraction)
    return [{"design": f"[control] {m}", **tier_rows(m, res.table)} for m in CONTROLS]


def main() -> None:
    """Parse arguments, run every design and the controls, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--designs", default=",".join(n for n, d in DESIGNS.items()
                                                      if not d.analysis and n not in SAME_AS_CHOSEN),
                        help=f"comma-separated, any of {','.join(DESIGNS)} (default: all but the tiers 1-2 analyses "
                             f"and {', '.join(SAME_AS_CHOSEN)}, which trains what chosen trains)")
    parser.add_argument("--no-controls", action="store_true", help="skip the baselines and controls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs of each design's default model (the shipped default trains up to 8)")
    parser.add_argument("--quick", action="store_true", help="smoke run: quick TwinBench, 1 training epoch")
    parser.add_argument("--tiers12-only", action="store_true",
                        help="only the deciding tiers 1-2 (e.g. a replicate with another --seed): no default model, no tier 3")
    parser.add_argument("--inverse-grid", action="store_true",
                        help="only choose the inverse loss's lambda and tau on the validation perturbations")
    parser.add_argument("--grid", default=",".join(f"{lam:g}:{tau:g}" for lam, tau in INVERSE_GRID),
                        help="--inverse-grid settings as lambda:tau,... (lambda = 0 always runs first)")
    parser.add_argument("--grid-design", default="chosen", choices=("chosen", "shared_chosen"),
                        help="--inverse-grid trains this design's hyper-parameters")
    parser.add_argument("--drug-test-fraction", type=float, default=1.0,
                        help="share of the drugs tier 2 holds out as cases; the rest are training drugs (designs "
                             "chosen_drugs*, chosen_cases*: below 1)")
    parser.add_argument("--out", default="results/ablation")
    args = parser.parse_args()
    names = args.designs.split(",")
    unknown = [n for n in names if n not in DESIGNS]
    if unknown:
        parser.error(f"unknown designs {unknown}; any of {','.join(DESIGNS)}")
    if any(DESIGNS[n].drugs for n in names) and args.drug_test_fraction >= 1.0:
        parser.error("the chosen_drugs* and chosen_cases* designs split tier 2's drugs: give --drug-test-fraction below 1")
    partial = [n for n in names if DESIGNS[n].analysis]
    if partial and not args.tiers12_only:
        parser.error(f"{','.join(partial)}: tiers 1-2 analyses, run them with --tiers12-only")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    network = Interactome.default()
    ContextRegistry.default()
    if args.inverse_grid:
        table = inverse_grid(args, network, [tuple(map(float, item.split(":"))) for item in args.grid.split(",")])
        table.to_csv(out / "inverse_grid.csv", index=False)
        print("\n" + table.to_string(index=False) + f"\n\n{grid_choice(table)}\nwritten: {out / 'inverse_grid.csv'}")
        return
    print(f"TwinCell defaults: {DEFAULT_HPARAMS}", flush=True)
    ppi = network.layer_mask("ppi")
    print(f"prior sign s0 of unsigned PPI edges (sign_prior): {prior_sign(network.edges['sign'].to_numpy()[ppi]):.3f}"
          f" (mean of the {int((network.edges['sign'].to_numpy()[ppi] != 0).sum())} known PPI signs)", flush=True)
    print(coexpression_report(network), flush=True)
    rows = [] if args.no_controls else run_controls(args, network)
    for name in names:
        rows.append(run_design(DESIGNS[name], args, network))
        table = pd.DataFrame(rows).set_index("design")
        table.to_csv(out / "ablation.csv")
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
        print("\n" + table.drop(columns=["note"], errors="ignore").T.to_string())
    print(f"\nwritten: {out / 'ablation.csv'}")


if __name__ == "__main__":
    main()
