"""Imaging features: ultrasonomics (IBSI radiomics of 2D ultrasound lesions, delta-radiomics) and
H&E histology (stain normalisation, colour deconvolution, nuclei, texture, TIL estimate).

Documentation: ``docs/omics/imaging.md``.
"""

from latc.omics.imaging._delta import DELTA_COLUMNS, TIMEPOINT_ORDER, delta_radiomics, delta_wide
from latc.omics.imaging._features import feature_columns, join_subject, univariate_association
from latc.omics.imaging._histology import (HistologySettings, classify_til, haematoxylin_eosin, histology_features, histology_tiles,
                                           macenko_normalise, macenko_stain_matrix, nuclei_table, segment_nuclei,
                                           tile_features, tile_qc)
from latc.omics.imaging._io import UltrasoundImage, load_he_tiles, load_ultrasound, mask_path_for
from latc.omics.imaging._pipeline import ImagingResult, run_imaging
from latc.omics.imaging._plots import plot_nuclei_overlay, plot_ultrasound_overlay
from latc.omics.imaging._radiomics import RadiomicsSettings, extract_radiomics, mirp_features, morphology_2d, radiomics_features

__all__ = [
    "DELTA_COLUMNS", "TIMEPOINT_ORDER", "HistologySettings", "ImagingResult", "RadiomicsSettings", "UltrasoundImage",
    "classify_til", "delta_radiomics", "delta_wide", "extract_radiomics", "feature_columns", "haematoxylin_eosin",
    "histology_features", "histology_tiles", "join_subject", "load_he_tiles", "load_ultrasound", "macenko_normalise",
    "macenko_stain_matrix", "mask_path_for", "mirp_features", "morphology_2d", "nuclei_table",
    "plot_nuclei_overlay", "plot_ultrasound_overlay", "radiomics_features", "run_imaging", "segment_nuclei",
    "tile_features", "tile_qc", "univariate_association",
]
