"""`Interactome`: a directed, signed, weighted graph over HGNC symbols, stored as an edge table + CSR.

Every edge ``source -> target`` has

* ``weight``  - evidence score in (0, 1] (PathLinker's score; 1 for CollecTRI TF edges),
* ``sign``    - +1 activation, -1 inhibition, 0 unknown (learnable),
* ``directed``- whether a source states the direction (undirected pairs are stored both ways),
* ``layer``   - ``"ppi"`` (protein signalling) or ``"tf"`` (TF -> target gene transcription),
* ``sources`` - provenance: which sources contributed the edge and its sign.

Hot paths use :attr:`src` / :attr:`dst` integer arrays and :meth:`adjacency` (scipy CSR), never
networkx objects.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from twincell import __version__
from twincell._cache import atomic_write, code_key, file_in_the_way
from twincell._cache import cache_dir as default_cache_dir
from twincell.data import genes as genes_module
from twincell.data.genes import GeneMapper, IdKind
from twincell.errors import DataFileError, TwinCellError, UnknownGeneError, check_count
from twincell.network import build

logger = logging.getLogger(__name__)
from twincell.network.paths import SignedPath, k_shortest_paths

EDGE_COLUMNS = ("source", "target", "weight", "sign", "directed", "layer", "sources")
FORMAT_VERSION = 1


def default_cache_key() -> str:
    """Key of the default interactome's cache entry: a hash of the build and gene-mapping code, the file format and the
    package version (what :meth:`Interactome.default` is made from)."""
    return code_key([build.__file__, genes_module.__file__], f"format {FORMAT_VERSION}")


def is_interactome_file(file: Path) -> bool:
    """True when ``file`` is a parquet file with TwinCell's interactome provenance (any format version)."""
    try:
        return b"twincell_interactome" in (pq.read_schema(file).metadata or {})
    except (OSError, pa.ArrowException):  # not parquet, unreadable: not a network
        return False


