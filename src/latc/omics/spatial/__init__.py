"""Spatial transcriptomics (``latc.omics.spatial``): spot-level cell-type proportions, spatial
neighbourhoods, immune infiltration, tertiary lymphoid structures and per-sample features
associated with response and RFS. See docs/omics/spatial.md.

Read: :func:`read_spatial`, :func:`read_spatial_samples`.
Deconvolution: :func:`reference_profiles`, :func:`deconvolve`, :func:`marker_proportions`,
:func:`marker_scores`.
Neighbourhoods (squidpy): :func:`spot_classes`, :func:`neighbourhood_enrichment`, :func:`co_occurrence`.
Infiltration: :func:`infiltration`. TLS: :func:`tls_score`, :func:`detect_tls`.
Features: :func:`spatial_features`, :func:`associate`, :data:`FEATURE_DESCRIPTIONS`.
Synthetic data: :func:`write_spatial` (registry writer), :func:`simulate_slide`, :func:`simulate_reference`.
"""

from latc.omics.spatial._deconvolution import (Reference, deconvolve, marker_levels, marker_proportions,
                                               marker_scores, reference_profiles)
from latc.omics.spatial._features import (FEATURE_DESCRIPTIONS, SpatialResult, analyse_sample, associate,
                                          spatial_features)
from latc.omics.spatial._infiltration import infiltration
from latc.omics.spatial._io import read_spatial, read_spatial_samples
from latc.omics.spatial._neighbourhood import co_occurrence, neighbourhood_enrichment, spot_classes
from latc.omics.spatial._resources import spatial_markers, spatial_signatures
from latc.omics.spatial._run import run_spatial
from latc.omics.spatial._synth import simulate_reference, simulate_slide, write_spatial
from latc.omics.spatial._tls import detect_tls, tls_score

__all__ = [
    "FEATURE_DESCRIPTIONS", "Reference", "SpatialResult", "analyse_sample", "associate", "co_occurrence",
    "deconvolve", "detect_tls", "infiltration", "marker_levels", "marker_proportions", "marker_scores",
    "neighbourhood_enrichment", "read_spatial", "read_spatial_samples", "reference_profiles", "run_spatial",
    "simulate_reference", "simulate_slide", "spatial_features", "spatial_markers", "spatial_signatures",
    "spot_classes", "tls_score", "write_spatial",
]
