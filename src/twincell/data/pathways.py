"""PROGENy pathway footprints (bundled): which genes each of 14 signalling pathways moves, and how much.

PROGENy (Schubert et al., Nat Commun 2018) derived, from hundreds of public perturbation experiments upstream of
the transcription factors (receptor ligands, kinase inhibitors), a consensus footprint of each pathway: the 100
genes its activation moves most, with signed weights. The bundled human model (saezlab/transcriptutorial, GPL-3.0;
``datasets/SOURCES.md``) covers EGFR, Hypoxia, JAK-STAT, MAPK, NFkB, PI3K, TGFb, TNFa, Trail, VEGF, p53, Androgen,
Estrogen and WNT over 1,301 genes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twincell.data.bundled import read_table
from twincell.data.genes import GeneMapper
from twincell.errors import DataFileError

#: The 14 pathways of the bundled PROGENy human model, in the file's column order.
PROGENY_PATHWAYS = ("EGFR", "Hypoxia", "JAK-STAT", "MAPK", "NFkB", "PI3K", "TGFb", "TNFa", "Trail", "VEGF", "p53",
                    "Androgen", "Estrogen", "WNT")


def load_progeny(mapper: GeneMapper | None = None) -> pd.DataFrame:
    """The PROGENy footprint weights, genes (current HGNC symbols) x the 14 pathways of :data:`PROGENY_PATHWAYS`.

    A weight is the gene's signed response to the pathway's activation (0: not in the pathway's top 100). Gene
    names are mapped to current HGNC symbols with ``mapper`` (default :meth:`GeneMapper.default`); names that do
    not map are dropped, and names that map to one symbol are averaged.

    Raises
    ------
    DataFileError
        If the bundled file lacks a pathway column or holds a value that is not a finite number.
    """
    raw = read_table("progeny", PROGENY_PATHWAYS, index_col=0)
    weights = raw.loc[:, list(PROGENY_PATHWAYS)].apply(pd.to_numeric, errors="coerce")
    if not np.isfinite(weights.to_numpy()).all():
        raise DataFileError("the bundled PROGENy table holds a weight that is not a finite number",
                            "the bundled file is damaged; reinstall twincell")
    symbols = (mapper or GeneMapper.default()).map(weights.index.astype(str), kind="symbol").symbols
    weights.index = weights.index.astype(str).map(symbols)
    weights = weights[weights.index.notna()]
    return weights.groupby(level=0, sort=True).mean().rename_axis("gene")
