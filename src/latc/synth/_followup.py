"""Adjuvant therapy and follow-up visits (recurrence, death with cause, censoring).

* Adjuvant: RAI for operated DTC / PDTC (ATA2015 activities 3.7 / 5.55 / 7.4 GBq) 6–17 weeks
  after surgery; external-beam RT for ATC and some R1/R2 DTC and R2 MTC; BRAF-directed therapy
  (dabrafenib + trametinib) after surgery for every operated BRAF V600E ATC — resumed after
  neoadjuvant therapy or started after upfront surgery (Maniakas2020, Zhao2023).
* Follow-up visits every 3 months in year 1, every 6 months in years 2–3, then yearly (ATA2015),
  plus a visit on the day a recurrence / progression is diagnosed (recurrence_date = visit_date)
  and the last contact: the day of death (vital status dead) or of censoring (alive).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.synth import _params as P
from latc.synth._util import Coded, choose, dates, occurrence, typed_table

SCHEDULED, RECURRENCE, LAST = 0, 1, 2  # kinds of visit
SCHEDULE_DAYS = np.array([91, 182, 273, 365, 547, 730, 912, 1095, 1460, 1825, 2190, 2555, 2920])


def adjuvant_rows(rng: np.random.Generator, s: pd.DataFrame) -> pd.DataFrame:
    """Adjuvant courses of operated patients (latent days); one row per course."""
    n = len(s)
    hist = s["histology"].to_numpy()
    sx = s["surgery_day"].to_numpy()
    end = s["end_day"].to_numpy()
    status = s["resection_status"].to_numpy()
    parts = []
    dtc = np.isin(hist, ["ptc", "ftc", "oncocytic", "pdtc"])
    rai = dtc & (rng.random(n) < P.P_RAI)
    parts.append(pd.DataFrame({"i": np.flatnonzero(rai), "therapy": "rai",
                               "day": (sx + rng.integers(42, 121, n))[rai],
                               "rai": choose(rng, {str(k): v for k, v in P.RAI_ACTIVITY_MBQ.items()}, n)[rai].astype(float)}))
    p_ebrt = np.where(hist == "atc", P.P_EBRT["atc"], np.where(dtc & (status != "R0"), P.P_EBRT["r1r2_dtc"],
                                                                np.where((hist == "mtc") & (status == "R2"), P.P_EBRT["mtc_r2"], 0.0)))
    ebrt = rng.random(n) < p_ebrt
    parts.append(pd.DataFrame({"i": np.flatnonzero(ebrt), "therapy": "ebrt", "day": (sx + rng.integers(21, 51, n))[ebrt],
                               "gy": choose(rng, {"60": 0.3, "63": 0.2, "66": 0.4, "70": 0.1}, n)[ebrt].astype(float)}))
    # BRAF V600E ATC: dabrafenib + trametinib after surgery — resumed after neoadjuvant therapy, or
    # started after upfront surgery (Maniakas2020 algorithm; Zhao2023 "surgery before BRAF-directed therapy")
    braf_atc = (hist == "atc") & s["agents"].str.contains("dabrafenib").to_numpy() & (rng.random(n) < P.P_ADJUVANT_BRAF_ATC)
    day = sx + rng.integers(14, 36, n)
    for agent in ("dabrafenib", "trametinib"):
        parts.append(pd.DataFrame({"i": np.flatnonzero(braf_atc), "therapy": "systemic", "day": day[braf_atc], "agent": agent}))
    a = pd.concat(parts, ignore_index=True)
    i = a["i"].to_numpy()
    a = a[a["day"].to_numpy() <= end[i]].copy()
    a["pt_row"] = s.index.to_numpy()[a["i"].to_numpy()]
    a["patient_id"] = s["patient_id"].to_numpy()[a["i"].to_numpy()]
    a = a.sort_values(["pt_row", "day", "therapy"], kind="stable").reset_index(drop=True)
    a["course_id"] = occurrence(a["pt_row"].to_numpy()) + 1
    return a


def follow_up_rows(rng: np.random.Generator, pt: pd.DataFrame) -> pd.DataFrame:
    """Follow-up visits of eligible patients (latent days)."""
    e = pt[pt["eligible"]]
    n = len(e)
    anchor = np.where(e["operated"].to_numpy(), e["surgery_day"].to_numpy(), 0).astype(np.int64)
    end = e["end_day"].to_numpy()
    tr = e["tr_day"].to_numpy()
    rec = e["recurrence_observed"].to_numpy()
    dead = e["death_observed"].to_numpy()
    sched = anchor[:, None] + SCHEDULE_DAYS[None, :] + rng.integers(-10, 11, (n, len(SCHEDULE_DAYS)))
    event_days = np.where(rec[:, None], np.column_stack([tr, end]), np.column_stack([end, end]))
    ok = (sched < end[:, None]) & (sched != event_days[:, :1])
    r, c = np.nonzero(ok)
    visits = [pd.DataFrame({"i": r, "day": sched[r, c], "kind": SCHEDULED, "slot": c})]
    rec_only = rec & (tr < end)
    visits.append(pd.DataFrame({"i": np.flatnonzero(rec_only), "day": tr[rec_only], "kind": RECURRENCE}))
    visits.append(pd.DataFrame({"i": np.arange(n), "day": end, "kind": LAST}))
    v = pd.concat(visits, ignore_index=True)
    i = v["i"].to_numpy()
    day = v["day"].to_numpy()
    v["pt_row"] = e.index.to_numpy()[i]
    kind = v["kind"].to_numpy()
    is_last = kind == LAST
    v["dead"] = is_last & dead[i]
    v["recurrence"] = (kind == RECURRENCE) | (is_last & rec[i] & (tr[i] == end[i]))
    rtype = e["recurrence_type"].to_numpy(dtype=object)[i]
    structural_after = rec[i] & (day >= tr[i]) & (rtype == "structural")
    persistent = (e["resection_status"].to_numpy(dtype=object)[i] == "R2") if "resection_status" in e else np.zeros(len(v), bool)
    u = rng.random(len(v))
    routine = np.where(u < 0.8, "negative", np.where(u < 0.9, "nonspecific", "not_done"))
    # the 1-year visit always has neck imaging (ATA2015: neck ultrasound 6–12 months after surgery),
    # so the ATA response to therapy (imaging 6–24 months after surgery) is assessable
    one_year = v["slot"].to_numpy() == int(np.flatnonzero(SCHEDULE_DAYS == 365)[0])
    routine = np.where(one_year & (routine == "not_done"), "negative", routine)
    imaging = np.where(structural_after | (persistent & (u < 0.7)), "structural_disease", routine)
    imaging = np.where(v["recurrence"].to_numpy() & (rtype == "biochemical"), np.where(u < 0.6, "negative", "nonspecific"), imaging)
    imaging = np.where(v["dead"].to_numpy() & ~v["recurrence"].to_numpy(), "not_done", imaging)
    v["imaging_result"] = imaging
    v = v.sort_values(["pt_row", "day"], kind="stable").reset_index(drop=True)
    return v


def adjuvant_table(a: pd.DataFrame, pt: pd.DataFrame, centers) -> pd.DataFrame:
    row = a["pt_row"].to_numpy()
    therapy = a["therapy"].to_numpy()
    return typed_table("adjuvant", {
        "patient_id": a["patient_id"], "center_id": centers.ids[pt["center"].to_numpy()[row]], "course_id": a["course_id"],
        "therapy": therapy, "start_date": dates(pt["t0_date"].to_numpy()[row], a["day"]),
        "rai_activity_mbq": np.where(therapy == "rai", a.get("rai", np.nan), np.nan),
        "ebrt_dose_gy": np.where(therapy == "ebrt", a.get("gy", np.nan), np.nan),
        "agent": np.where(therapy == "systemic", a.get("agent", None), None),
    }, len(a))


def follow_up_table(v: pd.DataFrame, pt: pd.DataFrame, centers) -> pd.DataFrame:
    row = v["pt_row"].to_numpy()
    t0 = pt["t0_date"].to_numpy()[row]
    dead = v["dead"].to_numpy()
    rec = v["recurrence"].to_numpy()
    day = v["day"].to_numpy()
    return typed_table("follow_up", {
        "patient_id": Coded(row, pt["patient_id"].to_numpy()), "center_id": Coded(pt["center"].to_numpy()[row], centers.ids),
        "visit_date": dates(t0, day), "vital_status": np.where(dead, "dead", "alive"),
        "death_date": dates(t0, np.where(dead, day, np.nan)),
        "cause_of_death": np.where(dead, pt["cause_of_death"].to_numpy(dtype=object)[row], None),
        "imaging_result": v["imaging_result"], "recurrence": rec,
        "recurrence_date": dates(t0, np.where(rec, pt["tr_day"].to_numpy()[row], np.nan)),
        "recurrence_site": np.where(rec, pt["recurrence_site"].to_numpy(dtype=object)[row], None),
        "recurrence_type": np.where(rec, pt["recurrence_type"].to_numpy(dtype=object)[row], None),
    }, len(v))
