"""Neoadjuvant regimens and drug courses (the treatments form) and adverse events (CTCAE v5).

Regimen by histology and *recorded* molecular status (NCCN / ATA practice; NeoLen, Wang2019,
LIBRETTO): BRAF V600E → dabrafenib + trametinib (two courses, class braf_mek) ± pembrolizumab;
RET mutation or RET fusion → selpercatinib or pralsetinib; NTRK fusion → larotrectinib; other
ATC → lenvatinib + ICI (some paclitaxel + carboplatin); other MTC → anlotinib / cabozantinib /
vandetanib; other DTC / PDTC → lenvatinib / anlotinib / apatinib / sorafenib ± ICI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.synth import _params as P
from latc.synth._util import choose, dates, occurrence, typed_table


def plan_regimen(rng: np.random.Generator, pt: pd.DataFrame) -> pd.DataFrame:
    """Per patient: the targeted/cytotoxic agents (``|``-joined) and the checkpoint inhibitor (or None)."""
    n = len(pt)
    hist = pt["histology"].to_numpy()
    tested = pt["tested"].to_numpy()
    braf = tested & pt["braf"].to_numpy() & ((hist == "atc") | (rng.random(n) < P.P_BRAF_MEK_DTC))
    ret = tested & (pt["ret_mutation"].to_numpy() | (pt["fusion"].to_numpy() == "ret"))
    ntrk = tested & (pt["fusion"].to_numpy() == "ntrk")
    mki = choose(rng, P.MKI_CHOICE, n)
    mki_mtc = choose(rng, P.MKI_CHOICE_MTC, n)
    ret_drug = np.where(rng.random(n) < P.P_SELPERCATINIB, "selpercatinib", "pralsetinib")
    chemo = (hist == "atc") & (rng.random(n) < P.P_CHEMO_ATC)
    base = np.where(hist == "mtc", mki_mtc, mki)
    base = np.where(hist == "atc", np.where(chemo, "paclitaxel|carboplatin", "lenvatinib"), base)
    base = np.where(ntrk, "larotrectinib", base)
    base = np.where(ret, ret_drug, base)
    base = np.where(braf, "dabrafenib|trametinib", base)
    p_ici = np.where(hist == "atc", P.P_ICI["atc"], np.where(hist == "pdtc", P.P_ICI["pdtc"], P.P_ICI["default"]))
    p_ici = np.where(ret | ntrk | (hist == "mtc") | chemo, 0.0, p_ici)
    ici_agent = np.where(braf, "pembrolizumab", choose(rng, P.ICI_CHOICE, n))
    ici = np.where(rng.random(n) < p_ici, ici_agent, None)
    return pd.DataFrame({"agents": base, "ici_agent": ici, "ici": ici != None})  # noqa: E711


def treatment_rows(rng: np.random.Generator, pt: pd.DataFrame) -> pd.DataFrame:
    """One row per drug course of the neoadjuvant patients who started therapy (latent, in days)."""
    neo = pt[pt["neoadjuvant"] & pt["eligible"]]
    joined = neo["agents"].where(neo["ici_agent"].isna(), neo["agents"] + "|" + neo["ici_agent"].fillna(""))
    exploded = joined.str.split("|").explode()
    src = neo.index.get_indexer(exploded.index)
    rows = neo.iloc[src].reset_index(drop=True)
    rows["agent"] = exploded.to_numpy(dtype=object)
    occ = occurrence(rows["patient_id"].to_numpy())
    rows["course_id"] = occ + 1
    rows["agent_class"] = rows["agent"].map(P.AGENT_CLASS)
    is_ici = rows["agent_class"].to_numpy() == "ici"
    is_chemo = rows["agent_class"].to_numpy() == "chemo"
    # ICI and chemotherapy are given every 3 weeks: the last dose (stop) is ≥ 3 weeks before the
    # planned surgery, never after the targeted therapy stopped
    stop = rows["tx_stop"].to_numpy().astype(float)
    q3w_stop = np.maximum(rows["tx_start"].to_numpy(), stop - rng.integers(14, 22, len(rows)))
    planned = rows["reason_stopped"].to_numpy() == "planned_surgery"
    stop = np.where((is_ici | is_chemo) & planned, q3w_stop, stop)
    rows["course_stop"] = stop
    rows["start_dose"] = rows["agent"].map({a: v[0] for a, v in P.DOSE.items()})
    rows["dose_unit"] = rows["agent"].map({a: v[1] for a, v in P.DOSE.items()})
    return rows


def adverse_event_rows(rng: np.random.Generator, courses: pd.DataFrame) -> pd.DataFrame:
    """Adverse events per patient from the classes of the agents received (CTCAE v5 terms;
    regimen-specific rates in ``AE_RATES``). Latent, in days."""
    per_patient = courses.groupby("patient_id", sort=False).agg(
        tx_start=("tx_start", "first"), tx_stop=("tx_stop", "first"), end_day=("end_day", "first"),
        wall=("invasion_trachea", "first"))
    pos = per_patient.index.get_indexer(courses["patient_id"])
    classes = list(P.AE_RATES)
    member_arr = np.zeros((len(per_patient), len(classes)), dtype=bool)
    member_arr[pos, pd.Categorical(courses["agent_class"], categories=classes).codes] = True
    member = pd.DataFrame(member_arr, columns=classes)
    pids = per_patient.index.to_numpy()
    terms = sorted({t for rates in P.AE_RATES.values() for t in rates})
    n, m = len(pids), len(terms)
    p_none = np.ones((n, m))
    p_g3 = np.zeros((n, m))
    wall = per_patient["wall"].to_numpy().astype(bool)
    for cls, rates in P.AE_RATES.items():
        has = member[cls].to_numpy() if cls in member.columns else np.zeros(n, dtype=bool)
        for term, (pa, pg) in rates.items():
            j = terms.index(term)
            # fistula only with tracheal / oesophageal wall invasion (kinase inhibitor + invaded wall)
            pa_eff = np.where(wall, 2.0 * pa, 0.0) if "fistula" in term else np.full(n, pa)
            p_none[:, j] *= np.where(has, 1 - pa_eff, 1.0)
            p_g3[:, j] = np.where(has, np.maximum(p_g3[:, j], pg), p_g3[:, j])
    p_any = 1 - p_none
    occurs = rng.random((n, m)) < p_any
    pi, tj = np.nonzero(occurs)
    ev = pd.DataFrame({"patient_id": pids[pi], "ctcae_term": np.asarray(terms, dtype=object)[tj]})
    g3 = rng.random(len(ev)) < p_g3[pi, tj]
    grade = np.where(g3, np.where(rng.random(len(ev)) < 0.1, 4, 3), np.where(rng.random(len(ev)) < 0.55, 1, 2))
    start0 = per_patient["tx_start"].to_numpy()[pi]
    stop0 = per_patient["tx_stop"].to_numpy()[pi]
    end = per_patient["end_day"].to_numpy()[pi]
    onset = start0 + np.minimum(np.rint(rng.exponential(25, len(ev))), np.maximum(stop0 - start0, 0))
    keep = onset <= end
    duration = np.rint(rng.gamma(2.0, 12.0, len(ev))) + 3
    stop = onset + duration
    ongoing = (rng.random(len(ev)) < 0.1) | (stop > end)
    ev["grade"] = grade
    ev["start"] = onset
    ev["stop"] = np.where(ongoing, np.nan, stop)
    ev["serious"] = (grade >= 4) | ((grade == 3) & (rng.random(len(ev)) < 0.4))
    related = ~np.isin(ev["ctcae_term"], ["thromboembolic_event", "pharyngeal_hemorrhage", "tracheal_hemorrhage"]) | (rng.random(len(ev)) < 0.5)
    ev["attribution"] = np.where(related, choose(rng, {"possible": 0.3, "probable": 0.45, "definite": 0.25}, len(ev)),
                                 choose(rng, {"unrelated": 0.4, "unlikely": 0.6}, len(ev)))
    act = np.where(grade >= 3, choose(rng, {"dose_reduced": 0.45, "interrupted": 0.45, "discontinued": 0.1}, len(ev)),
                   np.where((grade == 2) & (rng.random(len(ev)) < 0.3), "interrupted", "none"))
    ev["action_taken"] = np.where(related, act, "none")
    ev["surgical_delay"] = (grade >= 3) & (rng.random(len(ev)) < 0.1)
    ev = ev[keep].sort_values(["patient_id", "start", "ctcae_term"], kind="stable").reset_index(drop=True)
    ev["ae_id"] = occurrence(ev["patient_id"].to_numpy()) + 1
    return ev


def treatments_table(courses: pd.DataFrame, ae: pd.DataFrame, rng: np.random.Generator, centers) -> pd.DataFrame:
    """The treatments form; dose reductions / interruptions agree with the adverse events' actions."""
    acted = ae[ae["action_taken"].isin(["dose_reduced", "interrupted"])]
    reduced_pids = set(acted.loc[acted["action_taken"] == "dose_reduced", "patient_id"])
    interrupted_pids = set(acted["patient_id"])
    agent = courses["agent"]
    first_level = agent.map({a: (v[2][0] if v[2] else np.nan) for a, v in P.DOSE.items()}).to_numpy(dtype=float)
    second_level = agent.map({a: (v[2][-1] if v[2] else np.nan) for a, v in P.DOSE.items()}).to_numpy(dtype=float)
    reduced = courses["patient_id"].isin(reduced_pids).to_numpy() & ~np.isnan(first_level)
    interrupted = courses["patient_id"].isin(interrupted_pids).to_numpy()
    final = np.where(rng.random(len(courses)) < 0.3, second_level, first_level)
    t0 = courses["t0_date"].to_numpy()
    return typed_table("treatments", {
        "patient_id": courses["patient_id"], "center_id": centers.ids[courses["center"]],
        "course_id": courses["course_id"], "agent": courses["agent"], "agent_class": courses["agent_class"],
        "start_date": dates(t0, courses["tx_start"]), "stop_date": dates(t0, courses["course_stop"]),
        "start_dose": courses["start_dose"], "dose_unit": courses["dose_unit"], "dose_reduced": reduced,
        "interrupted": interrupted, "final_dose": np.where(reduced, final, np.nan),
        "reason_stopped": courses["reason_stopped"],
    }, len(courses))


def adverse_events_table(ae: pd.DataFrame, pt_index: pd.DataFrame, centers) -> pd.DataFrame:
    info = pt_index.loc[ae["patient_id"]]
    t0 = info["t0_date"].to_numpy()
    return typed_table("adverse_events", {
        "patient_id": ae["patient_id"], "center_id": centers.ids[info["center"].to_numpy()], "ae_id": ae["ae_id"],
        "ctcae_term": ae["ctcae_term"], "grade": ae["grade"].astype(str).to_numpy(dtype=object),
        "start_date": dates(t0, ae["start"]), "stop_date": dates(t0, ae["stop"]), "serious": ae["serious"],
        "attribution": ae["attribution"], "action_taken": ae["action_taken"], "surgical_delay": ae["surgical_delay"],
    }, len(ae))
