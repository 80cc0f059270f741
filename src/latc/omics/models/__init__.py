"""Leakage-free predictive models of response / RFS and univariate biomarker screens.

Nested cross-validation split by patient with preprocessing, feature selection and penalty tuning
inside the folds (:func:`nested_cv`, :func:`nested_cv_cox`); evaluation with patient-bootstrap
CIs, permutation p-values, Brier score and calibration (:func:`evaluate`,
:func:`permutation_test`, :func:`compare_models`); screens with BH-FDR (:func:`screen_binary`,
:func:`screen_survival`); the whole run behind ``latc omics biomarkers`` (:func:`run_biomarkers`).

Documentation: ``docs/omics/biomarkers.md``.
"""

from latc.omics.models._biomarkers import (CLINICAL_CANDIDATES, BiomarkerResult, binary_outcome, run_biomarkers,
                                           survival_outcome, write_biomarkers)
from latc.omics.models._cv import DEFAULT_CS, CVResult, cox_score_z, nested_cv, nested_cv_cox
from latc.omics.models._evaluate import (PermutationResult, auc, auc_ci, brier, c_index_ci,
                                         calibration_slope_intercept, compare_models, evaluate, permutation_test,
                                         permute_by_patient, roc_curve_ci)
from latc.omics.models._plots import (plot_factors, plot_roc, plot_score_distribution, plot_selection_stability,
                                      plot_variance_explained, plot_volcano, save_figure)
from latc.omics.models._screen import bh_fdr, screen_binary, screen_survival

__all__ = [
    "CLINICAL_CANDIDATES", "DEFAULT_CS", "BiomarkerResult", "CVResult", "PermutationResult", "auc", "auc_ci",
    "bh_fdr", "binary_outcome", "brier", "c_index_ci", "calibration_slope_intercept", "compare_models",
    "cox_score_z", "evaluate", "nested_cv", "nested_cv_cox", "permutation_test", "permute_by_patient",
    "plot_factors", "plot_roc", "plot_score_distribution", "plot_selection_stability", "plot_variance_explained",
    "plot_volcano", "roc_curve_ci", "run_biomarkers", "save_figure", "screen_binary", "screen_survival",
    "survival_outcome", "write_biomarkers",
]
