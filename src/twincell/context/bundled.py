"""The bundled contexts: real baseline expression for the contexts of TwinCell's perturbation datasets.

Sources (all real, shipped in ``twincell/datasets/``):

* ``kang2018`` -- control (unstimulated) PBMCs of Kang et al. 2018, raw UMI counts, platform ``scrna``.
  Cell types: B cells, CD4 T cells, CD8 T cells, CD14+ monocytes, FCGR3A+ monocytes. **No NK cells.**
* ``ccle_basal`` -- CCLE RNA-seq, 525 lines x 697 genes, log2(TPM+1) -> TPM, platform ``rnaseq``.
* ``l1000_basal`` -- LINCS L1000 basal profiles, 164 lines x 978 landmarks, log2 -> linear, platform ``l1000``.
* ``cell_line_map`` -- which CCLE / L1000 row is which Tahoe, sci-Plex or LINCS core cell line.

Context ids and what they are built from:

* cell lines (Tahoe-100M, sci-Plex 3, LINCS core): mean over the line's CCLE and L1000 profiles;
* NeurIPS 2023 PBMC: ``B_cells`` <- Kang B cells, ``T_cells`` <- CD4 + CD8 T cells,
  ``Myeloid_cells`` <- CD14+ and FCGR3A+ monocytes (mean over cells); ``NK_cells`` has no baseline;
* Kang cell types: the file's ``cell_type`` labels as they are (``B cells``, ``CD4 T cells``, ``CD14+ Monocytes`` ...),
  the ``context`` values of the Kang perturbation dataset;
* ``consensus`` (LINCS consensus signatures over many lines): no baseline.

Contexts without baseline expression get the zero vector (the reference mean) and ``has_baseline=False``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from twincell._cache import atomic_write, cache_dir, code_key
from twincell.context.expression import ExpressionEncoder, hgnc_symbols
from twincell.context.registry import ContextRegistry
from twincell.data.bundled import path as bundled_path
from twincell.data.bundled import read_table
from twincell.data.genes import mapper_sources
from twincell.errors import DataFileError

log = logging.getLogger(__name__)

#: Embedding size of the default ExpressionEncoder.
DEFAULT_DIM = 16

# source labels = bundled dataset names (``twincell data list`` shows their origin)
KANG, CCLE, L1000 = "kang2018 ctrl cells", "ccle_basal", "l1000_basal"
NEURIPS = "openproblems_neurips2023_pbmc"

#: NeurIPS 2023 PBMC context -> the Kang cell types that give its baseline.
NEURIPS_FROM_KANG = {"B_cells": ("B cells",), "T_cells": ("CD4 T cells", "CD8 T cells"),
                     "Myeloid_cells": ("CD14+ Monocytes", "FCGR3A+ Monocytes"), "NK_cells": ()}

#: Contexts of bundled datasets that have no baseline expression, and why.
NO_BASELINE = {"NK_cells": "Kang 2018 (the bundled PBMC baseline) has no NK cells",
               "consensus": "LINCS consensus signatures pool many cell lines; there is no single baseline"}


#: The bundled files the default encoder and registry are built from (with the gene mapper's: their cache key).
REFERENCE_FILES = ("kang2018", "ccle_basal", "l1000_basal", "cell_line_map", "geneformer_v1_tokens",
                   "geneformer_v1_medians", "geneformer_v1_names")


def kang_control_cells() -> ad.AnnData:
    """Control cells of the bundled Kang 2018 PBMC file: raw counts, ``obs`` with ``cell_type``, ``context``, ``platform``.

    ``var_names`` are HGNC symbols (through ``var["ensembl_id"]`` first); ``var`` keeps the file's columns.
    """
    adata = ad.read_h5ad(bundled_path("kang2018"))
    ctrl = adata[adata.obs["condition"].astype(str) == "ctrl"].copy()
    ctrl.obs["context"] = ctrl.obs["cell_type"].astype(str)
    ctrl.obs["platform"] = "scrna"
    symbols = hgnc_symbols(ctrl)
    ctrl.var_names = [s or g for s, g in zip(symbols, ctrl.var_names)]
    ctrl.var_names_make_unique()
    return ctrl


def _bulk(name: str, meta: list[str], platform: str, key: str) -> ad.AnnData:
    df = read_table(name, sep="\t")
    genes = [c for c in df.columns if c not in meta]
    log2 = df[genes].to_numpy(dtype=np.float64)
    linear = np.clip(np.exp2(log2) - 1.0, 0.0, None) if platform == "rnaseq" else np.exp2(log2)
    obs = df[meta].astype(str).replace("nan", "").set_index(df[key].astype(str).to_numpy())
    obs.index.name = None
    obs["platform"] = platform
    return ad.AnnData(linear, obs=obs, var=pd.DataFrame(index=genes))


def ccle_profiles() -> ad.AnnData:
    """CCLE basal RNA-seq as TPM (``2**x - 1``), one row per line (index = DepMap ID), platform ``rnaseq``."""
    return _bulk("ccle_basal", ["cell_line", "cellosaurus_id", "depmap_id", "ccle_name", "lincs_cell_id", "tahoe_context"],
                 "rnaseq", "depmap_id")


def l1000_profiles() -> ad.AnnData:
    """LINCS L1000 basal profiles on a linear scale (``2**x``), index = LINCS cell id, platform ``l1000``."""
    return _bulk("l1000_basal", ["cell_line", "cellosaurus_id", "depmap_id", "lincs_cell_id", "tahoe_context"],
                 "l1000", "lincs_cell_id")


def reference_profiles() -> ad.AnnData:
    """All bundled baseline profiles stacked (union of genes, ``NaN`` where a platform does not measure a gene).

    Rows: Kang control cells (``scrna``), CCLE lines (``rnaseq``), L1000 lines (``l1000``); ``obs`` has
    ``platform``, ``profile`` (cell barcode, DepMap ID or LINCS id) and ``cell_type`` (Kang cells only);
    row names are ``platform:profile``.
    """
    parts = [kang_control_cells(), ccle_profiles(), l1000_profiles()]
    frames = [pd.DataFrame(a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X), index=a.obs_names, columns=a.var_names)
              for a in parts]
    values = pd.concat(frames, axis=0, join="outer", sort=False)
    obs = pd.concat([pd.DataFrame({"platform": a.obs["platform"].to_numpy(), "profile": a.obs_names.astype(str),
                                   "cell_type": a.obs["cell_type"].astype(str).to_numpy() if "cell_type" in a.obs else ""})
                     for a in parts], ignore_index=True)
    obs.index = [f"{pl}:{pr}" for pl, pr in zip(obs["platform"], obs["profile"])]
    return ad.AnnData(values.to_numpy(dtype=np.float64), obs=obs, var=pd.DataFrame(index=values.columns.astype(str)))


@dataclass(frozen=True)
class ContextPlan:
    """How one bundled context is built: the reference rows averaged (none = no baseline)."""

    context: str
    datasets: tuple[str, ...]
    rows: tuple[str, ...]
    sources: tuple[str, ...]
    note: str


def context_plan(reference: ad.AnnData) -> list[ContextPlan]:
    """The bundled contexts, each with the :func:`reference_profiles` rows that give its baseline."""
    plans: dict[str, dict] = {}

    def add(ctx: str, dataset: str, rows: list[str], sources: list[str], note: str = "") -> None:
        p = plans.setdefault(ctx, {"datasets": [], "rows": rows, "sources": sources, "note": note})
        if dataset not in p["datasets"]:
            p["datasets"].append(dataset)

    present = set(reference.obs_names)
    for r in read_table("cell_line_map", sep="\t").itertuples(index=False):
        rows, sources = [], []
        if r.in_ccle_matrix and f"rnaseq:{r.depmap_id}" in present:
            rows.append(f"rnaseq:{r.depmap_id}")
            sources.append(CCLE)
        if r.in_l1000_matrix and f"l1000:{r.l1000_lincs_cell_id}" in present:
            rows.append(f"l1000:{r.l1000_lincs_cell_id}")
            sources.append(L1000)
        note = "" if rows else "no basal expression in the bundled CCLE or L1000 files"
        if isinstance(r.note, str) and r.note:
            note = f"{note}; {r.note}" if note else r.note
        add(str(r.context), str(r.dataset), rows, sources, note)

    kang = reference.obs[reference.obs["platform"] == "scrna"]
    by_type = {t: list(kang.index[kang["cell_type"] == t]) for t in sorted(set(kang["cell_type"]))}
    for ctx, types in NEURIPS_FROM_KANG.items():
        rows = [r for t in types for r in by_type.get(t, [])]
        note = NO_BASELINE.get(ctx, "") if not rows else f"from Kang cell types: {', '.join(types)}"
        add(ctx, NEURIPS, rows, [KANG] if rows else [], note)
    for t, rows in by_type.items():
        add(t, "kang2018", rows, [KANG], "Kang 2018 cell type (control cells)")
    add("consensus", "lincs_overexpression", [], [], NO_BASELINE["consensus"])
    return [ContextPlan(c, tuple(p["datasets"]), tuple(p["rows"]), tuple(p["sources"]), p["note"]) for c, p in plans.items()]


def build_default(dim: int = DEFAULT_DIM) -> tuple[ExpressionEncoder, ContextRegistry]:
    """Fit the default ExpressionEncoder on all bundled reference profiles and encode the bundled contexts.

    Returns
    -------
    (ExpressionEncoder, ContextRegistry)
        The fitted encoder (default platform ``scrna``) and the registry of bundled contexts.
    """
    reference = reference_profiles()
    encoder = ExpressionEncoder(dim=dim, default_platform="scrna").fit(reference)
    encoder.name = ExpressionEncoder.name  # the bundled fit's name (any other fit is named by its fingerprint)
    emb = encoder.encode(reference)
    row_of = {name: i for i, name in enumerate(reference.obs_names)}
    registry = ContextRegistry(encoder.name, encoder.dim)
    for plan in context_plan(reference):
        datasets = ";".join(plan.datasets)
        if not plan.rows:
            registry.add(plan.context, None, "none (default vector)", datasets=datasets, note=plan.note)
            continue
        vec = emb[[row_of[r] for r in plan.rows]].mean(axis=0)
        registry.add(plan.context, vec, " + ".join(plan.sources), datasets=datasets,
                     n_profiles=len(plan.rows), note=plan.note)
    return encoder, registry


def default_context_key(dim: int = DEFAULT_DIM) -> str:
    """Key of the default encoder and registry of dimension ``dim``: a hash of the context code, the gene mapper and
    the bundled reference files."""
    here = Path(__file__).parent
    data = [bundled_path(name) for name in REFERENCE_FILES]
    return code_key([*(here / f for f in ("bundled.py", "expression.py", "dictionaries.py", "registry.py")),
                     *mapper_sources(), *data], f"dim {dim}")


def _cache_paths(dim: int) -> tuple[Path, Path]:
    key = default_context_key(dim)
    return cache_dir() / f"context-encoder-{key}.npz", cache_dir() / f"contexts-{key}.npz"


@lru_cache(maxsize=2)
def _default_pair(dim: int) -> tuple[ExpressionEncoder, ContextRegistry]:
    enc_file, reg_file = _cache_paths(dim)
    if enc_file.exists() and reg_file.exists():
        try:
            return ExpressionEncoder.load(enc_file), ContextRegistry.load(reg_file)
        except DataFileError as exc:
            log.warning("ignoring unreadable context cache: %s", exc.problem)
    encoder, registry = build_default(dim)
    try:
        for obj, target in ((encoder, enc_file), (registry, reg_file)):
            atomic_write(target, obj.save, suffix=".npz")
    except OSError as exc:  # a read-only home still works, just without the cache
        log.warning("cannot write the context cache in %s: %s", enc_file.parent, exc)
    return encoder, registry


def default_encoder(dim: int = DEFAULT_DIM) -> ExpressionEncoder:
    """The ExpressionEncoder fitted on the bundled reference profiles (built once, cached under ``$TWINCELL_CACHE``)."""
    return _default_pair(dim)[0]


def default_registry(dim: int = DEFAULT_DIM) -> ContextRegistry:
    """The bundled contexts encoded by :func:`default_encoder` (a fresh copy each call; cached on disk)."""
    reg = _default_pair(dim)[1]
    copy = ContextRegistry(reg.encoder_name, reg.dim)
    copy.update(reg)
    return copy
