"""How every model term and event is coded — written beside each model table and in results.json.

A statistician re-fitting a model in R from the CSVs needs the coding the Python models used, not
R's defaults: R's ``factor()`` takes the alphabetically first level as the reference (``ATC`` for
histology, ``non-responder`` vs ``responder`` by chance right), while the plan uses clinical
references (``DTC``, ``female``, ECOG ``0``, ``resectable``, upfront surgery). Each entry says the
term's type (indicator 0/1, numeric, factor with treatment contrasts), its centering and scaling,
its reference level and the derived column it comes from; each event says what counts as an event,
what is censored and what competes.

:func:`coding` builds the entry list of one model from the analysed frame (so the levels and the
reference are the ones actually present); :func:`coding_text` is the one-line form the report
prints beside the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

__all__ = ["CONTRASTS", "EVENTS", "TERMS", "coding", "coding_text", "plan_coding"]

CONTRASTS = ("treatment (dummy) contrasts: one 0/1 indicator per non-reference level, as R's contr.treatment "
             "after relevel(factor(x), ref = <reference>); R's factor() alone would take the alphabetically "
             "first level as the reference")

#: model term → (type, coding in words, reference level or None, centering, scale, derived source column)
TERMS: dict[str, dict[str, Any]] = {
    "neoadjuvant": {"type": "indicator", "coding": "1 = neoadjuvant therapy, 0 = upfront surgery",
                    "reference": "upfront_surgery", "source": "subject.cohort"},
    "age_per10": {"type": "numeric", "coding": "(age at diagnosis - 55) / 10: HR per 10 years, 0 = 55 years",
                  "centering": 55, "scale": 10, "source": "subject.age_at_diagnosis"},
    "sex": {"type": "factor", "coding": "sex", "reference": "female", "source": "subject.sex"},
    "ecog": {"type": "factor", "coding": "ECOG performance status", "reference": "0", "source": "subject.ecog"},
    "histology_group": {"type": "factor", "coding": "histology group", "reference": "DTC",
                        "source": "subject.histology_group"},
    "t4b": {"type": "indicator", "coding": "1 = cT4b, 0 = cT4a", "reference": "cT4a", "source": "subject.ct"},
    "n_invaded": {"type": "numeric", "coding": "number of invaded structures (0-9), per structure, not centered",
                  "centering": 0, "scale": 1, "source": "subject.n_invaded_structures"},
    "n1b": {"type": "indicator", "coding": "1 = cN1b, 0 = cN0/cN1a/cNX", "reference": "not cN1b", "source": "subject.cn"},
    "m1": {"type": "indicator", "coding": "1 = cM1, 0 = cM0/cMX", "reference": "not cM1", "source": "subject.cm"},
    "resectability": {"type": "factor", "coding": "baseline resectability", "reference": "resectable",
                      "source": "subject.baseline_resectability"},
    "planned_laryngectomy": {"type": "indicator", "coding": "1 = laryngectomy in the baseline surgical plan, 0 = not",
                             "reference": "not planned", "source": "subject.planned_laryngectomy"},
    "braf_positive": {"type": "indicator", "coding": "1 = BRAF V600E positive, 0 = negative or not tested",
                      "reference": "negative or not tested", "source": "subject.braf_v600e"},
    "braf_not_tested": {"type": "indicator", "coding": "1 = BRAF V600E not tested (missing-indicator), 0 = tested",
                        "reference": "tested", "source": "subject.braf_v600e"},
    "tert_positive": {"type": "indicator", "coding": "1 = TERT promoter mutation, 0 = negative or not tested",
                      "reference": "negative or not tested", "source": "subject.tert_promoter"},
    "tert_not_tested": {"type": "indicator", "coding": "1 = TERT promoter not tested (missing-indicator), 0 = tested",
                        "reference": "tested", "source": "subject.tert_promoter"},
    "braf": {"type": "factor", "coding": "BRAF V600E status", "reference": "negative",
             "source": "subject.braf_v600e"},
    "tert": {"type": "factor", "coding": "TERT promoter status", "reference": "negative",
             "source": "subject.tert_promoter"},
    "center": {"type": "factor", "coding": "center; centers with < min_center_size patients or one cohort pooled "
               "into pooled_small_centers", "reference": None, "source": "subject.center_id"},
    "response_by_landmark": {"type": "factor", "coding": "objective response (RECIST 1.1 CR/PR) documented by the "
                             "landmark", "reference": "non-responder", "source": "subject.objective_response, "
                             "subject.best_overall_response_date"},
    "mpr": {"type": "factor", "coding": "major pathological response (<= 10 % viable tumour)", "reference": "no",
            "source": "subject.mpr"},
    "pcr": {"type": "factor", "coding": "pathological complete response (no viable tumour)", "reference": "no",
            "source": "subject.pcr"},
    "ata_high_risk": {"type": "indicator", "coding": "1 = ATA 2015 high risk, 0 = low or intermediate",
                      "reference": "low or intermediate", "source": "subject.ata_risk"},
    "objective_response": {"type": "indicator", "coding": "1 = objective response (RECIST 1.1 CR/PR), 0 = not "
                           "(missing = 0)", "reference": "no response", "source": "subject.objective_response"},
    "mpr_indicator": {"type": "indicator", "coding": "1 = MPR (<= 10 % viable tumour), 0 = not (missing = 0)",
                      "reference": "no MPR", "source": "subject.mpr"},
    "cT4b": {"type": "factor", "coding": "clinical T", "reference": "T4a", "source": "subject.ct"},
    "age_55_or_older": {"type": "factor", "coding": "age at diagnosis >= 55", "reference": "no",
                        "source": "subject.age_at_diagnosis"},
    "center_size": {"type": "factor", "coding": "center at or above the median center size", "reference": "larger centers",
                    "source": "subject.center_id"},
}

#: event name → what is an event, what is censored, what competes, and the time zero
EVENTS: dict[str, str] = {
    "recurrence": ("rec_event = 1: first recurrence or progression (derived tte TTP, event_type 1: RECIST PD, a course "
                   "stopped for progression, recurrence after R0/R1 surgery or progression after R2); death without it "
                   "(rec_type 2) is censored in Cox models and the competing event in the cumulative incidence and "
                   "Fine-Gray models; 0 = censored at the last disease assessment or the data cut; time zero = "
                   "treatment decision, months"),
    "overall_survival": ("os_event = 1: death from any cause (derived tte OS); censored at the last date known alive or "
                         "the data cut; time zero = treatment decision, months"),
    "event_free_survival": ("efs_event = 1: progression before surgery, an R2 operation, recurrence after surgery or "
                            "death (derived tte EFS); censored at the last disease assessment or the data cut; time zero "
                            "= treatment decision, months"),
    "OS": "os_event (derived subject) = 1: death from any cause; time zero = treatment decision, months",
    "EFS": ("efs_event (derived subject) = 1: progression before surgery, R2 operation, recurrence after surgery or death; "
            "time zero = treatment decision, months"),
    "OS landmark": ("os_event = 1: death from any cause; patients alive and event-free at the landmark, time from the "
                    "landmark, months"),
    "EFS landmark": ("efs_event = 1 (as EFS); patients alive and event-free at the landmark, time from the landmark, "
                     "months"),
    "RFS": ("rfs_event (derived subject) = 1: recurrence or death after an R0/R1 index operation; time zero = the "
            "operation, months"),
    "recurrence after surgery": ("recurrence = 1: recurrence after the R0/R1 index operation (derived RFS event_type 1); "
                                 "death without recurrence censored; time zero = the operation, months"),
    "treatment": "neoadjuvant = 1 (neoadjuvant therapy) vs 0 (upfront surgery, the reference): the outcome of the "
                 "propensity model",
}


def _levels(frame: pd.DataFrame | None, term: str) -> list[str] | None:
    if frame is None or term not in frame:
        return None
    s = frame[term]
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.remove_unused_categories().cat.categories
        return [str(c) for c in cats]
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return None
    return sorted(str(v) for v in pd.unique(s.dropna()))  # cox()/design_matrix: pd.Categorical → sorted levels


def coding(terms: Iterable[str], frame: pd.DataFrame | None = None, *, events: Sequence[str] = (),
           strata: str | None = None, notes: Sequence[str] = (),
           overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The coding of one model: ``{"terms": [...], "events": {...}, "strata", "contrasts"}``.

    Factor levels (and so the reference, the first level) are read from ``frame`` when given — the
    model's own analysed rows; otherwise the documented reference is stated. ``overrides`` replace
    the entry of a term whose coding differs in this model (e.g. ``mpr`` as a 0/1 indicator).
    """
    table = {**TERMS, **(overrides or {})}
    out = []
    for t in dict.fromkeys(terms):
        entry = {"term": t, **table.get(t, {"type": "", "coding": t, "reference": None, "source": ""})}
        levels = _levels(frame, t)
        if entry.get("type") == "factor":
            if levels:
                entry["levels"] = levels
                entry["reference"] = levels[0]
            entry["indicators"] = [f"{t}[{lev}]" for lev in (levels or [])[1:]]
        out.append({k: v for k, v in entry.items() if v is not None})
    res: dict[str, Any] = {"terms": out, "contrasts": CONTRASTS}
    if events:
        res["events"] = {e: EVENTS[e] for e in events}
    if strata:
        res["strata"] = f"{strata}: separate baseline hazards (R strata({strata})), no coefficient"
    if notes:
        res["notes"] = list(notes)
    return res


def coding_text(c: dict[str, Any] | None) -> str:
    """One line for the report: each term's coding with its reference, then the event definition."""
    if not c:
        return ""
    parts = []
    for t in c.get("terms", []):
        ref = t.get("reference")
        if t.get("type") == "factor":
            parts.append(f"{t['term']}: {t.get('coding', '')}, reference {ref}" if ref else f"{t['term']}: {t.get('coding', '')}")
        elif t.get("type") == "indicator" and ref:
            parts.append(f"{t['term']}: {t.get('coding', '')} (reference: {ref.replace('_', ' ')})")
        else:
            parts.append(f"{t['term']}: {t.get('coding', '')}")
    text = "Coding: " + "; ".join(parts) + "." if parts else ""
    if c.get("strata"):
        text += f" Strata: {c['strata']}."
    for name, ev in (c.get("events") or {}).items():
        text += f" Event ({name}): {ev}."
    return text.strip()


def plan_coding() -> dict[str, Any]:
    """The plan-wide coding written to ``results.json`` (``coding``): every term, event and the contrasts."""
    return {"contrasts": CONTRASTS, "terms": [{"term": k, **{a: b for a, b in v.items() if b is not None}}
                                              for k, v in TERMS.items()], "events": dict(EVENTS)}
