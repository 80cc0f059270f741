"""The latent patient table: baseline, assignment, potential and observed outcomes, and every
patient's timeline in days from time zero (the treatment decision, shared by both cohorts).

Timeline rules (kept so every date-order rule of the dictionary holds):
diagnosis < baseline imaging ≤ decision (day 0) ≤ treatment start < assessments < surgery <
complications / adjuvant / follow-up ≤ last contact = min(death, censoring) ≤ data cut.
Censoring: administrative at the data cut, plus loss to follow-up from day 270 on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from latc.synth import _params as P
from latc.synth._model import (depth_of_response, design_matrix, potential_outcomes, propensity_linear,
                               response_latent, response_linear, solve_intercept, viable_tumour_pct)
from latc.synth._patients import Centers, apply_screen_failures, draw_baseline, redraw_upfront_screen_failures
from latc.synth._treatment import plan_regimen
from latc.synth._util import choose, stream, triangular_days


def _ceil_day(t: np.ndarray) -> np.ndarray:
    return np.maximum(1, np.ceil(t)).astype(np.int64)


def build_patients(seed: int, n: int, centers: Centers, intercept: float | None = None) -> tuple[pd.DataFrame, float]:
    """Latent per-patient table (one row per patient, sorted by center and decision date) and the
    assignment intercept used."""
    rng = stream(seed, "patients")
    base = draw_baseline(rng, n, centers)
    base = apply_screen_failures(stream(seed, "screening"), base)

    # --- calendar: decision dates within each center's accrual window, then pseudonymous ids ---
    r = stream(seed, "calendar")
    start = np.datetime64(P.ACCRUAL_START) + centers.start_offset_days[base["center"].to_numpy()]
    span = (np.datetime64(P.ACCRUAL_END) - start).astype(np.int64)
    base["t0_date"] = start + np.floor(r.random(n) * (span + 1)).astype(np.int64)
    base = base.sort_values(["center", "t0_date"], kind="stable").reset_index(drop=True)
    seq = base.groupby("center").cumcount().to_numpy() + 1
    width = max(4, len(str(int(seq.max())) if n else "0"))
    base["patient_id"] = [f"{c}-{s:0{width}d}" for c, s in zip(centers.ids[base["center"].to_numpy()], seq)]

    # --- assignment: confounding by indication + center propensity ---
    x = design_matrix(base)
    center = base["center"].to_numpy()
    lin = propensity_linear(x, center, centers)
    if intercept is None:
        intercept = solve_intercept(lin, P.TARGET_NEOADJUVANT_SHARE)
    ps = expit(intercept + lin)
    ra = stream(seed, "assignment")
    neo = ra.random(n) < ps
    base["propensity"] = ps
    base["neoadjuvant"] = neo
    base["cohort"] = np.where(neo, "neoadjuvant", "upfront_surgery")
    # screen failures of the upfront cohort only on criteria that apply to it (docs/validation.md)
    base = redraw_upfront_screen_failures(stream(seed, "screening_upfront"), base)

    # --- potential outcomes (common random numbers) and the observed arm ---
    ro = stream(seed, "outcomes")
    z_rec, z_death = ro.standard_normal(n), ro.standard_normal(n)
    po = potential_outcomes(x, center, centers, z_rec, z_death)
    base = pd.concat([base, po], axis=1)
    base["z_recurrence"] = z_rec
    t_rec = np.where(neo, po["t_recurrence_neoadjuvant"], po["t_recurrence_upfront"])
    t_death = np.where(neo, po["t_death_neoadjuvant"], po["t_death_upfront"])
    base["tr_day"] = _ceil_day(t_rec)
    base["td_day"] = _ceil_day(t_death)

    # --- regimen, response latent, pathological response latent ---
    reg = plan_regimen(stream(seed, "regimen"), base)
    base = pd.concat([base, reg], axis=1)
    rr = stream(seed, "response")
    eta = response_linear(base, base["ici"].to_numpy())
    latent, z_eps = response_latent(rr, eta, z_rec)
    base["response_eta"] = eta
    base["response_latent"] = latent
    base["objective_response_latent"] = latent > 0
    base["depth_pct"] = depth_of_response(latent)
    base["viable_pct_latent"] = viable_tumour_pct(rr, base["histology"].to_numpy(), z_eps)

    _timeline(stream(seed, "timeline"), base)
    return base, float(intercept)


def _timeline(rng: np.random.Generator, pt: pd.DataFrame) -> None:
    """Add the day-offset timeline columns in place."""
    n = len(pt)
    neo = pt["neoadjuvant"].to_numpy()
    elig = pt["eligible"].to_numpy()
    tr, td = pt["tr_day"].to_numpy(), pt["td_day"].to_numpy()

    pt["dx_day"] = -rng.integers(10, 76, n)
    pt["baseline_imaging_day"] = -np.minimum(rng.integers(0, 22, n), -pt["dx_day"].to_numpy() - 1)
    pt["dx_basis_u"] = rng.random(n)
    pt["tau"] = rng.uniform(*P.SHRINK_TAU_DAYS, n)
    pt["node_floor"] = rng.integers(4, 9, n)
    pt["nt_pd_u"] = rng.random(n)

    # censoring: administrative (data cut) and loss to follow-up after day 270
    admin = (np.datetime64(P.DATA_CUT) - pt["t0_date"].to_numpy().astype("datetime64[D]")).astype(np.int64)
    ltfu = P.LOSS_TO_FOLLOW_UP_START_DAY + np.rint(rng.exponential(365.25 / P.LOSS_TO_FOLLOW_UP_PER_YEAR, n)).astype(np.int64)
    censor = np.minimum(admin, ltfu)
    end = np.minimum(td, censor)
    pt["censor_day"] = censor
    pt["end_day"] = end
    pt["death_observed"] = td <= censor
    pt["enrollment_day"] = np.minimum(rng.integers(0, 15, n), end)
    pt["consent_day"] = pt["enrollment_day"].to_numpy() - np.minimum(rng.integers(0, 4, n), 3)

    # --- neoadjuvant course ---
    tx_start = rng.integers(3, 22, n)
    tx_start = np.maximum(0, np.minimum(tx_start, np.minimum(tr, td) - 1))
    duration = triangular_days(rng, *P.DURATION_DAYS, n)
    tox = rng.random(n) < P.P_TOXICITY_STOP
    duration = np.where(tox, np.maximum(21, np.rint(duration * rng.uniform(0.3, 0.8, n))), duration)
    planned_stop = tx_start + duration
    surgery_plan_neo = planned_stop + rng.integers(7, 15, n)
    surgery_plan_up = rng.integers(7, 46, n)
    surgery_plan = np.where(neo, surgery_plan_neo, surgery_plan_up)

    prog_before = neo & (tr < surgery_plan_neo) & (tr <= td)
    death_before = td <= surgery_plan
    stop = planned_stop.copy()
    reason = np.where(tox, "toxicity", "planned_surgery").astype(object)
    patient_choice = ~tox & (rng.random(n) < 0.02)
    reason[patient_choice] = "patient_choice"
    on_tx_prog = prog_before & (tr <= planned_stop)
    stop = np.where(on_tx_prog, tr, stop)
    reason[on_tx_prog] = "progression"
    on_tx_death = neo & ~on_tx_prog & (td <= planned_stop)
    stop = np.where(on_tx_death, td, stop)
    reason[on_tx_death] = "death"
    pt["tx_start"] = np.where(neo, tx_start, np.nan)
    pt["tx_stop"] = np.where(neo, stop, np.nan)
    pt["reason_stopped"] = np.where(neo, reason, None)
    pt["progressed_before_surgery"] = prog_before | (~neo & (tr < surgery_plan_up) & (tr <= td))

    # --- surgery ---
    salvage = prog_before & (rng.random(n) < P.P_SALVAGE_SURGERY_AFTER_PROGRESSION)
    salvage_day = tr + rng.integers(14, 43, n)
    surgery = np.where(neo & prog_before, np.where(salvage & (salvage_day < td), salvage_day, -1),
                       np.where(death_before, -1, surgery_plan))
    surgery = np.where(surgery > end, -1, surgery)
    surgery = np.where(elig, surgery, -1)
    pt["surgery_day"] = np.where(surgery >= 0, surgery, np.nan)
    pt["operated"] = surgery >= 0
    pt["salvage_surgery"] = neo & prog_before & (surgery >= 0)

    # --- recurrence / progression as observed ---
    rec_obs = (tr <= end) & elig
    pt["recurrence_observed"] = rec_obs
    hist = pt["histology"].to_numpy()
    site = choose(rng, {"local": 0.3, "regional": 0.4, "distant": 0.3}, n)
    site = np.where((hist == "atc") & (rng.random(n) < 0.3), "distant", site)
    pt["recurrence_site"] = np.where(rec_obs, site, None)
    after_surgery = rec_obs & pt["operated"].to_numpy() & (tr > np.nan_to_num(pt["surgery_day"].to_numpy(), nan=1e9))
    biochemical = after_surgery & np.isin(hist, ["ptc", "ftc", "oncocytic", "pdtc", "mtc"]) & (rng.random(n) < 0.25)
    pt["recurrence_type"] = np.where(rec_obs, np.where(biochemical, "biochemical", "structural"), None)
    # cause of death
    cause = np.where(rec_obs & (tr <= td), choose(rng, {"thyroid_cancer": 0.85, "other_cause": 0.1, "unknown": 0.05}, n),
                     np.where(hist == "atc", choose(rng, {"thyroid_cancer": 0.8, "treatment_complication": 0.05, "unknown": 0.15}, n),
                              choose(rng, {"other_cause": 0.55, "other_cancer": 0.15, "thyroid_cancer": 0.15,
                                           "treatment_complication": 0.03, "unknown": 0.12}, n)))
    pt["cause_of_death"] = np.where(pt["death_observed"].to_numpy() & elig, cause, None)
