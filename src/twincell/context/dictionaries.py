"""Geneformer's gene dictionaries: token ids, corpus gene medians, symbol -> Ensembl, id collapsing.

Geneformer ships them as pickled Python dicts keyed by Ensembl gene IDs (see
``docs/context.md``). A user's Geneformer checkout holds plain ``.pkl`` files; TwinCell bundles
the official V1 (gc30M) copies gzip-compressed (``geneformer_v1_tokens``, ``geneformer_v1_medians``,
``geneformer_v1_names``). The V2 (gc104M) dictionaries are not bundled and must come from a checkout.
"""

from __future__ import annotations

import gzip
import logging
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from twincell.data.bundled import path as bundled_path
from twincell.data.genes import GeneMapper
from twincell.errors import ContextError, DataFileError

log = logging.getLogger(__name__)

Version = Literal["V1", "V2"]

#: Special tokens of the V2 vocabulary, looked up by name (their ids are never hard-coded).
SPECIAL_TOKENS = ("<pad>", "<mask>", "<cls>", "<eos>")

# file names per role and version, newest official name first (geneformer/__init__.py history)
_FILE_NAMES: dict[Version, dict[str, tuple[str, ...]]] = {
    "V1": {"tokens": ("token_dictionary_gc30M.pkl", "token_dictionary.pkl"),
           "medians": ("gene_median_dictionary_gc30M.pkl", "gene_median_dictionary.pkl"),
           "names": ("gene_name_id_dict_gc30M.pkl", "gene_name_id_dict.pkl"),
           "collapse": ("ensembl_mapping_dict_gc30M.pkl",)},
    "V2": {"tokens": ("token_dictionary_gc104M.pkl", "token_dictionary_gc95M.pkl"),
           "medians": ("gene_median_dictionary_gc104M.pkl", "gene_median_dictionary_gc95M.pkl"),
           "names": ("gene_name_id_dict_gc104M.pkl", "gene_name_id_dict_gc95M.pkl"),
           "collapse": ("ensembl_mapping_dict_gc104M.pkl", "ensembl_mapping_dict_gc95M.pkl")},
}


def read_pickled_dict(file: str | Path) -> dict:
    """Read one pickled dict, plain (``.pkl``) or gzip-compressed (``.pkl.gz``).

    Numpy scalar values (V1 token ids are ``numpy.int16``, medians ``numpy.float64``) are
    converted to Python ``int`` / ``float``.

    Raises
    ------
    DataFileError
        If the file is missing, not a pickle, or does not hold a dict.
    """
    p = Path(file)
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as fh:
            obj = pickle.load(fh)  # Geneformer's own format; only read files you trust
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise DataFileError(f"cannot read Geneformer dictionary {p}: {exc}",
                            "point TwinCell at the .pkl files of a Geneformer checkout") from exc
    if not isinstance(obj, dict):
        raise DataFileError(f"{p} holds a {type(obj).__name__}, not a dict",
                            "use Geneformer's token / gene median / gene name dictionaries")
    return {k: v.item() if hasattr(v, "item") else v for k, v in obj.items()}


