"""Multi-omics integration: the patient × feature matrix across modalities and MOFA+ factors.

Documentation: ``docs/omics/biomarkers.md``.
"""

from latc.omics.integrate._io import FEATURE_SUFFIXES, read_feature_tables
from latc.omics.integrate._matrix import (META_COLUMNS, SEP, FeatureMatrix, build_feature_matrix, check_feature_table,
                                          clinical_matrix, feature_columns)
from latc.omics.integrate._mofa import MofaResult, run_mofa

__all__ = [
    "FEATURE_SUFFIXES", "META_COLUMNS", "SEP", "FeatureMatrix", "MofaResult", "build_feature_matrix",
    "check_feature_table", "clinical_matrix", "feature_columns", "read_feature_tables", "run_mofa",
]
