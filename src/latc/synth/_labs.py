"""Tumour markers and thyroid function: Tg / TgAb / TSH (DTC, PDTC), calcitonin / CEA (MTC),
TSH (ATC).

Sampling days: baseline (before the decision), each on-treatment imaging day, after surgery
(the TSH-stimulated Tg before RAI when RAI is given), and each follow-up visit but the last contact
of a patient who died. Samples of one patient are ≥ 15 days apart, so the dictionary's plausibility
rule (≤ 10× the previous value within 14 days) can never fire on clean data.

Marker level = baseline level × tumour burden: before surgery the burden follows the target-lesion
curve (neoadjuvant) or stays at 1 (upfront); after surgery it drops to a residual level (persistent
disease for R2 or M1 without pCR), and rises twenty-fold towards a recurrence. TgAb-positive
patients (ATA2015: ≈ 20 %) have falsely low Tg and a TgAb trend that follows the burden.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.synth import _params as P
from latc.synth._util import Coded, dates, typed_table

STIMULATED = 1  # kind of a sampling day: the TSH-stimulated Tg before RAI (others 0)
LOD = {"tg": 0.1, "tsh": 0.005, "calcitonin": 1.0, "cea": 0.5}
URL = {"tg": 77.0, "tsh": 4.2, "calcitonin": 10.0, "cea": 5.0}
TGAB_ASSAY = [("iu_ml", 115.0, 10.0), ("kiu_l", 4.0, 0.9)]  # unit, URL, LoD per center assay


def lab_days(rng: np.random.Generator, pt: pd.DataFrame, assess_days: pd.DataFrame, adj: pd.DataFrame,
             visits: pd.DataFrame) -> pd.DataFrame:
    """Sampling days per patient (latent): one row per (patient, day), with a kind."""
    e = pt[pt["eligible"]]
    parts = [pd.DataFrame({"pt_row": e.index.to_numpy(), "day": -rng.integers(1, 8, len(e)), "kind": 0})]
    parts.append(pd.DataFrame({"pt_row": assess_days["pt_row"].to_numpy(), "day": assess_days["day"].to_numpy(), "kind": 0}))
    op = e[e["operated"]]
    rai = adj[adj["therapy"] == "rai"].drop_duplicates("pt_row")
    rai_day = pd.Series(rai["day"].to_numpy() - 2, index=rai["pt_row"].to_numpy())
    post = op["surgery_day"].to_numpy() + rng.integers(35, 57, len(op))
    post = np.where(op.index.isin(rai_day.index), rai_day.reindex(op.index).to_numpy(), post)
    parts.append(pd.DataFrame({"pt_row": op.index.to_numpy(), "day": post.astype(np.int64),
                               "kind": np.where(op.index.isin(rai_day.index), STIMULATED, 0)}))
    fv = visits[~visits["dead"].to_numpy()]
    parts.append(pd.DataFrame({"pt_row": fv["pt_row"].to_numpy(), "day": fv["day"].to_numpy(), "kind": 0}))
    d = pd.concat(parts, ignore_index=True)
    d = d[d["day"].to_numpy() <= pt["end_day"].to_numpy()[d["pt_row"].to_numpy()]]
    d = d[d["day"].to_numpy() > pt["dx_day"].to_numpy()[d["pt_row"].to_numpy()]]
    # stimulated samples first on ties so they are kept; then ≥ 15 days between kept samples
    d = d.assign(prio=(d["kind"] != STIMULATED).astype(int)).sort_values(["pt_row", "day", "prio"], kind="stable")
    d = d.reset_index(drop=True)
    gap = d.groupby("pt_row")["day"].diff().to_numpy()
    d = d[np.isnan(gap) | (gap >= 15)].reset_index(drop=True)
    return d.drop(columns="prio")


def _burden(rng: np.random.Generator, pt: pd.DataFrame, d: pd.DataFrame, p_viable: pd.Series) -> np.ndarray:
    """Tumour burden relative to baseline at each sampling day."""
    r = d["pt_row"].to_numpy()
    day = d["day"].to_numpy().astype(float)
    neo = pt["neoadjuvant"].to_numpy()[r]
    start = pt["tx_start"].to_numpy()[r]
    tau = pt["tau"].to_numpy()[r]
    depth = pt["depth_pct"].to_numpy()[r] / 100
    tr = pt["tr_day"].to_numpy()[r].astype(float)
    sx = pt["surgery_day"].to_numpy()[r]
    g = np.where(day > start, 1 - np.exp(-(day - start) / tau), 0.0)
    pre = np.where(neo, 1 + depth * g, 1.0)
    pre = np.where(day >= tr, np.maximum(pre, 1.0) * 1.3, pre)
    persistent = (pt["resection_status"].to_numpy(dtype=object)[r] == "R2") | (
        pt["m1"].to_numpy()[r] & ~p_viable.reindex(r).fillna(False).to_numpy(dtype=bool))
    resid = np.where(persistent, 0.08, 0.0008) * np.exp(0.5 * pt["marker_u"].to_numpy()[r])
    rec_after = pt["recurrence_observed"].to_numpy()[r] & (tr > np.nan_to_num(sx, nan=np.inf))
    k = np.where(rec_after, np.log(20) / np.maximum(tr - np.nan_to_num(sx, nan=0), 30), 0.0)
    post = resid * np.exp(k * np.maximum(day - np.nan_to_num(sx, nan=0), 0))
    return np.where(~np.isnan(sx) & (day > sx), post, pre)


def lab_rows(rng: np.random.Generator, pt: pd.DataFrame, d: pd.DataFrame, pcr_by_row: pd.Series, centers) -> pd.DataFrame:
    """Values of every test at every sampling day (latent rows ready for the labs form)."""
    r = d["pt_row"].to_numpy()
    hist = pt["histology"].to_numpy()[r]
    burden = _burden(rng, pt, d, pcr_by_row)
    noise = lambda: np.exp(0.15 * rng.standard_normal(len(d)))  # noqa: E731
    center = pt["center"].to_numpy()[r]
    stim = (d["kind"] == STIMULATED).to_numpy()
    out = []
    diff = np.isin(hist, ["ptc", "ftc", "oncocytic", "pdtc"])
    tgab_pos = pt["tgab_positive"].to_numpy()[r]
    after = ~np.isnan(pt["surgery_day"].to_numpy()[r]) & (d["day"].to_numpy() > pt["surgery_day"].to_numpy()[r])
    # Tg: falsely low when TgAb-positive; stimulated ×5
    tg = pt["tg0"].to_numpy()[r] * burden * noise() * np.where(tgab_pos, 0.2, 1.0) * np.where(stim, 5.0, 1.0)
    out.append(("tg", diff, tg, centers.tg_unit, LOD["tg"], URL["tg"], stim))
    assay = centers.tgab_assay[center]
    t_url = np.where(assay == 0, TGAB_ASSAY[0][1], TGAB_ASSAY[1][1])
    t_lod = np.where(assay == 0, TGAB_ASSAY[0][2], TGAB_ASSAY[1][2])
    t_unit = np.where(centers.tgab_assay == 0, TGAB_ASSAY[0][0], TGAB_ASSAY[1][0])
    tgab = np.where(tgab_pos, t_url * pt["tgab_ratio"].to_numpy()[r] * np.maximum(burden, 0.05) ** 0.5,
                    t_url * 0.15) * noise()
    out.append(("tgab", diff, tgab, t_unit, t_lod, t_url, np.zeros(len(d), bool)))
    tsh = np.where(stim, 30 + 60 * rng.random(len(d)), np.where(after, 0.05 + 0.45 * rng.random(len(d)), 0.5 + 3.5 * rng.random(len(d))))
    has_tsh = diff | (hist == "atc")
    out.append(("tsh", has_tsh, tsh, centers.tsh_unit, LOD["tsh"], URL["tsh"], np.zeros(len(d), bool)))
    mtc = hist == "mtc"
    out.append(("calcitonin", mtc, pt["ctn0"].to_numpy()[r] * burden * noise(), centers.calcitonin_unit,
                LOD["calcitonin"], URL["calcitonin"], np.zeros(len(d), bool)))
    out.append(("cea", mtc, np.maximum(pt["cea0"].to_numpy()[r] * burden, 1.2) * noise(), centers.cea_unit,
                LOD["cea"], URL["cea"], np.zeros(len(d), bool)))
    tests = [o[0] for o in out]
    units = sorted({u for o in out for u in np.unique(np.asarray(o[3], dtype=object))})
    cols: dict[str, list] = {k: [] for k in ("pt_row", "day", "test", "value", "unit", "below", "url", "stimulated")}
    for k, (test, mask, value, unit, lod, url, stimulated) in enumerate(out):
        lod = np.broadcast_to(lod, len(d))
        url = np.broadcast_to(url, len(d))
        below = value < lod
        v = np.where(below, lod, value)
        v = np.clip(np.where(v >= 10, np.rint(v * 10) / 10, np.round(v, 3)), 0, 900000)
        unit_code = pd.Categorical(np.asarray(unit, dtype=object), categories=units).codes[center]  # per center
        for name, val in (("pt_row", r), ("day", d["day"].to_numpy()), ("test", np.full(len(d), k)), ("value", v),
                          ("unit", unit_code), ("below", below), ("url", url), ("stimulated", stimulated)):
            cols[name].append(np.asarray(val)[mask])
    labs = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    order = np.lexsort((labs["test"].to_numpy(), labs["day"].to_numpy(), labs["pt_row"].to_numpy()))
    labs = labs.iloc[order].reset_index(drop=True)
    labs.attrs["tests"] = tests
    labs.attrs["units"] = units
    return labs


def labs_table(labs: pd.DataFrame, pt: pd.DataFrame, centers) -> pd.DataFrame:
    r = labs["pt_row"].to_numpy()
    test = labs["test"].to_numpy()
    is_tg = test == labs.attrs["tests"].index("tg")
    return typed_table("labs", {
        "patient_id": Coded(r, pt["patient_id"].to_numpy()), "center_id": Coded(pt["center"].to_numpy()[r], centers.ids),
        "lab_date": dates(pt["t0_date"].to_numpy()[r], labs["day"]), "test": Coded(test, np.asarray(labs.attrs["tests"])),
        "value": labs["value"], "unit": Coded(labs["unit"].to_numpy(), np.asarray(labs.attrs["units"])),
        "below_detection": labs["below"], "upper_reference_limit": labs["url"],
        "stimulated": pd.arrays.BooleanArray(labs["stimulated"].to_numpy(dtype=bool), ~is_tg),
    }, len(labs))


def marker_baselines(rng: np.random.Generator, pt: pd.DataFrame) -> None:
    """Per-patient baseline marker levels and TgAb status (in place)."""
    n = len(pt)
    pt["tg0"] = np.clip(400 * np.exp(1.4 * rng.standard_normal(n)) * (1 + 3 * pt["m1"].to_numpy()), 2, 150000)
    pt["tgab_positive"] = rng.random(n) < P.P_TGAB_POSITIVE
    pt["tgab_ratio"] = np.exp(rng.uniform(np.log(2), np.log(20), n))
    pt["ctn0"] = np.clip(1500 * np.exp(1.2 * rng.standard_normal(n)), 30, 150000)
    pt["cea0"] = np.clip(25 * np.exp(1.1 * rng.standard_normal(n)), 2, 5000)
    pt["marker_u"] = rng.standard_normal(n)
