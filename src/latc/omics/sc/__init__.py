"""Single-cell immune profiling before/after neoadjuvant therapy, linked to response (``latc.omics.sc``).

Readers (manifest-driven), QC, normalisation/embedding with batch correction, marker-based
annotation with shipped markers, signature scores, composition and differential abundance
(sample level, CLR, paired by patient), pseudobulk DE (pydeseq2, patient blocking), sample-level
features with response/RFS association, figures, and the synthetic scRNA-seq writer.
Method details and choices: ``docs/omics/single_cell.md``. T-cell receptor clonotypes (scirpy:
expansion, tissue/timepoint overlap, clone tracking, response association) and their synthetic
V(D)J writer: ``docs/omics/tcr.md``.
"""

from latc.omics.sc._annotate import ANNOTATION_THRESHOLDS, UNASSIGNED, annotate, load_markers, marker_coverage, score_cell_types
from latc.omics.sc._composition import bh, clr, composition, differential_abundance
from latc.omics.sc._features import (
    SIGNATURE_CELL_TYPES,
    associate_features,
    feature_changes,
    sample_features,
    subject_from_latent,
)
from latc.omics.sc._genome import add_gene_positions, gene_positions_from_orgdb, load_gene_positions, read_gtf_genes
from latc.omics.sc._integration import integration_metrics
from latc.omics.sc._io import ASSAY, read_sample, read_samples
from latc.omics.sc._malignant import (MALIGNANT_LABELS, REFERENCE_LINEAGES, MalignantResult, call_malignant,
                                     summarise_malignant)
from latc.omics.sc._pipeline import CORRECTIONS, embed, normalise
from latc.omics.sc._plots import (PALETTE, composition_bars, marker_dotplot, paired_plot, save_figure, umap_by_cell_type,
                                  umap_panels)
from latc.omics.sc._pseudobulk import DeSpec, pseudobulk, pseudobulk_de, pseudobulk_de_many
from latc.omics.sc._qc import QC_COLUMNS, qc_filter, qc_metrics, qc_summary
from latc.omics.sc._run import (COMPARISONS, ScResult, annotate_outcomes, process, run_sc, run_statistics, run_study,
                                stats_from_h5ad, write_outputs)
from latc.omics.sc._signatures import load_signatures, score_signatures
from latc.omics.sc._synth import CNV_SEGMENTS, add_center_effect, simulate_counts, write_scrna
from latc.omics.sc._tcr import (TCR_TABLES, TcrResult, clonal_overlap, define_clones, morisita_horn, read_tcr, read_vdj,
                                run_tcr, tcr_features, tcr_figures, tcr_step, track_clones, tracking_summary,
                                vdj_path_for, write_tcr_h5ad, write_tcr_outputs)
from latc.omics.sc._tcr_synth import simulate_tcr, write_vdj

__all__ = [
    "ANNOTATION_THRESHOLDS", "UNASSIGNED", "marker_coverage", "DeSpec", "pseudobulk_de_many",
    "ASSAY", "COMPARISONS", "CORRECTIONS", "PALETTE", "QC_COLUMNS", "SIGNATURE_CELL_TYPES", "ScResult",
    "add_center_effect", "annotate", "associate_features", "bh", "clr", "composition", "composition_bars",
    "differential_abundance", "embed", "feature_changes", "integration_metrics", "load_markers", "load_signatures",
    "marker_dotplot", "normalise", "paired_plot", "process", "pseudobulk", "pseudobulk_de", "qc_filter",
    "qc_metrics", "qc_summary", "read_sample", "read_samples", "run_sc", "sample_features", "save_figure",
    "score_cell_types", "score_signatures", "simulate_counts", "subject_from_latent", "umap_by_cell_type",
    "write_outputs", "write_scrna", "annotate_outcomes", "run_statistics", "run_study", "stats_from_h5ad", "umap_panels",
    # malignant vs normal epithelial cells (copy-number inference; docs/omics/malignant_cells.md)
    "CNV_SEGMENTS", "MALIGNANT_LABELS", "REFERENCE_LINEAGES", "MalignantResult", "add_gene_positions", "call_malignant",
    "gene_positions_from_orgdb", "load_gene_positions", "read_gtf_genes", "summarise_malignant",
    # T-cell receptor clonotypes: expansion, overlap, clone tracking (scirpy; docs/omics/tcr.md)
    "TCR_TABLES", "TcrResult", "clonal_overlap", "define_clones", "morisita_horn", "read_tcr", "read_vdj", "run_tcr",
    "simulate_tcr", "tcr_features", "tcr_figures", "tcr_step", "track_clones", "tracking_summary", "vdj_path_for",
    "write_tcr_h5ad", "write_tcr_outputs", "write_vdj",
]
