"""Tumour at baseline: histology, molecular alterations, AJCC 8th cTNM, invaded structures,
resectability and the baseline surgical plan — all mutually consistent.

Consistency rules built in (AJCC 8th edition, thyroid chapter):
* cT4b ⇔ at least one of carotid encasement, prevertebral fascia, mediastinal vessels;
  cT4a ⇔ none of those and at least one of trachea, larynx, oesophagus, RLN, subcutaneous tissue.
* drivers are mutually exclusive (BRAF V600E / RAS / RET mutation / kinase fusion); BRAF only in
  PTC, PDTC and ATC; RET mutation only in MTC; TERT promoter co-occurs (never in MTC).
* distant-metastasis sites only when cM1; a tracheal / oesophageal / laryngeal plan only when
  that structure is invaded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.synth import _params as P
from latc.synth._util import choose, choose_by_row

HISTOLOGIES = list(P.HISTOLOGY)
T4A_STRUCTURES = ["trachea", "larynx", "esophagus", "rln", "skin"]
T4B_STRUCTURES = ["carotid", "prevertebral", "mediastinal_vessels"]
INVASION_FIELDS = ["strap_muscles", *T4A_STRUCTURES, *T4B_STRUCTURES]


def hist_index(hist: np.ndarray) -> np.ndarray:
    """Position of each histology code in :data:`HISTOLOGIES`."""
    lookup = {h: i for i, h in enumerate(HISTOLOGIES)}
    return pd.Series(hist).map(lookup).to_numpy(dtype=np.int64)


def per_histology(hist_idx: np.ndarray, values: dict, default=None) -> np.ndarray:
    """Look a per-histology parameter up for every patient (vectorised)."""
    table = [values.get(h, values.get("default", default)) for h in HISTOLOGIES]
    return np.asarray(table, dtype=float)[hist_idx]


def draw_tumour(rng: np.random.Generator, hist: np.ndarray, t4b_shift: np.ndarray) -> pd.DataFrame:
    """Baseline tumour features for patients of the given histologies.

    ``t4b_shift`` is each patient's center case-mix shift on the logit of P(cT4b).
    """
    n = len(hist)
    hi = hist_index(hist)

    # --- molecular: one driver at most (TCGA2014, Landa2016, Ciampi2019) ---
    drivers = np.asarray([P.DRIVERS[h] for h in HISTOLOGIES])[hi]  # n × 7
    probs = np.column_stack([drivers, np.clip(1 - drivers.sum(axis=1), 0, 1)])
    driver = choose_by_row(rng, probs, ["braf", "ras", "ret_mutation", "ret", "ntrk", "alk", "other", "none"])
    tert = rng.random(n) < per_histology(hi, P.TERT)
    subtype = np.empty(n, dtype=object)
    for h in HISTOLOGIES:
        m = hist == h
        if m.any():
            subtype[m] = choose(rng, P.SUBTYPES[h], int(m.sum()))
    # tall-cell / columnar / hobnail PTC are the BRAF-rich aggressive variants: recode a share of
    # BRAF-negative aggressive variants to classic so the association appears (TCGA2014)
    aggressive = np.isin(subtype, ["tall_cell", "columnar", "hobnail"]) & (driver != "braf")
    subtype[aggressive & (rng.random(n) < 0.5)] = "classic"
    subtype[rng.random(n) < P.SUBTYPE_MISSING] = None

    # --- T category and invaded structures (AJCC 8th) ---
    logit_t4b = np.log(per_histology(hi, P.T4B) / (1 - per_histology(hi, P.T4B))) + t4b_shift
    t4b = rng.random(n) < 1 / (1 + np.exp(-logit_t4b))
    inv = {}
    for s, p in P.INVASION_T4A.items():
        inv[s] = rng.random(n) < p
    t4a_any = np.column_stack([inv[s] for s in T4A_STRUCTURES]).any(axis=1)
    forced = choose(rng, {"trachea": 0.45, "rln": 0.35, "esophagus": 0.12, "skin": 0.04, "larynx": 0.04}, n)
    for s in T4A_STRUCTURES:
        inv[s] = inv[s] | (~t4a_any & (forced == s))
    for s, p in P.INVASION_T4B.items():
        inv[s] = t4b & (rng.random(n) < p)
    t4b_any = np.column_stack([inv[s] for s in T4B_STRUCTURES]).any(axis=1)
    forced_b = choose(rng, {"carotid": 0.5, "prevertebral": 0.25, "mediastinal_vessels": 0.25}, n)
    for s in T4B_STRUCTURES:
        inv[s] = inv[s] | (t4b & ~t4b_any & (forced_b == s))

    size_med = np.where(hist == "atc", P.PRIMARY_SIZE_MM["atc"][0], P.PRIMARY_SIZE_MM["default"][0])
    size_sd = np.where(hist == "atc", P.PRIMARY_SIZE_MM["atc"][1], P.PRIMARY_SIZE_MM["default"][1])
    size = np.clip(np.rint(size_med * np.exp(size_sd * rng.standard_normal(n))), 15, 140)

    cn_p = np.where((hist == "mtc")[:, None], np.asarray(P.CN["mtc"])[None, :], np.asarray(P.CN["default"])[None, :])
    cn = choose_by_row(rng, cn_p, ["N0", "N1a", "N1b"])
    m1 = rng.random(n) < per_histology(hi, P.CM)
    m1_site = np.where(m1, choose(rng, P.M1_SITES, n), None)

    # --- resectability (MDT) and the baseline surgical plan ---
    n_inv = np.column_stack([inv[s] for s in INVASION_FIELDS]).sum(axis=1)
    R = P.RESECTABILITY
    score = (R["t4b"] * t4b + R["per_structure"] * n_inv + R["larynx"] * inv["larynx"] + R["atc"] * (hist == "atc")
             + rng.logistic(size=n))
    resect = np.where(score > R["cut_unresectable"], "unresectable", np.where(score > R["cut_borderline"], "borderline", "resectable"))
    plan_lar = (inv["larynx"] & (rng.random(n) < P.PLAN_LARYNGECTOMY_IF_LARYNX)) | (
        inv["trachea"] & (rng.random(n) < P.PLAN_LARYNGECTOMY_IF_TRACHEA))
    plan_tra = np.where(inv["trachea"], choose(rng, P.PLAN_TRACHEA, n), "none")
    plan_eso = inv["esophagus"] & (rng.random(n) < P.PLAN_ESOPHAGEAL_IF_INVADED)

    out = pd.DataFrame({
        "histology_subtype": subtype, "driver": driver, "tert": tert, "t4b": t4b,
        **{f"invasion_{s}": inv[s] for s in INVASION_FIELDS},
        "n_invaded": n_inv, "primary_size_mm": size, "cn": cn, "m1": m1, "m1_site": m1_site,
        "resectability": resect, "planned_laryngectomy": plan_lar, "planned_tracheal_resection": plan_tra,
        "planned_esophageal_resection": plan_eso,
    })
    out["braf"] = driver == "braf"
    out["ras"] = driver == "ras"
    out["ret_mutation"] = driver == "ret_mutation"
    out["fusion"] = np.where(np.isin(driver, ["ret", "ntrk", "alk", "other"]), driver, "none")
    return out
