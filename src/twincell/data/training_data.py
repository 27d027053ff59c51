"""The bundled perturbation datasets the default model trains on, loaded once and cached as h5ad files.

``load_default_training_data()`` returns LINCS L1000 over-expression (z-scores), Tahoe-100M, NeurIPS 2023
PBMC and sci-Plex 3 drug signatures (inverse-normal rank scores) and CytoSig cytokine signatures (log fold
changes; cytokines enter through their LIANA receptors, :mod:`twincell.data.cytosig`), each as its own
:class:`~twincell.data.perturbation.PerturbationDataset` (value types differ, so they are not stacked).
The first call builds them from the bundled files (~10 s) and writes them to ``$TWINCELL_CACHE``
(default ``~/.cache/twincell``); the cache file names hold a hash of the loader code, the package version and
the bundled files' sizes, so a changed loader or file never reads a stale cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import anndata as ad

from twincell._cache import atomic_write, cache_dir, code_key
from twincell.data import cytosig, drugs, genes, lincs, perturbation, ranked
from twincell.data.bundled import path
from twincell.data.cytosig import load_cytosig
from twincell.data.drugs import DrugTargets
from twincell.data.lincs import load_lincs_overexpression
from twincell.data.perturbation import PerturbationDataset
from twincell.data.pseudobulk import from_anndata
from twincell.data.ranked import load_ranked_signatures
from twincell.errors import DataFileError

DEFAULT_DATASETS = ("lincs_overexpression", "signatures_tahoe", "signatures_neurips", "signatures_sciplex", "cytosig")
_LOADERS: dict[str, Callable[[], PerturbationDataset]] = {
    "lincs_overexpression": load_lincs_overexpression,
    "cytosig": load_cytosig,
    **{name: (lambda name=name: load_ranked_signatures(name)) for name in ranked.RANKED_DATASETS},
}


def bundled_key(name: str) -> str:
    """Key of one bundled dataset's cache entry: its loaders' code and the sizes of the bundled files it is built from
    (a cached copy, or anything trained on it, is stale when the key changes)."""
    files = ("drugcentral_targets", "hgnc", "liana_lr", name)
    sizes = ";".join(f"{f}={path(f).stat().st_size}" for f in files)
    return code_key([m.__file__ for m in (cytosig, drugs, genes, lincs, perturbation, ranked)], sizes)


def default_training_key() -> str:
    """Key of the default training data (:data:`DEFAULT_DATASETS`): their loaders' code and bundled files' sizes."""
    return code_key([], ";".join(bundled_key(name) for name in DEFAULT_DATASETS))


def load_bundled(name: str, *, use_cache: bool = True) -> PerturbationDataset:
    """One bundled perturbation dataset by name (see :data:`DEFAULT_DATASETS`), from the cache when present."""
    if name not in _LOADERS:
        raise DataFileError(f"unknown bundled perturbation dataset {name!r}", f"choose one of {sorted(_LOADERS)}")
    if not use_cache:
        return _LOADERS[name]()
    f = cache_dir() / "perturbations" / f"{name}-{bundled_key(name)}.h5ad"
    if f.exists():
        try:
            return PerturbationDataset.read(f)
        except DataFileError:
            f.unlink()
    ds = _LOADERS[name]()
    atomic_write(f, ds.write)
    return ds


def load_default_training_data(names: Iterable[str] = DEFAULT_DATASETS, *, use_cache: bool = True,
                               ) -> list[PerturbationDataset]:
    """The datasets the default model trains on: LINCS + Tahoe + NeurIPS + sci-Plex + CytoSig (cached after the first call).

    Parameters
    ----------
    names
        Subset of :data:`DEFAULT_DATASETS` (order kept).
    use_cache
        Read / write the h5ad cache (default); ``False`` rebuilds from the bundled files.
    """
    return [load_bundled(n, use_cache=use_cache) for n in names]


def load_kang2018() -> PerturbationDataset:
    """Kang et al. 2018 IFN-beta PBMC (bundled ``kang2018``): one row per cell type, donors as paired replicates.

    Perturbation ``IFN-beta`` (type ``cytokine``), targets from DrugCentral's interferon beta-1a (IFNAR1 and
    IFNAR2, agonist); control = the same donor's unstimulated cells of the same cell type.
    """
    adata = ad.read_h5ad(path("kang2018"))
    adata.obs["perturbation"] = adata.obs["condition"].astype(str).map({"ctrl": "control", "stim": "IFN-beta"})
    return from_anndata(adata, "perturbation", "control", "cell_type", "donor", perturbation_type="cytokine",
                        targets={"IFN-beta": DrugTargets.default().targets("interferon beta-1a")},
                        gene_key="ensembl_id", dataset="kang2018")
