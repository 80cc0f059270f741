"""Clinical endpoint derivations: one module per concept, each citing its rule.

Re-exports the public functions of the derivation modules. A study-level derivation takes the
study tables as one mapping form name → clean typed table (``tables``, e.g.
``ValidationResult.clean``) and its options by keyword: ``surgical_outcomes(tables,
permanence_months=6)``, ``derive_tte(tables, data_cut, time_zero="decision")``.
"""

from latc.derive._tables import DeriveInputError
from latc.derive.ata_risk import ata_dynamic_risk, ata_initial_risk, ata_risk_input
from latc.derive.pathology import classify_pathological_response, curative_specimen, derive_pathological_response
from latc.derive.staging import ajcc_stage, ajcc_stage_detail, derive_stages
from latc.derive.bor import (
    best_overall_response,
    confirmed_best_overall_response,
    confirmed_response,
    response_endpoints,
    response_rates,
)
from latc.derive.recist import check_target_lesions, response_long, timepoint_responses
from latc.derive.biochem import derive_biochemical_response, doubling_times, harmonise_labs
from latc.derive.ata_response import ata_response_to_therapy, postop_tg_suggests_distant_metastases

from latc.derive.surgery import (
    complications_analysis,
    surgical_outcome_rates,
    surgical_outcome_summary,
    surgical_outcomes,
)
from latc.derive.safety import (
    adverse_event_analysis,
    ae_overview,
    ae_summary_by_term,
    exposure_by_agent,
    treatment_exposure,
)
from latc.derive.tte import (CensorSource, EventSource, TteParameter, derive_param_tte, derive_tte,
                             describe_parameters, landmark, standard_parameters)

__all__ = [
    "DeriveInputError",
    "ajcc_stage",
    "ajcc_stage_detail",
    "ata_dynamic_risk",
    "ata_initial_risk",
    "ata_risk_input",
    "classify_pathological_response",
    "curative_specimen",
    "derive_pathological_response",
    "derive_stages",
    # RECIST 1.1 (recist.py, bor.py)
    "best_overall_response",
    "check_target_lesions",
    "confirmed_best_overall_response",
    "confirmed_response",
    "response_endpoints",
    "response_long",
    "response_rates",
    "timepoint_responses",
    # surgical outcomes and safety (surgery.py, safety.py)
    "complications_analysis",
    "surgical_outcome_rates",
    "surgical_outcome_summary",
    "surgical_outcomes",
    "adverse_event_analysis",
    "ae_overview",
    "ae_summary_by_term",
    "exposure_by_agent",
    "treatment_exposure",
    # biochemical response and ATA response to therapy (biochem.py, ata_response.py)
    "ata_response_to_therapy",
    "derive_biochemical_response",
    "doubling_times",
    "harmonise_labs",
    "postop_tg_suggests_distant_metastases",
    # time-to-event endpoints (tte.py): named event / censoring sources, as admiralonco
    "CensorSource",
    "EventSource",
    "TteParameter",
    "derive_param_tte",
    "describe_parameters",
    "standard_parameters",
    "derive_tte",
    "landmark",
]
