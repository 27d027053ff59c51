"""Build the interactome's edge table from the bundled raw sources.

Sources (all real, see ``datasets/SOURCES.md``):

* ``pathlinker`` - PathLinker 2018 human PPI (UniProt pairs, evidence weight 0-0.99; undirected
  pairs are stored both ways, directed edges once). The backbone: every PPI edge comes from here.
* ``omnipath`` - OmniPath signed consensus (``source interaction target``; complexes skipped).
* ``signor`` / ``psp`` - SIGNOR and PhosphoSitePlus signed directed protein-protein rows
  (rows whose SOURCE is only ``PsP`` count as ``psp``, a non-commercial source).
* ``collectri`` - CollecTRI signed TF -> target edges (the transcriptional layer).

Sign rule: every signed row of the sign sources that names a PPI edge ``u -> v`` casts one vote
(+1 or -1); the edge's sign is the sign of the vote sum, and 0 (unknown, learnable) on a tie or with
no votes. Signs are never copied to the reverse direction of an undirected pair.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from twincell.data.bundled import read_table
from twincell.data.genes import GeneMapper

PPI_SOURCES = ("pathlinker",)
SIGN_SOURCES = ("omnipath", "signor", "psp")
TF_SOURCES = ("collectri",)
ALL_SOURCES = PPI_SOURCES + SIGN_SOURCES + TF_SOURCES


#: PathLinker's name of the PhosphoSitePlus evidence in ``db_sources`` (the ``psp`` source's non-commercial data).
PATHLINKER_PSP = "Phosphosite"


def pathlinker_edges(mapper: GeneMapper, min_weight: float = 0.0, without: Collection[str] = (),
                     ) -> tuple[pd.DataFrame, list[str]]:
    """PathLinker 2018 PPI edges over HGNC symbols.

    ``without`` names evidence sources of the file's ``db_sources`` to leave out (e.g. :data:`PATHLINKER_PSP` when
    the network is built without PhosphoSitePlus): they leave every row's evidence list, and rows with no other
    evidence are left out. The others keep PathLinker's weight, which was computed with all their evidence.

    Returns
    -------
    edges
        Columns ``source, target, weight, directed, evidence``; one row per directed symbol pair
        (isoforms merged: max weight, directed if any row is directed, except that a pair any isoform row gives as
        undirected is undirected both ways, :func:`undirected_pairs_agree`). Rows with evidence score 0
        (202 in the file, with real evidence listed) get the file's smallest positive score (0.0655).
    unmapped
        UniProt accessions without a current HGNC symbol (their edges are left out).
    """
    raw = read_table("pathlinker_ppi", ["#tail", "head", "weight", "directed", "db_sources"], sep="\t")
    # 202 rows score 0 although they carry evidence (e.g. BRAF -> MAP2K1): keep them at the file's
    # smallest positive score, the weakest evidence level PathLinker assigns.
    floor = float(raw.loc[raw["weight"] > 0, "weight"].min())
    raw = raw.assign(weight=raw["weight"].where(raw["weight"] > 0, floor))
    raw = raw[raw["weight"] >= min_weight]
    if without:
        kept = raw["db_sources"].astype(str).str.split("|").map(lambda s: "|".join(x for x in s if x not in without))
        raw = raw.assign(db_sources=kept)[kept != ""]
    ids = pd.unique(pd.concat([raw["#tail"], raw["head"]]))
    res = mapper.map(ids, kind="uniprot")
    df = pd.DataFrame({
        "source": raw["#tail"].map(res.symbols),
        "target": raw["head"].map(res.symbols),
        "weight": raw["weight"].astype("float32"),
        "directed": raw["directed"].astype(str).str.lower().eq("true"),
        "evidence": raw["db_sources"].astype(str),
    }).dropna(subset=["source", "target"])
    df = df[df["source"] != df["target"]]
    df = (df.sort_values("weight", ascending=False)
            .groupby(["source", "target"], sort=False, as_index=False)
            .agg(weight=("weight", "max"), directed=("directed", "any"), evidence=("evidence", "first")))
    return undirected_pairs_agree(df), res.unmapped


def undirected_pairs_agree(edges: pd.DataFrame) -> pd.DataFrame:
    """``edges`` with a row marked undirected wherever its reverse row (same layer, if any) is undirected.

    Merging rows (isoforms, duplicates) can leave ``A -> B`` directed beside an undirected ``B -> A``: one row of the
    pair says the interaction has no known direction, so neither row claims one. ``edges`` has at most one row per
    ``source, target`` (and ``layer``).
    """
    keys = ["source", "target", *(["layer"] if "layer" in edges.columns else [])]
    reverse = edges.loc[~edges["directed"], keys].rename(columns={"source": "target", "target": "source"})
    hit = edges[keys].merge(reverse.assign(reverse_undirected=True), on=keys, how="left")["reverse_undirected"]
    return edges.assign(directed=edges["directed"].to_numpy(bool) & hit.isna().to_numpy())


def sign_votes(mapper: GeneMapper, sources: Sequence[str]) -> pd.DataFrame:
    """Signed directed protein-protein rows from the chosen sign sources.

    Returns
    -------
    DataFrame with ``source, target, sign (+1/-1), origin`` (one row per vote).
    """
    parts = []
    if "omnipath" in sources:
        om = read_table("omnipath_signed", ["source", "interaction", "target"], sep="\t", dtype=str)
        om = om[~om["source"].str.contains("_") & ~om["target"].str.contains("_")]
        sym = mapper.map(pd.unique(pd.concat([om["source"], om["target"]])), kind="symbol").symbols
        parts.append(pd.DataFrame({"source": om["source"].map(sym), "target": om["target"].map(sym),
                                   "sign": om["interaction"].astype(int), "origin": "omnipath"}))
    if "signor" in sources or "psp" in sources:
        cols = ["ENTITYA", "ENTITYB", "INTERACTION", "IDA", "IDB", "TYPEA", "TYPEB", "SOURCE"]
        sg = read_table("signor_psp", cols, sep="\t", dtype=str)
        sg = sg[(sg["TYPEA"] == "protein") & (sg["TYPEB"] == "protein")]
        psp_only = sg["SOURCE"].str.strip().eq("PsP")
        keep = np.zeros(len(sg), bool)
        if "signor" in sources:
            keep |= ~psp_only.to_numpy()
        if "psp" in sources:
            keep |= psp_only.to_numpy()
        sg = sg[keep]
        by_id = mapper.map(pd.unique(pd.concat([sg["IDA"], sg["IDB"]])), kind="uniprot").symbols
        by_name = mapper.map(pd.unique(pd.concat([sg["ENTITYA"], sg["ENTITYB"]])), kind="symbol").symbols
        src = sg["IDA"].map(by_id).fillna(sg["ENTITYA"].map(by_name))
        tgt = sg["IDB"].map(by_id).fillna(sg["ENTITYB"].map(by_name))
        origin = np.where(psp_only.loc[sg.index], "psp", "signor")
        parts.append(pd.DataFrame({"source": src, "target": tgt, "sign": sg["INTERACTION"].astype(int),
                                   "origin": origin}))
    if not parts:
        return pd.DataFrame(columns=["source", "target", "sign", "origin"])
    votes = pd.concat(parts, ignore_index=True).dropna(subset=["source", "target"])
    return votes[votes["sign"].isin([-1, 1]) & (votes["source"] != votes["target"])]


def apply_signs(edges: pd.DataFrame, votes: pd.DataFrame) -> pd.DataFrame:
    """Add ``sign`` (int8, majority vote, 0 on tie/unknown) and ``sign_sources`` to PPI edges."""
    if votes.empty:
        return edges.assign(sign=np.int8(0), sign_sources="")
    agg = votes.groupby(["source", "target"]).agg(
        vote=("sign", "sum"), sign_sources=("origin", lambda s: "+".join(sorted(set(s))))).reset_index()
    out = edges.merge(agg, on=["source", "target"], how="left")
    out["sign"] = np.sign(out["vote"].fillna(0)).astype("int8")
    out["sign_sources"] = out["sign_sources"].fillna("")
    return out.drop(columns="vote")


def collectri_edges(mapper: GeneMapper) -> tuple[pd.DataFrame, list[str]]:
    """CollecTRI TF -> target edges over HGNC symbols (sign from CollecTRI, weight 1).

    Returns the edges (``source, target, weight, sign, n_pmids``) and the unmapped names.
    """
    raw = read_table("collectri", ["source", "target", "weight", "PMID"], dtype={"PMID": str})
    names = pd.unique(pd.concat([raw["source"], raw["target"]]))
    res = mapper.map(names, kind="symbol")
    df = pd.DataFrame({
        "source": raw["source"].map(res.symbols),
        "target": raw["target"].map(res.symbols),
        "weight": np.float32(1.0),
        "sign": np.sign(raw["weight"].astype(float)).astype("int8"),
        "n_pmids": raw["PMID"].fillna("").map(lambda s: len([p for p in s.split(";") if p])),
    }).dropna(subset=["source", "target"])
    df = df[df["source"] != df["target"]].drop_duplicates(["source", "target"])
    return df, res.unmapped
