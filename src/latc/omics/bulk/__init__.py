"""Bulk RNA-seq: counts in, sample QC, DESeq2 differential expression, thyroid and immune scores."""

from latc.omics.bulk._de import de_paired, de_response, deseq2, filter_low_counts, paired_samples
from latc.omics.bulk._io import read_bulk, read_counts_table
from latc.omics.bulk._qc import sample_qc, sex_check
from latc.omics.bulk._scores import (
    braf_ras_score,
    brs_centroids,
    bulk_scores,
    erk_activation_score,
    immune_gene_sets,
    immune_scores,
    normalized_log2,
    normalized_squared_distance,
    thyroid_differentiation_score,
    thyroid_score_genes,
)
from latc.omics.bulk._synth import simulate_bulk

__all__ = [
    "braf_ras_score", "brs_centroids", "bulk_scores", "de_paired", "de_response", "deseq2", "erk_activation_score",
    "filter_low_counts", "immune_gene_sets", "immune_scores", "normalized_log2", "normalized_squared_distance",
    "paired_samples", "read_bulk", "read_counts_table", "sample_qc", "sex_check", "simulate_bulk",
    "thyroid_differentiation_score", "thyroid_score_genes",
]
