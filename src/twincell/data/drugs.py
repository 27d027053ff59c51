"""Drug -> target table (DrugCentral 2016, bundled) with action signs and drug-name matching.

Action sign convention (``ACTION_TYPE`` of DrugCentral):

* ``+1`` (raises the target's activity): AGONIST, ACTIVATOR, POSITIVE ALLOSTERIC MODULATOR, OPENER,
  PARTIAL AGONIST, POSITIVE MODULATOR, RELEASING AGENT;
* ``-1`` (lowers it): INHIBITOR, ANTAGONIST, BLOCKER, NEGATIVE ALLOSTERIC MODULATOR, INVERSE AGONIST,
  ALLOSTERIC ANTAGONIST and ANTIBODY BINDING (therapeutic antibodies in DrugCentral 2016 are almost all
  neutralising or depleting, so binding is taken as loss of function);
* ``0`` otherwise (MODULATOR, SUBSTRATE, OTHER): the drug binds the target, the direction is unknown.

When one drug lists the same gene with different signs, a non-zero sign wins over ``0`` and two opposite
non-zero signs give ``0``. Multi-subunit targets (``IFNAR1|IFNAR2``) give every subunit the row's sign.
Target genes go through :class:`~twincell.data.genes.GeneMapper` (symbol, else UniProt); rows without a
human gene (viral or bacterial targets) are left out and counted in :attr:`DrugTargets.n_nonhuman_rows`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import pandas as pd

from twincell.data.bundled import read_table
from twincell.data.genes import GeneMapper
from twincell.errors import DataFileError, TwinCellError

POSITIVE_ACTIONS = frozenset({"AGONIST", "ACTIVATOR", "POSITIVE ALLOSTERIC MODULATOR", "OPENER", "PARTIAL AGONIST",
                              "POSITIVE MODULATOR", "RELEASING AGENT"})
NEGATIVE_ACTIONS = frozenset({"INHIBITOR", "ANTAGONIST", "BLOCKER", "NEGATIVE ALLOSTERIC MODULATOR", "INVERSE AGONIST",
                              "ALLOSTERIC ANTAGONIST", "ANTIBODY BINDING"})

#: Counter-ion, hydrate and formulation words dropped when names are normalised (whole words only).
SALT_WORDS = frozenset({
    "hydrochloride", "dihydrochloride", "trihydrochloride", "hcl", "2hcl", "3hcl", "hydrobromide", "hbr",
    "citrate", "sodium", "disodium", "potassium", "dipotassium", "calcium", "magnesium", "zinc", "lithium",
    "mesylate", "dimesylate", "mesilate", "maleate", "dimaleate", "tosylate", "ditosylate", "sulfate", "disulfate",
    "bisulfate", "hydrogen", "sulphate", "acetate", "diacetate", "hydrate", "hemihydrate", "monohydrate", "dihydrate",
    "trihydrate", "sesquihydrate", "bromide", "chloride", "iodide", "phosphate", "diphosphate", "fumarate",
    "hemifumarate", "tartrate", "bitartrate", "succinate", "besylate", "besilate", "isethionate", "lactate",
    "gluconate", "nitrate", "oxalate", "malate", "napsylate", "pamoate", "hyclate", "trifluoroacetate", "tfa",
    "salt", "anhydrous",
})
_PAREN = re.compile(r"\(([^()]*)\)")
_SPACE = re.compile(r"\s+")


def action_sign(action_type: str | float | None) -> int:
    """Sign of one DrugCentral ``ACTION_TYPE`` (+1 activating, -1 inhibiting, 0 unknown direction)."""
    a = str(action_type).strip().upper() if isinstance(action_type, str) else ""
    if a in POSITIVE_ACTIONS:
        return 1
    if a in NEGATIVE_ACTIONS:
        return -1
    return 0


def normalize_drug_name(name: str) -> str:
    """Lower-case a drug name and drop parentheses contents, salt / hydrate words and extra spaces.

    ``"Tofacitinib citrate"`` -> ``"tofacitinib"``, ``"Trametinib (GSK1120212)"`` -> ``"trametinib"``,
    ``"Quisinostat (JNJ-26481585) 2HCl"`` -> ``"quisinostat"``.
    """
    s = _PAREN.sub(" ", str(name).lower())
    words = [w for w in _SPACE.split(s.replace(",", " ")) if w and w not in SALT_WORDS]
    return " ".join(words).strip(" -")


def name_candidates(name: str) -> list[str]:
    """Keys tried, in order, to match ``name``: exact lower-case, normalised, then each parenthesised alias."""
    exact = _SPACE.sub(" ", str(name).strip().lower())
    keys = [exact, normalize_drug_name(name)] + [normalize_drug_name(inner) for inner in _PAREN.findall(str(name))]
    return [k for k in dict.fromkeys(keys) if k]


def _combine_signs(signs: Iterable[int]) -> int:
    nonzero = {s for s in signs if s != 0}
    return nonzero.pop() if len(nonzero) == 1 else 0


class DrugTargets:
    """Drug -> signed target genes, with name matching and per-gene summaries.

    Parameters
    ----------
    table
        One row per (drug, gene): columns ``drug_id`` (int), ``drug`` (DrugCentral name), ``gene`` (HGNC symbol),
        ``sign`` (-1/0/+1), ``action_type`` (``;``-joined source actions).
    indications
        One row per (drug_id, indication): columns ``drug_id``, ``indication`` (UMLS CUI or name); may be empty.
    unmapped_genes
        Target identifiers that did not map to an HGNC symbol.
    n_nonhuman_rows
        Source rows left out because they name no human gene.
    """

    def __init__(self, table: pd.DataFrame, indications: pd.DataFrame | None = None,
                 unmapped_genes: Iterable[str] = (), n_nonhuman_rows: int = 0) -> None:
        missing = {"drug_id", "drug", "gene", "sign", "action_type"} - set(table.columns)
        if missing:
            raise DataFileError(f"drug-target table lacks columns {sorted(missing)}",
                                "pass drug_id, drug, gene, sign and action_type columns")
        self.table = table.reset_index(drop=True)
        self.indications = (indications if indications is not None
                            else pd.DataFrame({"drug_id": pd.Series(dtype=int), "indication": pd.Series(dtype=str)}))
        self.unmapped_genes = list(unmapped_genes)
        self.n_nonhuman_rows = int(n_nonhuman_rows)
        self._targets = {int(d): dict(zip(g["gene"], g["sign"].astype(int)))
                         for d, g in self.table.groupby("drug_id", sort=False)}
        names = self.table.drop_duplicates("drug_id")[["drug", "drug_id"]]
        self._name_of = dict(zip(names["drug_id"].astype(int), names["drug"]))
        self._exact: dict[str, set[int]] = {}
        self._normalized: dict[str, set[int]] = {}
        for drug, did in zip(names["drug"], names["drug_id"].astype(int)):
            self._exact.setdefault(_SPACE.sub(" ", drug.strip().lower()), set()).add(did)
            self._normalized.setdefault(normalize_drug_name(drug), set()).add(did)

    @classmethod
    def default(cls) -> DrugTargets:
        """The bundled DrugCentral 2016 tables (``drugcentral_targets``, ``drugcentral_indications``), built once."""
        return _default_drug_targets()

    @property
    def drugs(self) -> list[str]:
        """DrugCentral names of the drugs with at least one human target."""
        return sorted(self._name_of.values())

    def _drug_ids(self, name: str) -> set[int]:
        """DrugCentral ids matched by ``name``: an exact (case-insensitive) name wins over a salt-normalised one."""
        for key in name_candidates(name):
            for index in (self._exact, self._normalized):
                if key in index:
                    return index[key]
        return set()

    def resolve(self, name: str) -> list[str]:
        """DrugCentral names that ``name`` matches (empty when none); several when salt forms share a parent name."""
        return sorted(self._name_of[i] for i in self._drug_ids(name))

    def _lookup(self, name: str) -> dict[str, int] | None:
        ids = self._drug_ids(name)
        if not ids:
            return None
        per_gene: dict[str, list[int]] = {}
        for did in sorted(ids):
            for gene, sign in self._targets[did].items():
                per_gene.setdefault(gene, []).append(sign)
        return {g: _combine_signs(s) for g, s in sorted(per_gene.items())}

    def targets(self, drug: str) -> dict[str, int]:
        """Target gene -> action sign (+1 / -1 / 0) of one drug (any capitalisation or salt form).

        Raises
        ------
        TwinCellError
            If no DrugCentral drug matches the name.
        """
        hit = self._lookup(drug)
        if hit is None:
            raise TwinCellError(f"drug {drug!r} is not in the DrugCentral 2016 target table",
                                "check the spelling or use the generic name (salt forms are matched automatically)")
        return hit

    def match(self, names: Iterable[str]) -> tuple[dict[str, dict[str, int]], list[str]]:
        """Match many drug names at once.

        Returns
        -------
        matched, unmatched
            ``matched[name] = {gene: sign}`` for the names with a human target; ``unmatched`` lists the others
            (input order, duplicates once).
        """
        matched: dict[str, dict[str, int]] = {}
        unmatched: list[str] = []
        for name in dict.fromkeys(str(n) for n in names):
            hit = self._lookup(name)
            if hit:
                matched[name] = hit
            else:
                unmatched.append(name)
        return matched, unmatched

    def druggable_genes(self) -> set[str]:
        """Genes targeted by at least one drug."""
        return set(self.table["gene"])

    def n_drugs_per_gene(self) -> pd.Series:
        """Number of distinct drugs per target gene (descending)."""
        return self.table.groupby("gene")["drug_id"].nunique().sort_values(ascending=False).rename("n_drugs")

    def indication_counts_per_gene(self) -> pd.Series:
        """Number of distinct approved indications of the drugs that target each gene (descending).

        A disease-blind popularity score: genes hit by drugs used for many conditions rank first. Genes whose
        drugs have no recorded indication get 0.
        """
        pairs = self.table[["gene", "drug_id"]].merge(self.indications, on="drug_id", how="left")
        counts = pairs.groupby("gene")["indication"].nunique()
        return counts.reindex(sorted(self.druggable_genes()), fill_value=0).sort_values(ascending=False).rename(
            "n_indications")


def build_drug_targets(raw: pd.DataFrame, indications: pd.DataFrame | None = None,
                       mapper: GeneMapper | None = None) -> DrugTargets:
    """Build :class:`DrugTargets` from a DrugCentral-format table.

    Parameters
    ----------
    raw
        Columns ``DRUG_ID``, ``DRUG_NAME``, ``GENE`` (``|``-joined for complexes), ``UNIPROT`` (aligned with
        ``GENE``), ``ACTION_TYPE``.
    indications
        DrugCentral indication table (``DRUG_ID``, ``UMLS_CUI``, ``INDICATION_FDB``), optional.
    mapper
        Gene mapper (default: the bundled one).
    """
    missing = {"DRUG_ID", "DRUG_NAME", "GENE", "UNIPROT", "ACTION_TYPE"} - set(raw.columns)
    if missing:
        raise DataFileError(f"DrugCentral target table lacks columns {sorted(missing)}",
                            "use the drug_target table of DrugCentral (DRUG_ID, DRUG_NAME, GENE, UNIPROT, ACTION_TYPE)")
    mapper = mapper or GeneMapper.default()
    rows: list[tuple[int, str, str, str, str]] = []
    n_nonhuman = 0
    columns = ["DRUG_ID", "DRUG_NAME", "GENE", "UNIPROT", "ACTION_TYPE"]
    for did, drug, genes, uniprots, action in raw[columns].itertuples(index=False):
        if not genes:
            n_nonhuman += 1
            continue
        gene_list = genes.split("|")
        uni_list = uniprots.split("|") if uniprots else []
        for k, gene in enumerate(gene_list):
            rows.append((int(did), drug, gene.strip(), uni_list[k].strip() if k < len(uni_list) else "", action))
    long = pd.DataFrame(rows, columns=["drug_id", "drug", "gene_raw", "uniprot", "action_type"])
    by_symbol = mapper.map(long["gene_raw"], kind="symbol").symbols
    by_uniprot = mapper.map([u for u in long["uniprot"] if u], kind="uniprot").symbols
    long["gene"] = [by_symbol.get(g) or by_uniprot.get(u) for g, u in zip(long["gene_raw"], long["uniprot"])]
    unmapped = sorted(set(long.loc[long["gene"].isna(), "gene_raw"]))
    long = long.dropna(subset=["gene"])
    long["sign"] = long["action_type"].map(action_sign)
    table = (long.groupby(["drug_id", "drug", "gene"], sort=True)
             .agg(sign=("sign", _combine_signs), action_type=("action_type", lambda a: ";".join(sorted(set(a)))))
             .reset_index())
    ind = None
    if indications is not None:
        key = indications["UMLS_CUI"].where(indications["UMLS_CUI"] != "", indications["INDICATION_FDB"].str.lower())
        ind = pd.DataFrame({"drug_id": indications["DRUG_ID"].astype(int), "indication": key}).drop_duplicates()
    return DrugTargets(table, ind, unmapped, n_nonhuman)


@lru_cache(maxsize=1)
def _default_drug_targets() -> DrugTargets:
    return build_drug_targets(*(read_table(name, sep="\t", dtype=str, keep_default_na=False)
                                for name in ("drugcentral_targets", "drugcentral_indications")))
