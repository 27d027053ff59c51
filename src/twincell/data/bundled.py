"""The catalogue of real public data shipped inside the package (``twincell/datasets/``).

Each entry records where the file came from, its licence, whether that licence carries
conditions (copyleft, share-alike or non-commercial parts) and what it holds. The files
themselves are described in ``datasets/SOURCES.md``. Nothing is downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from twincell.errors import DataFileError


@dataclass(frozen=True)
class BundledDataset:
    """One bundled data file.

    Attributes
    ----------
    name
        Short key used by loaders (``path(name)``).
    file
        Path relative to ``twincell/datasets/``.
    origin
        Source repository and commit / publication.
    licence
        Licence line of the data.
    conditions
        Non-empty when the licence carries conditions (GPL, CC BY-SA, non-commercial parts).
    counts
        Human-readable counts of what the file holds.
    """

    name: str
    file: str
    origin: str
    licence: str
    conditions: str
    counts: str


_GPL = "copyleft (GPL-3)"
CATALOG: tuple[BundledDataset, ...] = (
    BundledDataset("pathlinker_ppi", "interactome/pathlinker2018_human_ppi_weighted.txt.gz",
                   "Murali-group/tox_signaling_networks @49b8aa0 (PathLinker 2018 human PPI; BioGRID, IntAct, MINT, DIP, HPRD, PhosphoSite, SPIKE, KEGG, NetPath)",
                   "GPL-3.0 repo; source databases' own terms", _GPL,
                   "503,987 directed rows; 16,713 UniProt proteins; weight = evidence score 0-0.99"),
    BundledDataset("pathlinker_uniprot", "interactome/pathlinker2018_uniprot_to_symbol.tsv.gz",
                   "Murali-group/tox_signaling_networks @49b8aa0", "GPL-3.0", _GPL, "UniProt -> symbol, 16,618 of 16,713 proteins"),
    BundledDataset("pathlinker_source_weights", "interactome/pathlinker2018_edge_source_weights.tsv.gz",
                   "Murali-group/tox_signaling_networks @49b8aa0", "GPL-3.0", _GPL, "per-source evidence weights"),
    BundledDataset("omnipath_signed", "interactome/omnipath_signed_consensus.tsv.gz",
                   "saezlab/transcriptutorial @f97a5ea (OmniPath signed consensus, 2023)",
                   "GPL-3.0; OmniPath content mixes source licences", _GPL, "19,807 signed directed edges, 6,124 nodes"),
    BundledDataset("signor_psp", "interactome/signor_psp_pkn_human_dir.tsv.gz",
                   "SaccoPerfettoLab/SignalingProfiler @cc261a2 (SIGNOR + PhosphoSitePlus)",
                   "GPL-3; SIGNOR CC BY-SA 4.0; PhosphoSitePlus non-commercial",
                   "copyleft + share-alike + NON-COMMERCIAL (PhosphoSitePlus rows)",
                   "37,673 rows, 25,639 protein-protein (5,844 proteins)"),
    BundledDataset("liana_lr", "interactome/liana_consensus_ligand_receptor.csv.gz",
                   "PyPI liana 1.10.0 wheel, liana/resource/omni_resource.csv (resource = consensus)",
                   "BSD-3-Clause (package); OmniPath intercell consensus of CellPhoneDB, CellChat, ICELLNET, "
                   "connectomeDB2020, CellTalkDB (each source's own terms)", "check each source's terms",
                   "4,620 ligand -> receptor pairs (receptor complexes joined by _)"),
    BundledDataset("collectri", "regulons/collectri.csv.gz",
                   "hengkp/collectri_v_dorothea @4f32428 (CollecTRI, Mueller-Dott et al. 2023)",
                   "CollecTRI terms (saezlab); repository has no licence file", "check CollecTRI terms before redistribution",
                   "43,178 signed TF -> target edges, 1,186 TFs, 6,692 targets"),
    BundledDataset("progeny", "regulons/progeny_model_human.csv.gz",
                   "saezlab/transcriptutorial (PROGENy human model)", "GPL-3.0", _GPL, "14 pathway footprints"),
    BundledDataset("hgnc", "genes/hgnc_2022_symbol_entrez_ensembl.tsv.gz",
                   "mims-harvard/PDGrapher @41285f9 (HGNC 2022-03)", "HGNC data CC0; repository MIT", "",
                   "47,467 HGNC rows: symbol, Entrez, Ensembl"),
    BundledDataset("lincs_geneinfo", "genes/lincs_geneinfo_beta.tsv.gz",
                   "mims-harvard/PDGrapher @41285f9 (LINCS L1000 beta gene info)", "LINCS data public; repository MIT", "",
                   "12,328 genes (landmark / inferred)"),
    BundledDataset("lincs_overexpression", "perturbations/lincs_l1000_overexpression_dysreg.tsv.gz",
                   "dhimmel/lincs @726793b (consensus LINCS L1000 signatures)", "CC0 (dhimmel); LINCS data public", "",
                   "2,088 over-expressed genes; 40,642 significant (gene, z-score) rows"),
    BundledDataset("cytosig", "perturbations/cytosig_signature_centroid.tsv.gz",
                   "PyPI CytoSig 0.0.3 sdist, CytoSig/signature.centroid (Jiang et al., Nat Methods 2021)", "GPL-3.0",
                   _GPL, "43 cytokines x 4,881 genes, consensus log fold changes"),
    BundledDataset("lincs_cellinfo", "perturbations/lincs_cellinfo.tsv.gz",
                   "dhimmel/lincs @726793b", "CC0", "", "LINCS cell line metadata"),
    BundledDataset("signatures_tahoe", "perturbations/drug_signatures_ranked_tahoe100m_44celllines.parquet",
                   "montilab/sigrecon @b425117/@112228f (Tahoe-100M pseudobulk DESeq2 ranks)",
                   "GPL-3 (repo LICENSE; DESCRIPTION says MIT); Tahoe-100M CC0-1.0", _GPL,
                   "110 drugs x 44 cancer cell lines = 4,838 ranked lists (top/bottom 750 stored)"),
    BundledDataset("signatures_neurips", "perturbations/drug_signatures_ranked_neurips2023_pbmc_4celltypes.parquet",
                   "montilab/sigrecon @112228f (Open Problems NeurIPS 2023 PBMC, GSE279945)", "GPL-3 (repo); GEO public", _GPL,
                   "135 compounds x 4 PBMC cell types = 540 ranked lists"),
    BundledDataset("signatures_sciplex", "perturbations/drug_signatures_ranked_sciplex3_3celllines.parquet",
                   "montilab/sigrecon @112228f (sci-Plex 3, GSE139944)", "GPL-3 (repo); GEO public", _GPL,
                   "23 drugs x A549/K562/MCF7 = 69 ranked lists"),
    BundledDataset("signatures_index", "perturbations/drug_signatures_index.tsv.gz",
                   "derived from montilab/sigrecon (one row per ranked list)", "GPL-3 (repo)", _GPL, "5,447 signatures"),
    BundledDataset("kang2018", "perturbations/kang2018_ifnb_pbmc_sc.h5ad",
                   "HelenaLC/muscat @017b290 (Kang et al. 2018, GSE96583)", "GPL-3 (muscat); GEO public", _GPL,
                   "1,556 cells x 1,267 genes, raw UMI counts; 5 cell types x 2 donors x ctrl/IFN-beta"),
    BundledDataset("ccle_basal", "contexts/basal_ccle_rnaseq_log2tpm_525celllines_697genes.tsv.gz",
                   "horsedayday/DualGCN @91e42e9 (DepMap/CCLE RNA-seq)", "MIT; DepMap CC BY 4.0", "",
                   "525 cell lines x 697 genes, log2(TPM+1)"),
    BundledDataset("l1000_basal", "contexts/basal_l1000_lincs2020_modz_164celllines_978landmarks.tsv.gz",
                   "myzhengSIMM/TranSiGen @e7582e7 (LINCS 2020 L1000 basal)", "MIT; LINCS public", "",
                   "164 cell lines x 978 landmarks, L1000 log2"),
    BundledDataset("cell_line_map", "contexts/cell_line_map.tsv.gz",
                   "biopragmatics/obo-db-ingest @5613ff7 (DepMap/Cellosaurus)", "CC BY 4.0", "",
                   "57 names -> Cellosaurus / DepMap IDs"),
    BundledDataset("disease_signatures", "diseases/signatures",
                   "egeulgen/pathfindR (SLE GSE50772, MIT); dhimmel/stargeo @08b126c (CC0); ps4dr/ps4dr @91baecf (Apache-2.0; Open Targets CC0; Expression Atlas EMBL-EBI terms)",
                   "per file, see SOURCES.md", "", "14 signatures, 5 diseases"),
    BundledDataset("drugcentral_targets", "drugs/drugcentral2016_drug_target.tsv.gz",
                   "olegursu/drugtarget @64630f7 (DrugCentral 2016)", "CC BY 4.0", "attribution (CC BY 4.0)",
                   "2,373 drug-target rows with action type"),
    BundledDataset("drugcentral_indications", "drugs/drugcentral2016_drug_indication.tsv.gz",
                   "olegursu/drugtarget @64630f7 (DrugCentral 2016)", "CC BY 4.0", "attribution (CC BY 4.0)",
                   "12,175 drug-indication rows"),
    BundledDataset("pharmacotherapydb", "drugs/pharmacotherapydb_indications.tsv.gz",
                   "dhimmel/indications @11d535b (PharmacotherapyDB v1.0)", "CC0; sources include CC BY-NC-SA and DrugBank non-commercial",
                   "NON-COMMERCIAL sources (MEDI/PREDICT, DrugBank)", "1,388 drug-disease pairs"),
    BundledDataset("approved_targets", "benchmark/approved_targets_five_diseases.tsv.gz",
                   "built from DrugCentral 2016 + PharmacotherapyDB + FDA labels after 2016", "as its sources (CC BY 4.0 / CC0 / public labels)",
                   "NON-COMMERCIAL sources (DrugBank 4.2 targets via PharmacotherapyDB)",
                   "approved-drug targets: SLE 17, Parkinson's 29, psoriasis 35, Crohn's 15, UC 23"),
    BundledDataset("geneformer_v1_tokens", "geneformer/token_dictionary.pkl.gz",
                   "jkobject/geneformer @95b6340 (Geneformer V1 gc30M dictionaries, sha256 = official)", "Apache-2.0", "",
                   "25,426 tokens"),
    BundledDataset("geneformer_v1_medians", "geneformer/gene_median_dictionary.pkl.gz",
                   "jkobject/geneformer @95b6340", "Apache-2.0", "", "25,424 gene medians"),
    BundledDataset("geneformer_v1_names", "geneformer/gene_name_id_dict.pkl.gz",
                   "jkobject/geneformer @95b6340", "Apache-2.0", "", "40,248 symbol -> Ensembl entries"),
    BundledDataset("geneformer_v1_configs", "geneformer",
                   "jkobject/geneformer @95b6340 (6L and 12L BertForMaskedLM configs; no weights)", "Apache-2.0", "", "2 configs"),
)

_BY_NAME = {d.name: d for d in CATALOG}


def datasets_dir() -> Path:
    """Directory that holds the bundled data files."""
    return Path(str(resources.files("twincell") / "datasets"))


def path(name: str) -> Path:
    """Absolute path of bundled dataset ``name`` (see :data:`CATALOG`).

    Raises
    ------
    DataFileError
        If ``name`` is not in the catalogue or its file is missing from the installation.
    """
    if name not in _BY_NAME:
        raise DataFileError(f"unknown bundled dataset {name!r}", f"choose one of: {', '.join(sorted(_BY_NAME))}")
    p = datasets_dir() / _BY_NAME[name].file
    if not p.exists():
        raise DataFileError(f"bundled file {p} is missing", "reinstall twincell (`make setup`) from a complete checkout")
    return p


def read_table(name: str, columns: Sequence[str] = (), **kwargs: object) -> pd.DataFrame:
    """Read bundled table ``name`` with :func:`pandas.read_csv` (``kwargs`` passed on).

    Raises
    ------
    DataFileError
        If the file cannot be parsed or lacks any of ``columns``.
    """
    p = path(name)
    try:
        df = pd.read_csv(p, **kwargs)  # type: ignore[arg-type]
    except Exception as exc:  # pandas raises many types for malformed files
        raise DataFileError(f"cannot read {p}: {exc}", "the bundled file is damaged; reinstall twincell") from exc
    missing = set(columns) - set(df.columns)
    if missing:
        raise DataFileError(f"{p} lacks columns {sorted(missing)}", "the bundled file is damaged; reinstall twincell")
    return df


def catalog() -> pd.DataFrame:
    """The catalogue as a table (one row per bundled dataset), with a ``flag`` column for licences with conditions."""
    df = pd.DataFrame([asdict(d) for d in CATALOG])
    df["flag"] = df["conditions"].map(lambda c: "!" if c else "")
    return df
