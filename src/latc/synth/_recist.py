"""RECIST 1.1 lesions, lesion assessments and investigator timepoint responses.

* Baseline: 1–5 target lesions, ≤ 2 per organ with all lymph nodes counted as one organ (RECIST
  1.1 §4.2; EORTC RECIST FAQ), surplus lesions recorded as non-targets; the primary is always a target;
  target nodes ≥ 15 mm short axis (§3.2); lung targets ≥ 10 mm; bone / brain lesions non-target.
* Assessments every 6–8 weeks from the start of therapy, a preoperative scan ≤ 2 weeks before
  surgery, and an unscheduled scan on the day progression is diagnosed (with a new lesion).
* Shrinkage: each lesion follows d(t) = d0 · (1 + D · (1 − exp(−t/τ))) with the patient's depth D
  (from the response latent), monotone (no regrowth before progression); nodes never fall below
  4 mm; a non-nodal lesion < 3 mm is recorded as disappeared (0 mm), 3–5 mm as too small (5 mm, §3.5).
* Investigator timepoint responses (centers that record them) follow RECIST 1.1 §4.3–4.4 exactly
  from these measurements: target CR/PR/SD/PD vs baseline and nadir, non-target status, new
  lesions, and the combination table (Table 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.synth import _params as P
from latc.synth._util import dates, occurrence, typed_table

# candidate lesion slots: (site, role, is_node, condition key, probability)
_SLOTS = [
    ("thyroid", "target", False, "all", 1.0),
    ("neck_node", "target", True, "n1", 0.9),
    ("neck_node", "target", True, "n1b", 0.5),
    ("mediastinal_node", "target", True, "n1", 0.15),
    ("lung", "target", False, "lung", 0.9),
    ("lung", "target", False, "lung", 0.5),
    ("liver", "target", False, "liver", 0.8),
    ("neck_node", "non_target", True, "n1", 0.5),
    ("lung", "non_target", False, "lung", 0.6),
    ("bone", "non_target", False, "bone", 1.0),
    ("brain", "non_target", False, "brain", 1.0),
    ("liver", "non_target", False, "multiple", 0.3),
    ("soft_tissue", "non_target", False, "multiple", 0.5),
]


def lesion_rows(rng: np.random.Generator, pt: pd.DataFrame) -> pd.DataFrame:
    """Baseline lesions of every patient (latent: with the baseline diameter and modality)."""
    n = len(pt)
    cn = pt["cn"].to_numpy()
    site = pt["m1_site"].to_numpy(dtype=object)
    cond = {
        "all": np.ones(n, dtype=bool), "n1": cn != "N0", "n1b": cn == "N1b",
        "lung": np.isin(site, ["lung", "lung_and_bone", "multiple"]),
        "liver": np.isin(site, ["liver", "multiple"]), "bone": np.isin(site, ["bone", "lung_and_bone", "multiple"]),
        "brain": site == "brain", "multiple": site == "multiple",
    }
    take = np.column_stack([cond[c] & (rng.random(n) < p) for _, _, _, c, p in _SLOTS])
    roles = np.array([s[1] for s in _SLOTS])
    no_measurable = pt["screen_failure"].to_numpy(dtype=object) == "inc_measurable_lesion"
    take[no_measurable] &= roles == "non_target"
    take[no_measurable, 7] = False
    pi, si = np.nonzero(take)
    les = pd.DataFrame({"row": pi, "slot": si})
    les["site"] = np.array([s[0] for s in _SLOTS], dtype=object)[si]
    les["role"] = roles[si].astype(object)
    les["is_node"] = np.array([s[2] for s in _SLOTS])[si]
    # a patient without a measurable lesion keeps the primary as non-target
    les = pd.concat([les, pd.DataFrame({"row": np.flatnonzero(no_measurable), "slot": 0, "site": "thyroid",
                                        "role": "non_target", "is_node": False})], ignore_index=True)
    les = les.sort_values(["row", "slot"], kind="stable").reset_index(drop=True)
    # RECIST 1.1 §4.2: ≤ 2 targets per organ — all lymph nodes are one organ (EORTC RECIST FAQ), so
    # a third nodal target (the mediastinal slot after two neck nodes) — and ≤ 5 targets in total
    # (slot order: primary, nodes, lung, liver). Surplus lesions stay in the table as non-targets.
    rows = les["row"].to_numpy()
    organ = np.where(les["is_node"].to_numpy(bool), "lymph_node", les["site"].to_numpy(dtype=object))
    is_t = les["role"].to_numpy() == "target"
    t_organ = pd.Series(is_t.astype(int)).groupby([rows, organ]).cumsum().to_numpy()
    is_t &= t_organ <= 2
    t_cum = pd.Series(is_t.astype(int)).groupby(rows).cumsum().to_numpy()
    is_t &= t_cum <= 5
    les["role"] = np.where(is_t, "target", "non_target").astype(object)
    t_cum = pd.Series(is_t.astype(int)).groupby(les["row"].to_numpy()).cumsum().to_numpy()
    nt_cum = pd.Series((~is_t).astype(int)).groupby(les["row"].to_numpy()).cumsum().to_numpy()
    les["lesion_id"] = np.where(is_t, "T" + t_cum.astype(str), "NT" + nt_cum.astype(str))

    m = len(les)
    row = les["row"].to_numpy()
    primary = pt["primary_size_mm"].to_numpy()[row]
    node_d = np.clip(np.rint(22 * np.exp(0.3 * rng.standard_normal(m))), 15, 60)
    lung_d = np.clip(np.rint(16 * np.exp(0.35 * rng.standard_normal(m))), 10, 45)
    liver_d = np.clip(np.rint(25 * np.exp(0.35 * rng.standard_normal(m))), 12, 70)
    s = les["site"].to_numpy()
    d0 = np.where(s == "thyroid", primary, np.where(les["is_node"], node_d, np.where(s == "lung", lung_d, liver_d)))
    les["d0"] = np.where(is_t, d0, np.nan)
    neck = np.isin(s, ["thyroid", "neck_node"])
    u = rng.random(m)
    les["modality"] = np.where(neck, np.where(u < 0.85, "ct", np.where(u < 0.95, "mri", "ultrasound")),
                               np.where(u < 0.9, "ct", np.where(s == "brain", "mri", "pet_ct")))
    les["patient_id"] = pt["patient_id"].to_numpy()[row]
    return les


def assessment_days(rng: np.random.Generator, pt: pd.DataFrame) -> pd.DataFrame:
    """Imaging days of the neoadjuvant patients who started therapy: scheduled, preoperative and
    the progression scan. One row per (patient, day) with a kind: scheduled / preop / progression."""
    neo = pt[pt["neoadjuvant"] & pt["eligible"]]
    n = len(neo)
    start = neo["tx_start"].to_numpy()
    surgery = neo["surgery_day"].to_numpy()
    tr, td, end = neo["tr_day"].to_numpy(), neo["td_day"].to_numpy(), neo["end_day"].to_numpy()
    prog = neo["progressed_before_surgery"].to_numpy() & (tr <= end)
    # the imaging window closes at the progression scan, else two weeks before surgery, else at death
    close = np.where(prog, tr, np.where(np.isnan(surgery), np.minimum(td, end + 1), surgery - 14))
    interval = rng.integers(P.ASSESSMENT_INTERVAL_DAYS[0], P.ASSESSMENT_INTERVAL_DAYS[1] + 1, n)
    K = 5
    k = np.arange(1, K + 1)
    sched = start[:, None] + interval[:, None] * k[None, :] + rng.integers(-4, 5, (n, K))
    ok = sched < close[:, None]
    ok &= sched <= end[:, None]
    rows, cols = np.nonzero(ok)
    days = [pd.DataFrame({"i": rows, "day": sched[rows, cols], "kind": "scheduled"})]
    last = np.where(ok.any(axis=1), np.where(ok, sched, -10**9).max(axis=1), start)
    pre = surgery - rng.integers(3, 15, n)
    has_pre = ~np.isnan(surgery) & ~prog & (pre >= last + 21) & (pre <= end)
    days.append(pd.DataFrame({"i": np.flatnonzero(has_pre), "day": pre[has_pre].astype(np.int64), "kind": "preop"}))
    days.append(pd.DataFrame({"i": np.flatnonzero(prog), "day": tr[prog], "kind": "progression"}))
    out = pd.concat(days, ignore_index=True)
    out["patient_id"] = neo["patient_id"].to_numpy()[out["i"].to_numpy()]
    out["pt_row"] = neo.index.to_numpy()[out["i"].to_numpy()]
    out = out.sort_values(["pt_row", "day"], kind="stable").reset_index(drop=True)
    out["visit"] = occurrence(out["pt_row"].to_numpy())
    return out.drop(columns="i")


def lesion_assessment_rows(rng: np.random.Generator, pt: pd.DataFrame, les: pd.DataFrame,
                           days: pd.DataFrame) -> pd.DataFrame:
    """Every lesion of the patient at every imaging day, plus a new lesion at the progression scan."""
    les = les.copy()
    les["pt_row"] = les["row"]
    grid = days.merge(les[["pt_row", "lesion_id", "site", "role", "is_node", "d0"]], on="pt_row", how="inner")
    grid = grid.sort_values(["pt_row", "lesion_id", "day"], kind="stable").reset_index(drop=True)
    m = len(grid)
    pr = grid["pt_row"].to_numpy()
    depth = pt["depth_pct"].to_numpy()[pr] / 100.0
    # a small lesion-level scatter around the patient's depth (never crossing the ±4 % gap)
    d_les = np.clip(depth + 0.02 * rng.standard_normal(m), -1.0, 0.10)
    d_les = np.where(depth <= -0.30, np.minimum(d_les, -0.32), np.maximum(d_les, -0.28))
    tau = pt["tau"].to_numpy()[pr]
    t = grid["day"].to_numpy() - pt["tx_start"].to_numpy()[pr]
    cont = grid["d0"].to_numpy() * (1 + d_les * (1 - np.exp(-t / tau)))
    node = grid["is_node"].to_numpy()
    cont = np.where(node, np.maximum(cont, pt["node_floor"].to_numpy()[pr]), cont)
    grid["cont"] = cont
    # monotone before progression: running minimum for shrinking lesions
    kind = grid["kind"].to_numpy()
    key = pd.Series(grid["pt_row"].to_numpy() * 100 + pd.factorize(grid["lesion_id"])[0])
    shrinking = d_les < 0
    runmin = pd.Series(np.where(kind == "progression", np.inf, cont)).groupby(key.to_numpy()).cummin().to_numpy()
    cont = np.where(shrinking & (kind != "progression"), runmin, cont)
    # progression scan: 25–45 % above the lesion's nadir
    prev_min = pd.Series(np.where(kind == "progression", np.inf, cont)).groupby(key.to_numpy()).cummin().to_numpy()
    nadir_les = np.minimum(prev_min, grid["d0"].to_numpy())
    cont = np.where(kind == "progression", nadir_les * rng.uniform(1.25, 1.45, m), cont)
    diam = np.rint(cont)
    status = np.where(node, "measured", np.where(diam < 3, "disappeared", np.where(diam < 5, "too_small", "measured")))
    diam = np.where(status == "disappeared", 0, np.where(status == "too_small", 5, diam))
    # plausibility: never more than ×4.5 / ÷4.5 between consecutive measurements (incl. baseline)
    prev = grid.groupby(key.to_numpy())["d0"].transform("first").to_numpy()
    diam_s = pd.Series(diam)
    prev_meas = diam_s.groupby(key.to_numpy()).shift(1).to_numpy()
    prev = np.where(np.isnan(prev_meas), prev, prev_meas)
    too_fast = (prev > 5) & (diam > 5) & (prev / np.maximum(diam, 1e-9) > 4.5)
    diam = np.where(too_fast, np.ceil(prev / 4.5), diam)
    # NE: one target lesion not imaged at some scheduled timepoints
    target = grid["role"].to_numpy() == "target"
    grid["diameter"] = np.where(target, diam, np.nan)
    grid["status"] = np.where(target, status, "not_applicable")
    # non-target lesions: absent after a deep response, unequivocal progression at some PD scans
    g = 1 - np.exp(-t / tau)
    absent = (depth <= -0.85) & (g >= 0.8)
    upd = (kind == "progression") & (pt["nt_pd_u"].to_numpy()[pr] < 0.3)
    grid["nt_status"] = np.where(target, None, np.where(upd, "unequivocal_progression", np.where(absent, "absent", "present")))
    # one target lesion not evaluable at ~5 % of scheduled visits (the visit becomes NE)
    visit_key = grid["pt_row"].to_numpy() * 100 + grid["visit"].to_numpy()
    sched_visits = np.unique(visit_key[(kind == "scheduled")])
    ne_visits = sched_visits[rng.random(len(sched_visits)) < P.P_NE_TIMEPOINT]
    tgt_rank = pd.Series(target.astype(int)).groupby(visit_key).cumsum().to_numpy()
    ne_row = np.isin(visit_key, ne_visits) & target & (tgt_rank == 1)
    grid.loc[ne_row, "diameter"] = np.nan
    grid.loc[ne_row, "status"] = "not_evaluable"
    grid["is_new"] = False
    # new lesion at the progression scan
    pd_rows = days[days["kind"] == "progression"]
    site_map = {"local": "thyroid", "regional": "neck_node", "distant": "lung"}
    new = pd.DataFrame({
        "pt_row": pd_rows["pt_row"].to_numpy(), "patient_id": pd_rows["patient_id"].to_numpy(), "day": pd_rows["day"].to_numpy(),
        "kind": "progression", "visit": pd_rows["visit"].to_numpy(), "lesion_id": "N1",
        "site": pd.Series(pt["recurrence_site"].to_numpy()[pd_rows["pt_row"].to_numpy()]).map(site_map).to_numpy(),
        "role": "new", "is_node": False, "diameter": np.nan, "status": "not_applicable", "nt_status": None, "is_new": True,
    })
    out = pd.concat([grid.drop(columns=["cont", "d0"]), new], ignore_index=True)
    return out.sort_values(["pt_row", "day", "lesion_id"], kind="stable").reset_index(drop=True)


def overall_responses(les: pd.DataFrame, assess: pd.DataFrame) -> pd.DataFrame:
    """Overall timepoint response per (patient, day) by RECIST 1.1 (§4.3, Table 1) from the measurements."""
    base = les[les["role"] == "target"].groupby("row")["d0"].sum()
    a = assess.copy()
    tgt = a["role"] == "target"
    ntg = a["role"] == "non_target"
    summary = pd.DataFrame({
        "sum": a["diameter"].where(tgt).groupby([a["pt_row"], a["day"]]).sum(min_count=1),
        "target_ne": (tgt & (a["status"] == "not_evaluable")).groupby([a["pt_row"], a["day"]]).any(),
        "nonnode_nonzero": (tgt & ~a["is_node"].astype(bool) & (a["diameter"] > 0)).groupby([a["pt_row"], a["day"]]).any(),
        "node_big": (tgt & a["is_node"].astype(bool) & (a["diameter"] >= 10)).groupby([a["pt_row"], a["day"]]).any(),
        "nt_n": ntg.groupby([a["pt_row"], a["day"]]).sum(),
        "nt_absent": (ntg & (a["nt_status"] == "absent")).groupby([a["pt_row"], a["day"]]).sum(),
        "nt_pd": (ntg & (a["nt_status"] == "unequivocal_progression")).groupby([a["pt_row"], a["day"]]).any(),
        "new": a["is_new"].astype(bool).groupby([a["pt_row"], a["day"]]).any(),
    }).reset_index()
    summary["baseline"] = summary["pt_row"].map(base).to_numpy()
    evaluable_sum = summary["sum"].where(~summary["target_ne"])
    g = summary["pt_row"]
    prev_min = evaluable_sum.groupby(g).shift(1).groupby(g).cummin().groupby(g).ffill()
    nadir = np.fmin(summary["baseline"].to_numpy(), prev_min.to_numpy())
    s = summary["sum"].to_numpy()
    t_pd = (s >= 1.2 * nadir) & (s - nadir >= 5) & ~summary["target_ne"].to_numpy()
    t_cr = ~summary["nonnode_nonzero"].to_numpy() & ~summary["node_big"].to_numpy() & ~summary["target_ne"].to_numpy()
    t_pr = s <= 0.7 * summary["baseline"].to_numpy()
    nt_cr = summary["nt_absent"].to_numpy() == summary["nt_n"].to_numpy()
    any_pd = t_pd | summary["nt_pd"].to_numpy() | summary["new"].to_numpy()
    resp = np.where(any_pd, "PD", np.where(summary["target_ne"], "NE", np.where(t_cr, np.where(nt_cr, "CR", "PR"),
                                                                                 np.where(t_pr, "PR", "SD"))))
    summary["overall_response"] = resp
    return summary[["pt_row", "day", "overall_response"]]


def lesions_table(les: pd.DataFrame, pt: pd.DataFrame, centers) -> pd.DataFrame:
    row = les["row"].to_numpy()
    return typed_table("lesions", {
        "patient_id": les["patient_id"], "center_id": centers.ids[pt["center"].to_numpy()[row]],
        "lesion_id": les["lesion_id"], "site": les["site"], "lesion_role": les["role"], "is_lymph_node": les["is_node"],
        "baseline_date": dates(pt["t0_date"].to_numpy()[row], pt["baseline_imaging_day"].to_numpy()[row]),
        "baseline_diameter_mm": les["d0"], "imaging_modality": les["modality"],
    }, len(les))


def lesion_assessments_table(assess: pd.DataFrame, pt: pd.DataFrame, centers) -> pd.DataFrame:
    row = assess["pt_row"].to_numpy()
    status = assess["status"].to_numpy(dtype=object)
    shown = np.isin(status, ["measured", "too_small", "disappeared"])
    return typed_table("lesion_assessments", {
        "patient_id": assess["patient_id"], "center_id": centers.ids[pt["center"].to_numpy()[row]],
        "lesion_id": assess["lesion_id"], "assessment_date": dates(pt["t0_date"].to_numpy()[row], assess["day"]),
        "measurement_status": status, "diameter_mm": np.where(shown, assess["diameter"], np.nan),
        "non_target_status": assess["nt_status"], "is_new_lesion": assess["is_new"].astype(bool),
    }, len(assess))


def timepoint_responses_table(resp: pd.DataFrame, pt: pd.DataFrame, centers, rng: np.random.Generator) -> pd.DataFrame:
    row = resp["pt_row"].to_numpy()
    center = pt["center"].to_numpy()[row]
    keep = centers.records_timepoint_responses[center]
    resp = resp[keep].reset_index(drop=True)
    row, center = row[keep], center[keep]
    central = rng.random(len(centers)) < 0.25
    return typed_table("timepoint_responses", {
        "patient_id": pt["patient_id"].to_numpy()[row], "center_id": centers.ids[center],
        "assessment_date": dates(pt["t0_date"].to_numpy()[row], resp["day"]),
        "overall_response": resp["overall_response"],
        "assessor": np.where(central[center], "central", "investigator"),
    }, len(resp))
