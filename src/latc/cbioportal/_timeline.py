"""Timeline data for the patient view (cBioPortal File-Formats.md, "Timeline Data").

One file per event type, each with the four required columns in this order — ``PATIENT_ID``,
``START_DATE``, ``STOP_DATE``, ``EVENT_TYPE`` — and then event columns. Dates are whole **days from
the treatment decision** (latc's time zero for both cohorts; cBioPortal's doc suggests the
diagnosis, which is day ``COLLECTION_DAY`` of the ``-DX`` sample, usually negative); ``STOP_DATE``
is blank for events at one point in time ("Data file"). Event columns with special effects used
here: ``TREATMENT`` — ``TREATMENT_TYPE``, ``SUBTYPE``, ``AGENT`` (one track per agent); ``LAB_TEST`` —
``TEST`` and numeric ``RESULT`` (one line chart per test); ``IMAGING`` — ``DIAGNOSTIC_TYPE``,
``RESULT``; ``STATUS`` — ``STATUS``; ``SPECIMEN`` — ``SAMPLE_ID`` (numbered discs linked to the
samples) ("Event Types").

============ ================================================================================
file         events (source)
============ ================================================================================
treatment    neoadjuvant drug courses (``treatments`` form: agent, start, stop, dose) and
             adjuvant therapy (``adjuvant`` form: RAI, EBRT, systemic)
surgery      operations (``surgery`` form: intent, extent, R0/R1/R2) and complications
             (``complications`` dataset: Clavien–Dindo grade, onset → resolution)
imaging      RECIST 1.1 assessments (``tumour`` dataset: overall, target and non-target response,
             new lesion, target sum and % change; the investigator's response from ``response``),
             follow-up imaging results (``follow_up`` form)
labs         Tg, TgAb, calcitonin, CEA (``labs`` dataset, harmonised units)
status       recurrence (date, site, type) and death (cause) (``follow_up`` form)
specimen     every exported sample at its collection day
============ ================================================================================

Events after the data cut (`latc derive --data-cut`) are left out, as derive leaves them out; the
notes count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from latc.cbioportal._clinical import days_from_decision, dictionary_label, humanize
from latc.cbioportal._inputs import RunInputs
from latc.cbioportal._writer import Notes

__all__ = ["Timeline", "timelines", "REQUIRED", "LAB_TESTS"]

REQUIRED = ["PATIENT_ID", "START_DATE", "STOP_DATE", "EVENT_TYPE"]
#: lab tests on the timeline: latc test code → (TEST label, unit label)
LAB_TESTS = {"tg": ("Tg", "ng/mL"), "tgab": ("TgAb", "IU/mL"), "calcitonin": ("Calcitonin", "pg/mL"),
             "cea": ("CEA", "ng/mL")}


@dataclass
class Timeline:
    """One timeline file: its name (``data_timeline_<name>.txt``) and its rows (columns
    :data:`REQUIRED` first)."""

    name: str
    table: pd.DataFrame


def _with_days(frame: pd.DataFrame, decision: pd.Series, start: str, stop: str | None = None) -> pd.DataFrame:
    f = frame.copy()
    dec = f["patient_id"].map(decision)
    f["START_DATE"] = days_from_decision(f[start], dec)
    f["STOP_DATE"] = days_from_decision(f[stop], dec) if stop else pd.Series(pd.NA, index=f.index, dtype="Int64")
    return f


def _cut(frame: pd.DataFrame, column: str, inputs: RunInputs, notes: Notes, what: str) -> pd.DataFrame:
    if inputs.data_cut is None or frame.empty:
        return frame
    late = pd.to_datetime(frame[column]) > pd.Timestamp(inputs.data_cut)
    if late.any():
        notes.add(f"{int(late.sum())} {what} after the data cut {inputs.data_cut} are not on the timeline")
    return frame[~late]


def _known(frame: pd.DataFrame, decision: pd.Series) -> pd.DataFrame:
    return frame[frame["patient_id"].isin(decision.index)]


def _finish(frame: pd.DataFrame, event: str, columns: dict[str, str], notes: Notes | None = None) -> pd.DataFrame:
    """REQUIRED + the event columns (``columns``: exported name → source column), sorted by patient and
    day; events without a start day (no date, or no treatment decision date) are left out and counted."""
    out = pd.DataFrame({"PATIENT_ID": frame["patient_id"], "START_DATE": frame["START_DATE"],
                        "STOP_DATE": frame["STOP_DATE"], "EVENT_TYPE": event})
    for name, col in columns.items():
        out[name] = frame[col] if col in frame.columns else pd.NA
    undated = out["START_DATE"].isna()
    if undated.any() and notes is not None:
        notes.add(f"{int(undated.sum())} {event} event(s) without a date are not on the timeline")
    out = out[~undated]
    return out.sort_values(["PATIENT_ID", "START_DATE"], kind="stable").reset_index(drop=True)


def _combine(parts: list[pd.DataFrame], notes: Notes, none: str) -> pd.DataFrame | None:
    """The event tables of one file, sorted by patient and day; None (and the note ``none``) without any."""
    if not parts:
        notes.add(none)
        return None
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["PATIENT_ID", "START_DATE"], kind="stable").reset_index(drop=True)


def _treatment(inputs: RunInputs, decision: pd.Series, notes: Notes) -> pd.DataFrame | None:
    parts = []
    tr = inputs.clean.get("treatments")
    if tr is not None and not tr.empty:
        t = _cut(_known(tr, decision), "start_date", inputs, notes, "treatment course(s)")
        t = _with_days(t, decision, "start_date", "stop_date")
        t["TREATMENT_TYPE"] = "Medical Therapy"
        t["PHASE"] = "Neoadjuvant"
        t["SUBTYPE"] = t["agent_class"].map(dictionary_label("treatments", "agent_class"))
        t["AGENT"] = t["agent"].map(dictionary_label("treatments", "agent"))
        t["DOSE_UNIT"] = t["dose_unit"].map(dictionary_label("treatments", "dose_unit"))
        for c in ("dose_reduced", "interrupted"):
            t[c.upper()] = t[c] if c in t.columns else pd.NA
        t["REASON_STOPPED"] = (t["reason_stopped"].map(dictionary_label("treatments", "reason_stopped"))
                               if "reason_stopped" in t.columns else pd.NA)
        parts.append(_finish(t, "TREATMENT", {"TREATMENT_TYPE": "TREATMENT_TYPE", "SUBTYPE": "SUBTYPE",
                                              "AGENT": "AGENT", "PHASE": "PHASE", "START_DOSE": "start_dose",
                                              "DOSE_UNIT": "DOSE_UNIT", "DOSE_REDUCED": "DOSE_REDUCED",
                                              "INTERRUPTED": "INTERRUPTED", "REASON_STOPPED": "REASON_STOPPED"}, notes))
    adj = inputs.clean.get("adjuvant")
    if adj is not None and not adj.empty:
        a = _cut(_known(adj, decision), "start_date", inputs, notes, "adjuvant course(s)")
        a = _with_days(a, decision, "start_date")
        radiation = a["therapy"].isin(["rai", "ebrt"])
        a["TREATMENT_TYPE"] = radiation.map({True: "Radiation Therapy", False: "Medical Therapy"})
        a["PHASE"] = "Adjuvant"
        a["SUBTYPE"] = a["therapy"].map(dictionary_label("adjuvant", "therapy"))
        agent = (a["agent"].map(dictionary_label("treatments", "agent")) if "agent" in a.columns
                 else pd.Series(pd.NA, index=a.index))
        a["AGENT"] = agent.where(agent.notna(), a["SUBTYPE"])
        parts.append(_finish(a, "TREATMENT", {"TREATMENT_TYPE": "TREATMENT_TYPE", "SUBTYPE": "SUBTYPE",
                                              "AGENT": "AGENT", "PHASE": "PHASE",
                                              "RAI_ACTIVITY_MBQ": "rai_activity_mbq",
                                              "EBRT_DOSE_GY": "ebrt_dose_gy"}, notes))
    return _combine(parts, notes, "no treatments / adjuvant forms: no treatment timeline")


def _surgery(inputs: RunInputs, decision: pd.Series, notes: Notes) -> pd.DataFrame | None:
    parts = []
    su = inputs.clean.get("surgery")
    if su is not None and not su.empty:
        s = _cut(_known(su, decision), "surgery_date", inputs, notes, "operation(s)")
        s = _with_days(s, decision, "surgery_date")
        s["SUBTYPE"] = s["surgical_intent"].map(dictionary_label("surgery", "surgical_intent"))
        for c in ("thyroidectomy_extent", "central_neck_dissection", "lateral_neck_dissection", "tracheal_resection",
                  "laryngectomy", "esophageal_resection"):
            s[c.upper()] = s[c].map(dictionary_label("surgery", c)) if c in s.columns else pd.NA
        cols = {"SUBTYPE": "SUBTYPE", **{c.upper(): c.upper() for c in (
            "thyroidectomy_extent", "central_neck_dissection", "lateral_neck_dissection", "tracheal_resection",
            "laryngectomy", "esophageal_resection")}, "RESECTION_STATUS": "resection_status",
            "OPERATIVE_TIME_MIN": "operative_time_min", "BLOOD_LOSS_ML": "blood_loss_ml",
            "LENGTH_OF_STAY_DAYS": "length_of_stay_days"}
        parts.append(_finish(s, "SURGERY", cols, notes))
    co = inputs.derived.get("complications")
    if co is not None and not co.empty:
        c = _cut(_known(co, decision), "onset_date", inputs, notes, "complication(s)")
        c = _with_days(c, decision, "onset_date", "resolution_date")
        c["SUBTYPE"] = c["complication_type"].map(dictionary_label("complications", "complication_type"))
        c["PERMANENCE"] = c["permanence"].map(humanize) if "permanence" in c.columns else pd.NA
        parts.append(_finish(c, "COMPLICATION", {"SUBTYPE": "SUBTYPE", "CLAVIEN_DINDO": "clavien_dindo",
                                                 "PERMANENCE": "PERMANENCE"}, notes))
    return _combine(parts, notes, "no surgery form: no surgery timeline")


def _imaging(inputs: RunInputs, decision: pd.Series, notes: Notes) -> pd.DataFrame | None:
    parts = []
    cols = {"DIAGNOSTIC_TYPE": "DIAGNOSTIC_TYPE", "RESULT": "RESULT", "TARGET_RESPONSE": "target_response",
            "NON_TARGET_RESPONSE": "non_target_response", "NEW_LESION": "new_lesion",
            "SUM_OF_DIAMETERS_MM": "sum_of_diameters_mm",
            "PERCENT_CHANGE_FROM_BASELINE": "percent_change_from_baseline",
            "PERCENT_CHANGE_FROM_NADIR": "percent_change_from_nadir", "SOURCE": "SOURCE"}
    tu = inputs.derived.get("tumour")
    if tu is not None and not tu.empty:
        t = _with_days(_known(tu, decision), decision, "assessment_date")
        t["DIAGNOSTIC_TYPE"] = "RECIST 1.1 assessment"
        t["RESULT"] = t["overall_response"]
        t["SOURCE"] = "Computed by latc (RECIST 1.1)"
        base = tu.drop_duplicates("patient_id")[["patient_id", "baseline_date", "baseline_sum_mm"]]
        b = _with_days(_known(base, decision), decision, "baseline_date")
        b["DIAGNOSTIC_TYPE"] = "RECIST 1.1 baseline"
        b["RESULT"] = "Baseline"
        b["sum_of_diameters_mm"] = b["baseline_sum_mm"]
        b["SOURCE"] = "Computed by latc (RECIST 1.1)"
        parts += [_finish(b, "IMAGING", cols, notes), _finish(t, "IMAGING", cols, notes)]
    rs = inputs.derived.get("response")
    if rs is not None and not rs.empty and "source" in rs.columns:
        inv = rs[(rs["paramcd"] == "OVRLRESP") & (rs["source"] == "investigator")]
        if not inv.empty:
            i = _with_days(_known(inv, decision), decision, "assessment_date")
            i["DIAGNOSTIC_TYPE"] = "RECIST 1.1 assessment"
            i["RESULT"] = i["value"]
            assessor = i["assessor"].map(humanize) if "assessor" in i.columns else pd.Series(pd.NA, index=i.index)
            i["SOURCE"] = ("Investigator (" + assessor.astype("string") + ")").fillna("Investigator")
            parts.append(_finish(i, "IMAGING", cols, notes))
    fu = inputs.clean.get("follow_up")
    if fu is not None and not fu.empty and "imaging_result" in fu.columns:
        f = fu[fu["imaging_result"].notna() & (fu["imaging_result"] != "not_done")]
        f = _cut(_known(f, decision), "visit_date", inputs, notes, "follow-up imaging result(s)")
        f = _with_days(f, decision, "visit_date")
        f["DIAGNOSTIC_TYPE"] = "Follow-up imaging"
        f["RESULT"] = f["imaging_result"].map(dictionary_label("follow_up", "imaging_result"))
        f["SOURCE"] = "Follow-up visit"
        parts.append(_finish(f, "IMAGING", cols, notes))
    return _combine(parts, notes, "no tumour / response / follow-up tables: no imaging timeline")


def _labs(inputs: RunInputs, decision: pd.Series, notes: Notes) -> pd.DataFrame | None:
    la = inputs.derived.get("labs")
    if la is None or la.empty:
        notes.add("no labs dataset: no lab timeline")
        return None
    lab = _known(la[la["test"].isin(LAB_TESTS) & la["value"].notna()], decision)
    lab = _with_days(lab, decision, "lab_date")
    lab["TEST"] = lab["test"].map(lambda t: LAB_TESTS[t][0])
    lab["UNIT"] = lab["test"].map(lambda t: LAB_TESTS[t][1])
    cols = {"TEST": "TEST", "RESULT": "value", "UNIT": "UNIT", "BELOW_DETECTION": "below_detection",
            "STIMULATED": "stimulated", "TG_INTERPRETABLE": "tg_interpretable"}
    skipped = la["test"].isin(["tsh"]).sum()
    if skipped:
        notes.add(f"{int(skipped)} TSH value(s) are not on the timeline (not a tumour marker)")
    return _finish(lab, "LAB_TEST", cols, notes)


def _status(inputs: RunInputs, decision: pd.Series, notes: Notes) -> pd.DataFrame | None:
    fu = inputs.clean.get("follow_up")
    if fu is None or fu.empty:
        notes.add("no follow_up form: no recurrence / death timeline")
        return None
    fu = _known(fu, decision)
    cols = {"STATUS": "STATUS", "SITE": "SITE", "RECURRENCE_TYPE": "RECURRENCE_TYPE", "CAUSE_OF_DEATH": "CAUSE"}
    parts = []
    rec = fu[fu["recurrence"].fillna(False).astype(bool) & fu["recurrence_date"].notna()]
    rec = rec.drop_duplicates(["patient_id", "recurrence_date"])
    rec = _cut(rec, "recurrence_date", inputs, notes, "recurrence(s)")
    if not rec.empty:
        r = _with_days(rec, decision, "recurrence_date")
        r["STATUS"] = "Recurrence / progression"
        r["SITE"] = r["recurrence_site"].map(dictionary_label("follow_up", "recurrence_site"))
        r["RECURRENCE_TYPE"] = r["recurrence_type"].map(dictionary_label("follow_up", "recurrence_type"))
        parts.append(_finish(r, "STATUS", cols, notes))
    dead = fu[(fu["vital_status"] == "dead") & fu["death_date"].notna()].sort_values("death_date")
    dead = _cut(dead.drop_duplicates("patient_id"), "death_date", inputs, notes, "death(s)")
    if not dead.empty:
        d = _with_days(dead, decision, "death_date")
        d["STATUS"] = "Death"
        d["CAUSE"] = d["cause_of_death"].map(dictionary_label("follow_up", "cause_of_death"))
        parts.append(_finish(d, "STATUS", cols, notes))
    return _combine(parts, notes, "no recurrence or death recorded: no status timeline")


def _specimen(samples: pd.DataFrame) -> pd.DataFrame:
    s = samples.rename(columns={"PATIENT_ID": "patient_id"}).copy()
    s["START_DATE"] = s["COLLECTION_DAY"]
    s["STOP_DATE"] = pd.Series(pd.NA, index=s.index, dtype="Int64")
    s["SPECIMEN_TYPE"] = s["TISSUE"].map(lambda t: "blood" if t == "Peripheral blood" else "tissue")
    return _finish(s, "SPECIMEN", {"SAMPLE_ID": "SAMPLE_ID", "SPECIMEN_SITE": "TISSUE",
                                   "SPECIMEN_TYPE": "SPECIMEN_TYPE", "TIMEPOINT": "TIMEPOINT", "ASSAYS": "ASSAYS"})


def timelines(inputs: RunInputs, samples: pd.DataFrame, notes: Notes) -> list[Timeline]:
    """The timeline files of the study (module docstring), each with at least one event."""
    subject = inputs.subject
    decision = pd.Series(pd.to_datetime(subject["treatment_decision_date"]).to_numpy(), index=subject["patient_id"])
    missing = decision.isna()
    if missing.any():
        notes.add(f"{int(missing.sum())} patient(s) without a treatment decision date have no timeline")
        decision = decision[~missing]
    out = []
    builders: list[tuple[str, Any]] = [("treatment", _treatment), ("surgery", _surgery), ("imaging", _imaging),
                                       ("labs", _labs), ("status", _status)]
    for name, build in builders:
        table = build(inputs, decision, notes)
        if table is not None and not table.empty:
            out.append(Timeline(name, table))
    spec = _specimen(samples)
    if not spec.empty:
        out.append(Timeline("specimen", spec))
    return out