@dataclass(frozen=True)
class GeneformerDictionaries:
    """The dictionaries one Geneformer generation needs.

    Attributes
    ----------
    version
        ``"V1"`` (gc30M, 2,048 inputs, no special tokens) or ``"V2"`` (gc104M, 4,096 inputs, ``<cls>``/``<eos>``).
    tokens
        Ensembl ID (and special token name) -> token id.
    medians
        Ensembl ID -> non-zero median of the gene's normalised expression over the pretraining corpus.
    names
        Gene symbol -> Ensembl ID (Geneformer's own table; TwinCell maps symbols with its GeneMapper).
    collapse
        Ensembl ID -> collapsed Ensembl ID, or ``None`` for the identity mapping (V1 before 2024-08).
    source
        Where the files were read from.
    """

    version: Version
    tokens: dict[str, int]
    medians: dict[str, float]
    names: dict[str, str]
    collapse: dict[str, str] | None
    source: str

    def __post_init__(self) -> None:
        genes = [k for k in self.tokens if k not in SPECIAL_TOKENS]
        missing = [g for g in genes if g not in self.medians]
        if missing:
            raise DataFileError(f"{len(missing)} token-dictionary genes have no gene median "
                                f"(e.g. {missing[:3]}) in {self.source}",
                                "use the token and median dictionaries of the same Geneformer release")
        needed = ("<pad>", "<cls>", "<eos>") if self.version == "V2" else ("<pad>",)
        absent = [t for t in needed if t not in self.tokens]
        if absent:
            raise DataFileError(f"the {self.version} token dictionary in {self.source} lacks {absent}",
                                "V2 dictionaries hold <pad>, <mask>, <cls> and <eos>; check the version and files")

    def special(self, name: str) -> int:
        """Token id of a special token, looked up by name (``<pad>``, ``<mask>``, ``<cls>``, ``<eos>``)."""
        if name not in self.tokens:
            raise ContextError(f"token {name!r} is not in the {self.version} token dictionary ({self.source})",
                               f"special tokens present: {[t for t in SPECIAL_TOKENS if t in self.tokens]}")
        return int(self.tokens[name])

    @classmethod
    def bundled_v1(cls) -> GeneformerDictionaries:
        """The official V1 (gc30M) dictionaries bundled with TwinCell (sha256-identical to Geneformer's)."""
        return _bundled_v1()

    @classmethod
    def from_files(cls, tokens: str | Path, medians: str | Path, names: str | Path | None = None,
                   collapse: str | Path | None = None, version: Version | None = None) -> GeneformerDictionaries:
        """Read the dictionaries from explicit files (``.pkl`` or ``.pkl.gz``).

        ``version`` defaults to ``"V2"`` when the token dictionary holds ``<cls>``, else ``"V1"``.
        """
        tok = read_pickled_dict(tokens)
        ver: Version = version or ("V2" if "<cls>" in tok else "V1")
        return cls(ver, tok, read_pickled_dict(medians), read_pickled_dict(names) if names else {},
                   read_pickled_dict(collapse) if collapse else None, source=str(Path(tokens).parent))

    @classmethod
    def find(cls, version: Version, search: Iterable[str | Path], *,
             bundled_fallback: bool = True) -> GeneformerDictionaries:
        """Find a generation's dictionaries in a Geneformer checkout, by their official file names.

        Each directory in ``search`` is tried together with its ``geneformer/`` and
        ``geneformer/gene_dictionaries_30m/`` sub-directories (the layout of the official repository),
        plain ``.pkl`` before ``.pkl.gz``. For V1, files not found fall back to the bundled official copies unless
        ``bundled_fallback`` is False (a folder the user named must hold them).

        Raises
        ------
        ContextError
            If the token or median dictionary is not found (V1: only without ``bundled_fallback``), or ``version`` is
            neither V1 nor V2.
        """
        if version not in _FILE_NAMES:
            raise ContextError(f"unknown Geneformer version {version!r}", "use 'V1' or 'V2'")
        dirs: list[Path] = []
        for d in search:
            for sub in ("", "geneformer", "geneformer/gene_dictionaries_30m", "gene_dictionaries_30m"):
                cand = Path(d) / sub
                if cand.is_dir() and cand not in dirs:
                    dirs.append(cand)
        found: dict[str, Path] = {}
        for role, names in _FILE_NAMES[version].items():
            for name in names:
                hit = next((d / f for d in dirs for f in (name, name + ".gz") if (d / f).is_file()), None)
                if hit is not None:
                    found[role] = hit
                    break
        if "tokens" in found and "medians" in found:
            log.info("Geneformer %s dictionaries from %s", version, found["tokens"].parent)
            return cls.from_files(found["tokens"], found["medians"], found.get("names"), found.get("collapse"), version)
        if version == "V1" and bundled_fallback:
            log.info("Geneformer V1 dictionaries not in %s; using the bundled official gc30M copies", [str(d) for d in dirs])
            return cls.bundled_v1()
        raise ContextError(f"Geneformer {version} dictionaries ({', '.join(_FILE_NAMES[version]['tokens'][:1])}, "
                           f"{', '.join(_FILE_NAMES[version]['medians'][:1])}) not found in "
                           f"{[str(d) for d in dirs] or [str(d) for d in search]}",
                           "pass the folder of your Geneformer checkout that holds them (geneformer/ in the official repository)")


@lru_cache(maxsize=1)
def _bundled_v1() -> GeneformerDictionaries:
    return GeneformerDictionaries(
        "V1", read_pickled_dict(bundled_path("geneformer_v1_tokens")), read_pickled_dict(bundled_path("geneformer_v1_medians")),
        read_pickled_dict(bundled_path("geneformer_v1_names")), None, source="bundled Geneformer V1 gc30M dictionaries")


def medians_by_symbol(dicts: GeneformerDictionaries | None = None) -> dict[str, float]:
    """Corpus gene median per current HGNC symbol (Ensembl IDs mapped with the GeneMapper).

    Defaults to the bundled V1 medians. Ensembl IDs without an HGNC symbol are left out; where
    several IDs share a symbol the first one in dictionary order is kept.
    """
    d = dicts or GeneformerDictionaries.bundled_v1()
    ens = list(d.medians)
    symbols = GeneMapper.default().to_symbols(ens, kind="ensembl")
    out: dict[str, float] = {}
    for e, s in zip(ens, symbols):
        if s is not None:
            out.setdefault(s, float(d.medians[e]))
    return out
