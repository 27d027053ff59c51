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
from pathlib import Path

import pandas as pd

from twincell._cache import cached_build
from twincell.data.bundled import path, read_table
from twincell.data.genes import GeneMapper, mapper_sources
from twincell.errors import DataFileError, TwinCellError

POSITIVE_ACTIONS = frozenset({"AGONIST", "ACTIVATOR", "POSITIVE ALLOSTERIC MODULATOR", "OPENER", "PARTIAL AGONIST",
                              "POSITIVE MODULATOR", "RELEASING AGENT"})
NEGATIVE_ACTIONS = frozenset({"INHIBITOR", "ANTAGONIST", "BLOCKER", "NEGATIVE ALLOSTERIC MODULATOR", "INVERSE AGONIST",
                              "ALLOSTERIC ANTAGONIST", "ANTIBODY BINDING"})

#: Counter-ion, hydrate and formulation words dropped when names are normalised (whole words only). Not lithium: it is
#: the active moiety of lithium carbonate and lithium citrate, which normalise to ``lithium``.
SALT_WORDS = frozenset({
    "hydrochloride", "dihydrochloride", "trihydrochloride", "hcl", "2hcl", "3hcl", "hydrobromide", "hbr",
    "citrate", "carbonate", "sodium", "disodium", "potassium", "dipotassium", "calcium", "magnesium", "zinc",
    "mesylate", "dimesylate", "mesilate", "maleate", "dimaleate", "tosylate", "ditosylate", "sulfate", "disulfate",
    "bisulfate", "hydrogen", "sulphate", "acetate", "diacetate", "hydrate", "hemihydrate", "monohydrate", "dihydrate",
    "trihydrate", "sesquihydrate", "bromide", "chloride", "iodide", "phosphate", "diphosphate", "fumarate",
    "hemifumarate", "tartrate", "bitartrate", "succinate", "besylate", "besilate", "isethionate", "lactate",
    "gluconate", "nitrate", "oxalate", "malate", "napsylate", "pamoate", "hyclate", "trifluoroacetate", "tfa",
    "salt", "anhydrous",
})
#: Names of one substance that the bundled tables spell differently: the approved-target table's name (US adopted
#: name or common name; lower case) -> DrugCentral 2016's (international nonproprietary name, or the only form
#: DrugCentral lists). Without them the approved table's drug would be a second drug of its own, its action unknown,
#: and hiding a disease's drugs by name would leave DrugCentral's copy in place. Each pair is the same drug under
#: its USAN / INN (or L-DOPA / levodopa) names; the ester is the form DrugCentral lists for beclometasone.
DRUG_NAME_SYNONYMS: dict[str, str] = {
    "cyclosporine": "ciclosporin",
    "hydroxyurea": "hydroxycarbamide",
    "calcipotriol": "calcipotriene",
    "l-dopa": "levodopa",
    "beclomethasone": "beclometasone dipropionate",
}
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
    ``"Quisinostat (JNJ-26481585) 2HCl"`` -> ``"quisinostat"``. A name made of salt words alone is its own parent
    (``"Calcium carbonate"`` -> ``"calcium carbonate"``), so such drugs do not all share the empty name.
    """
    s = _PAREN.sub(" ", str(name).lower())
    words = [w for w in _SPACE.split(s.replace(",", " ")) if w]
    kept = [w for w in words if w not in SALT_WORDS]
    return " ".join(kept or words).strip(" -")


def name_candidates(name: str) -> list[str]:
    """Keys tried, in order, to match ``name``: exact lower-case, normalised, each parenthesised alias, then the
    :data:`DRUG_NAME_SYNONYMS` of those keys."""
    exact = _SPACE.sub(" ", str(name).strip().lower())
    keys = [exact, normalize_drug_name(name)] + [normalize_drug_name(inner) for inner in _PAREN.findall(str(name))]
    keys += [DRUG_NAME_SYNONYMS[k] for k in keys if k in DRUG_NAME_SYNONYMS]
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
        One row per (drug_id, indication): columns ``drug_id``, ``indication`` (UMLS CUI or name: the counting
        key) and optionally ``name`` (readable indication name); may be empty.
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
                            else pd.DataFrame({"drug_id": pd.Series(dtype=int), "indication": pd.Series(dtype=str),
                                               "name": pd.Series(dtype=str)}))
        self.unmapped_genes = list(unmapped_genes)
        self.n_nonhuman_rows = int(n_nonhuman_rows)
        self._targets: dict[int, dict[str, int]] = {}
        for d, gene, sign in zip(self.table["drug_id"].astype(int).tolist(), self.table["gene"].tolist(),
                                 self.table["sign"].astype(int).tolist()):
            self._targets.setdefault(d, {})[gene] = sign
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

    @classmethod
    def universe(cls) -> DrugTargets:
        """The druggable universe: DrugCentral 2016 ∪ the bundled approved-target table, built once.

        This is the one table behind every ``druggable`` column, the TwinBench druggable-genome metrics and
        the disease-blind drug controls. Approved-table pairs that DrugCentral lacks (e.g. ciclosporin ->
        CAMLG, from DrugBank via PharmacotherapyDB, or post-2016 approvals) are added with action type
        ``APPROVED TARGET`` (sign 0: the table records no direction); their drug joins the DrugCentral drug of
        the same name where one exists, and the approved indication is recorded for drugs DrugCentral lacks.
        Training data keep :meth:`default` (DrugCentral actions only).
        """
        return _drug_target_universe()

    def per_gene(self) -> pd.DataFrame:
        """One row per target gene: ``drugs`` and ``drug_actions`` (``;``-joined, drug order), ``n_drugs``.

        ``drug_actions`` holds one action per drug (``inhibitor``, ``agonist``, ... lower-case; ``unknown`` when
        the source names no action), aligned with ``drugs``.
        """
        t = self.table.sort_values(["gene", "drug"])
        actions = t["action_type"].fillna("").str.lower().replace({"": "unknown", "approved target": "unknown"})
        grouped = t.assign(action=actions).groupby("gene", sort=True)
        return pd.DataFrame({"drugs": grouped["drug"].agg(";".join), "drug_actions": grouped["action"].agg(";".join),
                             "n_drugs": grouped["drug_id"].nunique()})

    def indications_per_gene(self) -> pd.Series:
        """Gene -> ``;``-joined distinct approved indications of its drugs (empty string when none recorded)."""
        ind = self.indications
        readable = ind["name"].where(ind["name"].notna(), ind["indication"]) if "name" in ind else ind["indication"]
        pairs = self.table[["gene", "drug_id"]].merge(ind.assign(readable=readable), on="drug_id", how="inner")
        names = pairs.groupby("gene")["readable"].agg(lambda s: ";".join(sorted({str(v).lower() for v in s})))
        return names.reindex(sorted(self.druggable_genes()), fill_value="").rename("indications")

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

    def same_drug_ids(self, names: Iterable[str]) -> set[int]:
        """Ids of the drugs ``names`` match (:meth:`resolve`) and of every salt form of them (one parent name,
        :func:`normalize_drug_name`): the drugs that hiding ``names`` hides (empty when none matches)."""
        matched = set().union(*(self._drug_ids(str(n)) for n in names))
        return matched.union(*(self._normalized[normalize_drug_name(self._name_of[i])] for i in matched))

    def without_drugs(self, names: Iterable[str]) -> DrugTargets:
        """A copy without the drugs ``names`` match, and every salt form of them (their target pairs and indications).

        What a drug-table control may know when those drugs are the answer it is scored on: a held-out drug's own
        targets, or the drugs approved for the disease under test. ``"prednisolone"`` also hides prednisolone acetate
        and prednisolone sodium phosphate (one parent name, :func:`normalize_drug_name`). Names that match no drug hide
        nothing.
        """
        hidden = self.same_drug_ids(names)
        if not hidden:
            return self
        return DrugTargets(self.table[~self.table["drug_id"].isin(hidden)],
                           self.indications[~self.indications["drug_id"].isin(hidden)],
                           self.unmapped_genes, self.n_nonhuman_rows)

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
        ind = pd.DataFrame({"drug_id": indications["DRUG_ID"].astype(int), "indication": key,
                            "name": indications["INDICATION_FDB"]}).drop_duplicates(["drug_id", "indication"])
    return DrugTargets(table, ind, unmapped, n_nonhuman)


APPROVED_ACTION = "APPROVED TARGET"


def add_approved_targets(drugs: DrugTargets, approved: pd.DataFrame) -> DrugTargets:
    """``drugs`` plus the (drug, gene) pairs of an approved-target table that it lacks.

    Parameters
    ----------
    drugs
        A drug-target table (DrugCentral).
    approved
        Columns ``gene`` (HGNC symbol), ``drug`` and ``disease_name`` (the approved indication).

    Returns
    -------
    DrugTargets
        New pairs carry ``action_type = "APPROVED TARGET"`` and sign 0; a drug that ``drugs`` does not know gets a
        new negative ``drug_id`` and its approved indication.
    """
    table, indications = drugs.table.copy(), drugs.indications.copy()
    known = set(zip(table["drug_id"].astype(int), table["gene"]))
    new_ids: dict[str, int] = {}
    rows, ind_rows = [], []
    for gene, drug, disease in approved[["gene", "drug", "disease_name"]].itertuples(index=False):
        ids = sorted(drugs._drug_ids(drug))
        if not ids:
            ids = [new_ids.setdefault(drug.lower(), -1 - len(new_ids))]
            ind_rows.append((ids[0], disease.lower(), disease))
        for did in ids:
            if (did, gene) not in known:
                known.add((did, gene))
                rows.append({"drug_id": did, "drug": drugs._name_of.get(did, drug.lower()), "gene": gene, "sign": 0,
                             "action_type": APPROVED_ACTION})
    table = pd.concat([table, pd.DataFrame(rows, columns=table.columns)], ignore_index=True)
    if ind_rows:
        indications = pd.concat([indications, pd.DataFrame(ind_rows, columns=["drug_id", "indication", "name"])],
                                ignore_index=True).drop_duplicates()
    return DrugTargets(table, indications, drugs.unmapped_genes, drugs.n_nonhuman_rows)


def read_approved_targets() -> pd.DataFrame:
    """The bundled approved-drug target table: ``disease, disease_name, gene, drug, source`` (genes as HGNC symbols)."""
    raw = read_table("approved_targets", sep="\t", dtype=str, keep_default_na=False)
    mapped = GeneMapper.default().map(raw["gene_symbol"], kind="auto").symbols
    out = raw.assign(gene=raw["gene_symbol"].map(mapped)).dropna(subset=["gene"])
    return out[["disease", "disease_name", "gene", "drug", "source"]].reset_index(drop=True)


def _sources(*names: str) -> list[Path | str]:
    """This module, the gene mapper's sources and the bundled tables ``names``: the cache key of a drug table."""
    return [__file__, *mapper_sources(), *(path(n) for n in names)]


@lru_cache(maxsize=1)
def _drug_target_universe() -> DrugTargets:
    return cached_build("drug-universe", _sources("drugcentral_targets", "drugcentral_indications", "approved_targets"),
                        lambda: add_approved_targets(DrugTargets.default(), read_approved_targets()))


@lru_cache(maxsize=1)
def _default_drug_targets() -> DrugTargets:
    return cached_build("drug-targets", _sources("drugcentral_targets", "drugcentral_indications"),
                        lambda: build_drug_targets(*(read_table(name, sep="\t", dtype=str, keep_default_na=False)
                                                     for name in ("drugcentral_targets", "drugcentral_indications"))))