class Interactome:
    """Directed signed interactome over HGNC symbols.

    Parameters
    ----------
    edges
        Table with columns ``source, target, weight, sign, directed, layer, sources`` (HGNC symbols), one row per
        edge (``source, target, layer``; :meth:`from_edges` merges a user's repeated rows).
    meta
        Provenance (sources used, options, unmapped identifiers), saved with the network.

    Raises
    ------
    DataFileError
        Missing columns, weights outside (0, 1], a layer other than ``ppi`` / ``tf``, or an edge listed twice.
    """

    def __init__(self, edges: pd.DataFrame, meta: dict | None = None) -> None:
        missing = set(EDGE_COLUMNS) - set(edges.columns)
        if missing:
            raise DataFileError(f"edge table lacks columns {sorted(missing)}",
                                f"an interactome needs columns {', '.join(EDGE_COLUMNS)}")
        if edges.empty:
            raise TwinCellError("the interactome has no edges",
                                "check the sources and the minimum evidence score (--min-weight)")
        weights = pd.to_numeric(edges["weight"], errors="coerce")
        if weights.isna().any() or (weights <= 0).any() or (weights > 1).any():
            raise DataFileError(f"edge weights must be evidence scores in (0, 1] (found {int(weights.isna().sum())} "
                                f"NaN, {int((weights <= 0).sum())} <= 0, {int((weights > 1).sum())} above 1, e.g. "
                                f"{weights[weights.isna() | (weights <= 0) | (weights > 1)].head(3).tolist()})",
                                "drop or fix those rows, or rescale the scores (STRING's combined score: divide by "
                                "1000); paths multiply weights as probabilities")
        e = edges.loc[:, list(EDGE_COLUMNS)].copy()
        e["layer"] = pd.Categorical(e["layer"], categories=["ppi", "tf"])
        if e["layer"].isna().any():
            raise DataFileError("edge layer must be 'ppi' or 'tf'", "fix the layer column")
        e = e.sort_values(["layer", "source", "target"], kind="stable").reset_index(drop=True)
        twice = e[["layer", "source", "target"]].duplicated()
        if twice.any():
            first = e.loc[twice.idxmax()]
            raise DataFileError(f"the edge table lists {int(twice.sum())} edge(s) more than once "
                                f"(e.g. {first['source']} -> {first['target']}, {first['layer']})",
                                "merge them: Interactome.from_edges(df) keeps one row per edge (largest weight, "
                                "majority sign)")
        self.genes: np.ndarray = np.array(sorted(set(e["source"]) | set(e["target"])), dtype=object)
        self.gene_index: dict[str, int] = {g: i for i, g in enumerate(self.genes)}
        e["weight"] = e["weight"].astype("float32")
        e["sign"] = e["sign"].astype("int8")
        e["directed"] = e["directed"].astype(bool)
        self.edges = e
        self.src = e["source"].map(self.gene_index).to_numpy(np.int64)
        self.dst = e["target"].map(self.gene_index).to_numpy(np.int64)
        self.meta = dict(meta or {})

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, sources: Sequence[str] = build.ALL_SOURCES, min_weight: float = 0.0,
              mapper: GeneMapper | None = None) -> Interactome:
        """Build from the bundled raw sources (see :mod:`twincell.network.build`).

        Parameters
        ----------
        sources
            Any of ``pathlinker`` (required), ``omnipath``, ``signor``, ``psp``, ``collectri``. Without ``psp``,
            PhosphoSitePlus leaves PathLinker's evidence too (:func:`~twincell.network.build.pathlinker_edges`):
            its sign votes and the PathLinker rows whose only evidence it is are left out.
        min_weight
            Minimum PathLinker evidence score of a PPI edge, in [0, 1).

        Raises
        ------
        TwinCellError
            Unknown sources, no ``pathlinker``, or a ``min_weight`` outside [0, 1) (it would drop every PPI edge).
        """
        unknown = set(sources) - set(build.ALL_SOURCES)
        if unknown or "pathlinker" not in sources:
            raise TwinCellError(f"invalid interactome sources {sorted(sources)}",
                                f"use 'pathlinker' plus any of {', '.join(build.ALL_SOURCES[1:])}")
        if not 0 <= min_weight < 1:  # also refuses NaN
            raise TwinCellError(f"min_weight must lie in [0, 1), got {min_weight}",
                                "PathLinker's evidence scores run from 0 to 1; e.g. --min-weight 0.5")
        mapper = mapper or GeneMapper.default()
        without = () if "psp" in sources else (build.PATHLINKER_PSP,)  # PhosphoSitePlus's own rows, when left out
        ppi, unmapped_ppi = build.pathlinker_edges(mapper, min_weight, without)
        ppi = build.apply_signs(ppi, build.sign_votes(mapper, [s for s in sources if s in build.SIGN_SOURCES]))
        ppi["layer"] = "ppi"
        ppi["sources"] = np.where(ppi["sign_sources"] != "", "pathlinker;sign:" + ppi["sign_sources"], "pathlinker")
        parts = [ppi]
        unmapped_tf: list[str] = []
        if "collectri" in sources:
            tf, unmapped_tf = build.collectri_edges(mapper)
            tf = tf.assign(directed=True, layer="tf", sources="collectri")
            parts.append(tf)
        edges = pd.concat([p.loc[:, list(EDGE_COLUMNS)] for p in parts], ignore_index=True)
        meta = {"sources": list(sources), "min_weight": float(min_weight),
                "pathlinker_evidence_left_out": list(without),
                "unmapped_uniprot": unmapped_ppi, "unmapped_tf_names": unmapped_tf,
                "built_by": f"twincell {__version__}"}
        return cls(edges, meta)

    @classmethod
    def default(cls, cache_dir: str | os.PathLike | None = None) -> Interactome:
        """The default interactome (all sources), built once and cached as a parquet file.

        The cache lives in ``$TWINCELL_CACHE`` (default ``~/.cache/twincell``); its name holds a hash
        of the build and gene-mapping code and the package version, so a changed build never reads a stale cache.
        """
        f = Path(cache_dir or default_cache_dir()) / f"interactome-{default_cache_key()}.parquet"
        if f.exists():
            try:
                return cls.load(f)
            except DataFileError:
                f.unlink()
        net = cls.build()
        net.save(f)
        return net

    @classmethod
    def from_edges(cls, df: pd.DataFrame, *, source: str = "source", target: str = "target",
                   weight: str | None = "weight", sign: str | None = "sign", directed: str | None = "directed",
                   layer: str | None = "layer", id_kind: IdKind = "auto",
                   mapper: GeneMapper | None = None, name: str = "user") -> Interactome:
        """A network from a user's table (OmniPath, STRING, in-house ...), in any supported gene ID.

        Parameters
        ----------
        df
            One row per edge. Required: ``source``, ``target``. Optional: ``weight`` (an evidence score in (0, 1],
            default 1), ``sign`` (the sign of a number, or a word of :data:`SIGN_WORDS` such as ``activation`` /
            ``inhibition`` or ``+`` / ``-``; default 0), ``directed`` (booleans, 1/0 or yes/no, default True;
            undirected rows are added in both directions, the reverse unsigned: a sign belongs to one direction),
            ``layer`` (``ppi``/``tf``, default ``ppi``). Column names are arguments; an optional column left at its
            default name may be absent, one named otherwise must exist. Rows for the same edge (``source, target,
            layer``) are merged as the bundled network's are: the largest weight, the majority sign (ties 0), and
            undirected when any row of the pair is (:func:`twincell.network.build.undirected_pairs_agree`).
        id_kind
            Gene identifier type, or ``auto`` to detect it per ID.

        Returns
        -------
        Interactome
            Its ``meta`` lists the identifiers that did not map (``unmapped_ids``) and counts the rows left out
            (``left_out``: rows with an unmapped gene, self-loops, rows merged into another row of the same edge),
            which are also logged.

        Raises
        ------
        DataFileError
            Missing columns, weights outside (0, 1] or missing, signs or directions it cannot read, or no edge
            left after ID mapping and self-loops. A table without the weight column is read with every weight 1,
            with a logged warning naming its unused columns (``meta["weights"]`` records it).
        """
        for col in (source, target):
            if col not in df.columns:
                raise DataFileError(f"network table has no column {col!r} (columns: {list(df.columns)})",
                                    "rename the columns to source and target (in Python: from_edges(df, source=..., "
                                    "target=...))")
        if df.empty:
            raise DataFileError("the network table is empty", "give at least one edge")
        for given, default in ((weight, "weight"), (sign, "sign"), (directed, "directed"), (layer, "layer")):
            if given is not None and given != default and given not in df.columns:
                raise DataFileError(f"network table has no column {given!r} (columns: {list(df.columns)})",
                                    f"name an existing column, or pass {default}=None to use the default")
        mapper = mapper or GeneMapper.default()
        df = df.reset_index(drop=True)  # rows align by position: a concat keeps repeated index labels
        res = mapper.map(pd.unique(pd.concat([df[source].astype(str), df[target].astype(str)])), kind=id_kind)
        col = lambda c, default: df[c] if c is not None and c in df.columns else pd.Series(default, index=df.index)  # noqa: E731
        unweighted = weight is None or weight not in df.columns
        if unweighted:  # a STRING-style `score` column would otherwise go unused without a word
            others = [str(c) for c in df.columns if c not in (source, target, sign, directed, layer)]
            logger.warning("network table %s has no %r column: every edge gets weight 1%s", name, weight or "weight",
                           f" (unused columns: {', '.join(others)}; in Python name one with "
                           "from_edges(df, weight=...))" if others else "")
        w = pd.to_numeric(col(weight, 1.0), errors="coerce")
        if w.isna().any():
            raise DataFileError(f"network column {weight!r} has {int(w.isna().sum())} missing or non-numeric weights",
                                "fill them or drop those rows")
        e = pd.DataFrame({
            "source": df[source].astype(str).map(res.symbols),
            "target": df[target].astype(str).map(res.symbols),
            "weight": w.astype("float32"),
            "sign": _parse_signs(col(sign, 0), sign),
            "directed": _parse_directed(col(directed, True), directed),
            "layer": col(layer, "ppi").astype(str),
            "sources": name,
        })
        unmapped_rows = int(e[["source", "target"]].isna().any(axis=1).sum())
        e = e.dropna(subset=["source", "target"])
        self_loops = int((e["source"] == e["target"]).sum())
        e = e[e["source"] != e["target"]]
        if e.empty and self_loops:
            raise DataFileError(f"every mapped row of the network table is a self-loop (source == target: {self_loops} "
                                f"rows; {unmapped_rows} rows with an unmapped gene)", "give edges between two genes")
        if e.empty:
            raise DataFileError("no edge of the network table has both genes mapped to HGNC symbols",
                                f"check the gene ID type ({res.summary()})")
        rev = e[~e["directed"]].rename(columns={"source": "target", "target": "source"}).assign(sign=0)
        both = pd.concat([e, rev], ignore_index=True)
        merged = both.groupby(["source", "target", "layer"], sort=False, as_index=False).agg(
            weight=("weight", "max"), sign=("sign", "sum"), directed=("directed", "all"), sources=("sources", "first"))
        e = build.undirected_pairs_agree(merged.assign(sign=np.sign(merged["sign"]).astype(np.int8)))
        left_out = {"rows_with_an_unmapped_gene": unmapped_rows, "self_loops": self_loops,
                    "duplicate_edges": len(both) - len(e)}
        if any(left_out.values()):
            logger.warning("network table %s: left out %s", name,
                           ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in left_out.items() if n)
                           + (f" (unmapped IDs: {', '.join(res.unmapped[:10])})" if res.unmapped else ""))
        return cls(e, {"sources": [name], "unmapped_ids": res.unmapped, "left_out": left_out,
                       "weights": "none given: every edge 1" if unweighted else f"column {weight!r}",
                       "built_by": f"twincell {__version__}"})

    # ------------------------------------------------------------------ persistence
    def save(self, file: str | os.PathLike) -> Path:
        """Write the network (edges + provenance) to one parquet file, atomically.

        Raises
        ------
        DataFileError
            If ``file`` does not end in ``.parquet``, a file stands where one of its folders should be, or it exists and
            is not a TwinCell interactome (an earlier network of any format version is replaced; any other file is
            kept).
        """
        file = Path(file)
        blocker = file_in_the_way(file.parent)
        if blocker is not None:
            raise DataFileError(f"cannot write {file}: {blocker} is a file, not a folder", "give a path inside a folder")
        if file.suffix != ".parquet" and not file.is_dir():  # a folder is named as such by atomic_write
            raise DataFileError(f"{file}: a network is saved as parquet", f"give a .parquet file, e.g. {file.with_suffix('.parquet').name}")
        if file.is_file() and not is_interactome_file(file):
            raise DataFileError(f"{file} exists and is not a TwinCell interactome; saving would replace it",
                                "give another file name, or move that file")
        table = pa.Table.from_pandas(self.edges.assign(layer=self.edges["layer"].astype(str)), preserve_index=False)
        meta = {"twincell_interactome": json.dumps({"format": FORMAT_VERSION, **self.meta})}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **{k: v.encode() for k, v in meta.items()}})
        return atomic_write(file, lambda tmp: pq.write_table(table, tmp, compression="zstd"))

    @classmethod
    def load(cls, file: str | os.PathLike) -> Interactome:
        """Read a network written by :meth:`save`.

        Raises
        ------
        DataFileError
            The file is missing, not parquet, or not a TwinCell interactome of this format version.
        """
        file = Path(file)
        if not file.exists():
            raise DataFileError(f"interactome file {file} does not exist",
                                "build one with `twincell network build --out FILE`")
        try:
            table = pq.read_table(file)
        except Exception as exc:
            raise DataFileError(f"{file} is not a readable parquet file: {exc}",
                                "rebuild it with `twincell network build --out FILE`") from exc
        raw = (table.schema.metadata or {}).get(b"twincell_interactome")
        if raw is None:
            raise DataFileError(f"{file} is not a TwinCell interactome (no provenance metadata)",
                                "use Interactome.from_edges / `--network FILE.tsv` for plain edge tables")
        try:
            meta = json.loads(raw)
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            raise DataFileError(f"{file}: its interactome provenance metadata is damaged",
                                "rebuild it with `twincell network build --out FILE`")
        if meta.pop("format", None) != FORMAT_VERSION:
            raise DataFileError(f"{file} was written in another interactome format version",
                                "rebuild it with this version of twincell")
        return cls(table.to_pandas(), meta)

    # ------------------------------------------------------------------ access
    @property
    def n_nodes(self) -> int:
        """Number of proteins / genes (nodes)."""
        return len(self.genes)

    @property
    def n_edges(self) -> int:
        """Number of directed edges, both layers."""
        return len(self.edges)

    def __len__(self) -> int:
        return self.n_nodes

    def __contains__(self, gene: object) -> bool:
        return gene in self.gene_index

    def __repr__(self) -> str:
        n_tf = int((self.edges["layer"] == "tf").sum())
        return f"Interactome({self.n_nodes} nodes, {self.n_edges - n_tf} PPI + {n_tf} TF edges)"

    @cached_property
    def fingerprint(self) -> str:
        """Short hash of the edge list (identifies the network a model was trained on)."""
        h = hashlib.sha1()
        for col in ("source", "target", "sign", "layer"):
            h.update(pd.util.hash_pandas_object(self.edges[col].astype(str), index=False).to_numpy().tobytes())
        h.update(self.edges["weight"].to_numpy().tobytes())
        return h.hexdigest()[:16]

    def layer_mask(self, layer: str) -> np.ndarray:
        """Boolean mask over :attr:`edges` of one layer (``ppi`` or ``tf``)."""
        return (self.edges["layer"] == layer).to_numpy()

    @cached_property
    def tf_mask(self) -> np.ndarray:
        """Read-only boolean mask over :attr:`genes`, shape (N,): the transcription factors, i.e. the nodes with at
        least one TF-layer (TF -> target gene) edge."""
        mask = np.zeros(self.n_nodes, bool)
        mask[self.src[self.layer_mask("tf")]] = True
        mask.flags.writeable = False
        return mask

    def node_name(self, gene: str) -> str:
        """``gene`` as the network names it: itself when it is a node, else its current HGNC symbol when
        :class:`GeneMapper` maps it (Ensembl, Entrez, previous symbols, any case), else ``gene`` unchanged."""
        if gene in self.gene_index:
            return gene
        return GeneMapper.default().map([gene]).symbols.get(gene, gene)

    def node_index(self, genes: Iterable[str], *, strict: bool = True) -> np.ndarray:
        """Node indices of ``genes`` (HGNC symbols).

        Raises
        ------
        UnknownGeneError
            When ``strict`` and some genes are not nodes (all unknown genes are listed).
        """
        genes = list(genes)
        unknown = [g for g in genes if g not in self.gene_index]
        if unknown and strict:
            raise UnknownGeneError(unknown, f"{len(unknown)} gene(s) not in the interactome: {', '.join(unknown[:20])}",
                                   "use HGNC symbols (map IDs with twincell.data.genes.GeneMapper) or a network that has them")
        return np.array([self.gene_index[g] for g in genes if g in self.gene_index], dtype=np.int64)

    def adjacency(self, layer: str | None = None, *, signed: bool = False) -> sp.csr_matrix:
        """Sparse N x N matrix, ``A[i, j]`` = weight (or sign x weight) of edge i -> j.

        With ``layer=None`` both layers are included; an (i, j) pair present in both keeps the larger weight.
        """
        mask = np.ones(self.n_edges, bool) if layer is None else self.layer_mask(layer)
        val = self.edges["weight"].to_numpy(np.float64)[mask]
        if signed:
            val = val * self.edges["sign"].to_numpy()[mask]
        key = self.src[mask] * self.n_nodes + self.dst[mask]
        if not len(key):  # a layer without edges (a PPI-only network's "tf")
            return sp.csr_matrix((self.n_nodes, self.n_nodes))
        # the same row (largest weight, then signed before unsigned) whether or not the values are signed
        order = np.lexsort((-np.abs(self.edges["sign"].to_numpy()[mask]), -self.edges["weight"].to_numpy()[mask], key))
        first = np.r_[True, key[order][1:] != key[order][:-1]]
        sel = order[first]
        return sp.csr_matrix((val[sel], (self.src[mask][sel], self.dst[mask][sel])), shape=(self.n_nodes, self.n_nodes))

    def degree(self, layer: str | None = "ppi") -> pd.Series:
        """Total (in + out) degree per node."""
        a = self.adjacency(layer)
        deg = np.asarray((a != 0).sum(axis=0)).ravel() + np.asarray((a != 0).sum(axis=1)).ravel()
        return pd.Series(deg, index=self.genes, name="degree")

    def summary(self) -> dict[str, float | int]:
        """Counts and shares: nodes, edges, signed / directed share, TF edges, largest component, degrees."""
        ppi = self.layer_mask("ppi")
        e = self.edges
        n_cc, labels = connected_components(self.adjacency(), directed=True, connection="weak")
        deg = self.degree(None)
        undirected_pairs = int((~e["directed"][ppi]).sum() // 2)
        return {
            "nodes": self.n_nodes,
            "edges_total": self.n_edges,
            "ppi_edges": int(ppi.sum()),
            "ppi_undirected_pairs": undirected_pairs,
            "ppi_directed_edges": int(e["directed"][ppi].sum()),
            "tf_edges": int((~ppi).sum()),
            "tfs": int(e["source"][~ppi].nunique()),
            "signed_share_ppi": float((e["sign"][ppi] != 0).mean()),
            "directed_share_ppi": float(e["directed"][ppi].mean()),
            "largest_component": int(np.bincount(labels).max()),
            "components": int(n_cc),
            "degree_mean": float(deg.mean()),
            "degree_median": float(deg.median()),
            "degree_max": int(deg.max()),
        }

    def subgraph(self, genes: Iterable[str]) -> Interactome:
        """The network induced by ``genes`` (edges with both ends in the set), provenance kept.

        Its nodes are the genes of those edges: a gene with no edge inside the set is not a node of the subgraph.

        Raises
        ------
        UnknownGeneError
            A gene is not in the interactome.
        TwinCellError
            No edge has both ends in the set.
        """
        keep = set(self.node_index(genes))
        mask = np.isin(self.src, list(keep)) & np.isin(self.dst, list(keep))
        if not mask.any():
            raise TwinCellError(f"no edge of the interactome joins two of the {len(keep)} genes given",
                                "give a set of genes that interact, e.g. a node with its neighbourhood()")
        e = self.edges[mask]
        return Interactome(e.assign(layer=e["layer"].astype(str)), {**self.meta, "subgraph_of": self.fingerprint})

    def neighbourhood(self, seed: str, size: int) -> list[str]:
        """The ``size`` nodes nearest ``seed`` by breadth-first search, ignoring edge direction (seed first).

        Raises
        ------
        TwinCellError
            If ``size`` is not a whole number of at least 1.
        """
        size = check_count(size, "size")
        a = self.adjacency()
        both = (a + a.T).tocsr()
        start = int(self.node_index([seed])[0])
        order, seen = [start], {start}
        for node in order:
            if len(order) >= size:
                break
            for j in both.indices[both.indptr[node]: both.indptr[node + 1]]:
                if len(order) < size and j not in seen:
                    seen.add(int(j))
                    order.append(int(j))
        return [str(self.genes[i]) for i in order]

    # ------------------------------------------------------------------ paths
    def paths(self, source: str, target: str, k: int = 5, *, layer: str | None = None) -> list[SignedPath]:
        """The ``k`` most probable simple paths ``source -> ... -> target`` (Yen's algorithm on -log weight).

        Each path carries its nodes, the signs of its edges, its overall sign (product) and its
        probability (product of edge weights).

        Raises
        ------
        TwinCellError
            If ``k`` is not a whole number of at least 1, or ``layer`` is not ``None``, ``"ppi"`` or ``"tf"``.
        UnknownGeneError
            If ``source`` or ``target`` is not a node (either may be any ID :class:`GeneMapper` reads: an Ensembl or
            Entrez ID, a previous symbol, a symbol in lower case).
        """
        k = check_count(k, "k")
        if layer not in (None, "ppi", "tf"):
            raise TwinCellError(f"unknown layer {layer!r}", "use layer=None (both), 'ppi' or 'tf'")
        i, j = self.node_index([self.node_name(source), self.node_name(target)])
        a = self.adjacency(layer)
        signs = self.adjacency(layer, signed=True)
        return k_shortest_paths(a, signs, self.genes, int(i), int(j), k)


#: Words that edge tables use for an edge's sign (case-insensitive), besides numbers.
SIGN_WORDS: dict[str, int] = {"+": 1, "-": -1, "activation": 1, "activates": 1, "activating": 1, "stimulation": 1,
                              "positive": 1, "up": 1, "inhibition": -1, "inhibits": -1, "inhibiting": -1,
                              "repression": -1, "negative": -1, "down": -1, "": 0, "0": 0, "unknown": 0}
#: Words that edge tables use for directed (True) and undirected (False) edges, besides numbers and booleans.
DIRECTED_WORDS: dict[str, bool] = {"true": True, "yes": True, "directed": True, "t": True, "y": True,
                                   "false": False, "no": False, "undirected": False, "f": False, "n": False}


def _parse_signs(values: pd.Series, column: str | None) -> pd.Series:
    """Edge signs as int8 -1 / 0 / +1: the sign of a number, or a word of :data:`SIGN_WORDS`; missing is 0.

    Raises
    ------
    DataFileError
        Naming the values that are neither.
    """
    if pd.api.types.is_bool_dtype(values):  # True / False say nothing about activation or inhibition
        raise DataFileError(f"network column {column!r} holds True / False, not signs",
                            "use +1 / -1 / 0, +/-, activation/inhibition or positive/negative")
    numbers = pd.to_numeric(values, errors="coerce")
    words = values.where(numbers.isna() & values.notna()).dropna().astype(str).str.strip().str.lower()
    unknown = sorted(set(words) - set(SIGN_WORDS))
    if unknown:
        raise DataFileError(f"network column {column!r} has signs that are neither numbers nor known words: "
                            f"{', '.join(unknown[:5])}",
                            "use +1 / -1 / 0, +/-, activation/inhibition or positive/negative")
    return np.sign(numbers.fillna(words.map(SIGN_WORDS)).fillna(0)).astype("int8")


def _parse_directed(values: pd.Series, column: str | None) -> pd.Series:
    """Edge directedness as bool: booleans, numbers (non-zero = directed), or a word of :data:`DIRECTED_WORDS`; a
    missing value is directed (the default).

    Raises
    ------
    DataFileError
        Naming the values that are none of these.
    """
    raw = values.to_numpy(object)
    numbers = pd.to_numeric(pd.Series([int(v) if isinstance(v, (bool, np.bool_)) else v for v in raw], dtype=object),
                            errors="coerce").to_numpy(float)
    is_number = ~np.isnan(numbers)
    is_word = ~is_number & values.notna().to_numpy()
    words = pd.Series(raw[is_word], dtype=object).astype(str).str.strip().str.lower()
    unknown = sorted(set(words) - set(DIRECTED_WORDS))
    if unknown:
        raise DataFileError(f"network column {column!r} has values that say neither directed nor undirected: "
                            f"{', '.join(unknown[:5])}", "use true/false, yes/no or 1/0")
    out = np.ones(len(raw), bool)
    out[is_number] = numbers[is_number] != 0
    out[is_word] = words.map(DIRECTED_WORDS).to_numpy(bool)
    return pd.Series(out, index=values.index)
