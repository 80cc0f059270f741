"""The data-generating model behind the synthetic cohort: design matrix, neoadjuvant assignment
(confounding by indication + center effects), potential outcomes with common random numbers, the
response latent, and the marginal hazard ratios.

Outcomes (time zero = treatment decision, in years for the baseline hazard):

* recurrence/progression (cause-specific): h_R(t | x, a) = h0_R(t) · exp(x·β_R + c_R[center] + a·log HR_R)
* death (all causes):                     h_D(t | x, a) = h0_D(t) · exp(x·β_D + c_D[center] + a·log HR_D)

with Weibull baselines h0(t) = scale · shape · t^(shape−1). Given the covariates, recurrence and
death latent times are independent, so a Cox model of recurrence (death censored) or of death on
the design columns + center recovers log HR exactly (the *conditional* effect). Both potential
outcomes T(0), T(1) come from the same uniform (common random numbers), so the *marginal* HR is
obtained by fitting a one-covariate Cox model on the stacked potential outcomes of a large sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtr

from latc.synth import _params as P
from latc.synth._cox import cox_fit
from latc.synth._patients import Centers, draw_baseline
from latc.synth._tumour import HISTOLOGIES, hist_index, per_histology
from latc.synth._util import stream

DAYS_PER_YEAR = 365.25

#: how each design column is computed from the recorded study fields (documented in truth.json)
DESIGN_COLUMNS = {
    "hist_ftc": "diagnosis.histology == 'ftc'",
    "hist_oncocytic": "diagnosis.histology == 'oncocytic'",
    "hist_pdtc": "diagnosis.histology == 'pdtc'",
    "hist_atc": "diagnosis.histology == 'atc'",
    "hist_mtc": "diagnosis.histology == 'mtc'",
    "t4b": "diagnosis.ct == 'T4b'",
    "n_invaded": "number of diagnosis.invasion_* fields == 1 (9 structures incl. strap muscles)",
    "n1b": "diagnosis.cn == 'N1b'",
    "m1": "diagnosis.cm == 'M1'",
    "age_per10": "(patients.age_at_diagnosis - 55) / 10",
    "ecog1": "patients.ecog == '1'",
    "ecog2": "patients.ecog == '2'",
    "tert": "diagnosis.tert_promoter == 'positive' (true status; 'not_tested' is missing completely at random)",
    "borderline": "diagnosis.baseline_resectability == 'borderline'",
    "unresectable": "diagnosis.baseline_resectability == 'unresectable'",
    "braf_atc": "diagnosis.histology == 'atc' and diagnosis.braf_v600e == 'positive' (recorded: every such patient "
                "receives BRAF-directed therapy, neoadjuvant or after upfront surgery)",
    "planned_laryngectomy": "diagnosis.planned_laryngectomy == 1 (assignment model only)",
}


def design_matrix(base: pd.DataFrame) -> pd.DataFrame:
    """The design columns (:data:`DESIGN_COLUMNS`) from latent baseline covariates."""
    h = base["histology"].to_numpy()
    res = base["resectability"].to_numpy()
    ecog = base["ecog"].to_numpy()
    return pd.DataFrame({
        "hist_ftc": h == "ftc", "hist_oncocytic": h == "oncocytic", "hist_pdtc": h == "pdtc",
        "hist_atc": h == "atc", "hist_mtc": h == "mtc", "t4b": base["t4b"].to_numpy(),
        "n_invaded": base["n_invaded"].to_numpy(), "n1b": base["cn"].to_numpy() == "N1b", "m1": base["m1"].to_numpy(),
        "age_per10": (base["age"].to_numpy() - 55) / 10.0, "ecog1": ecog == 1, "ecog2": ecog == 2,
        "tert": base["tert"].to_numpy(), "borderline": res == "borderline", "unresectable": res == "unresectable",
        "braf_atc": (h == "atc") & base["braf"].to_numpy() & base["tested"].to_numpy(),
        "planned_laryngectomy": base["planned_laryngectomy"].to_numpy(),
    }).astype(float)


def _lin(x: pd.DataFrame, coef: dict[str, float]) -> np.ndarray:
    return sum(x[k].to_numpy() * v for k, v in coef.items())


def propensity_linear(x: pd.DataFrame, center: np.ndarray, centers: Centers) -> np.ndarray:
    """Linear predictor of neoadjuvant assignment without the intercept."""
    return _lin(x, P.PROPENSITY_COEF) + centers.propensity_offset[center]


def solve_intercept(lin: np.ndarray, share: float) -> float:
    """The intercept giving a mean propensity of ``share`` (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if expit(mid + lin).mean() < share:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _weibull_time(u: np.ndarray, lp: np.ndarray, scale: float, shape: float) -> np.ndarray:
    """Time (days) with survival exp(-H0(t)·e^lp) at quantile u: T = (−log(1−u)/(scale·e^lp))^(1/shape)."""
    return (-np.log1p(-u) / (scale * np.exp(lp))) ** (1.0 / shape) * DAYS_PER_YEAR


def potential_outcomes(x: pd.DataFrame, center: np.ndarray, centers: Centers, z_rec: np.ndarray,
                       z_death: np.ndarray) -> pd.DataFrame:
    """Latent recurrence and death times (days, continuous) under both treatments, common random numbers."""
    lp_r = _lin(x, P.RECURRENCE_COEF) + centers.risk_offset[center]
    lp_d = _lin(x, P.DEATH_COEF) + 0.5 * centers.risk_offset[center]
    u_r, u_d = ndtr(z_rec), ndtr(z_death)
    br, bd = P.RECURRENCE_BASELINE, P.DEATH_BASELINE
    return pd.DataFrame({
        "lp_recurrence": lp_r, "lp_death": lp_d,
        "t_recurrence_upfront": _weibull_time(u_r, lp_r, br["scale"], br["shape"]),
        "t_recurrence_neoadjuvant": _weibull_time(u_r, lp_r + np.log(P.HR_RECURRENCE), br["scale"], br["shape"]),
        "t_death_upfront": _weibull_time(u_d, lp_d, bd["scale"], bd["shape"]),
        "t_death_neoadjuvant": _weibull_time(u_d, lp_d + np.log(P.HR_DEATH), bd["scale"], bd["shape"]),
    })


def response_linear(base: pd.DataFrame, ici: np.ndarray) -> np.ndarray:
    """logit P(objective response) — intercept by histology, BRAF V600E (true status), RET
    alteration (mutation or fusion), immune checkpoint inhibitor added."""
    hi = hist_index(base["histology"].to_numpy())
    ret = base["ret_mutation"].to_numpy() | (base["fusion"].to_numpy() == "ret")
    return (per_histology(hi, P.RESPONSE_INTERCEPT) + P.RESPONSE_COEF["braf"] * base["braf"].to_numpy()
            + P.RESPONSE_COEF["ret_altered"] * ret + P.RESPONSE_COEF["ici"] * ici)


def response_latent(rng: np.random.Generator, eta: np.ndarray, z_rec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Response latent L = η + ε with ε standard logistic (so P(L > 0) = expit(η) exactly),
    ε Gaussian-copula-correlated with the recurrence prognosis z_rec. Returns (L, z of ε)."""
    rho = P.RESPONSE_PROGNOSIS_RHO
    z_eps = rho * z_rec + np.sqrt(1 - rho**2) * rng.standard_normal(len(eta))
    u = np.clip(ndtr(z_eps), 1e-12, 1 - 1e-12)
    return eta + logit(u), z_eps


def depth_of_response(latent: np.ndarray) -> np.ndarray:
    """Best % change of the target sum implied by the response latent: responders (L > 0) from
    −34 % to −95 %, non-responders from −26 % to +20 % (a gap around −30 % keeps mm rounding from
    flipping the RECIST category)."""
    return np.where(latent > 0, -34 - 61 * (1 - np.exp(-latent / 1.5)), -26 + 46 * (1 - np.exp(latent / 1.5)))


def viable_tumour_pct(rng: np.random.Generator, hist: np.ndarray, z_eps: np.ndarray) -> np.ndarray:
    """% viable tumour with planted pCR / MPR rates per histology (Gaussian copula on the response)."""
    rho = P.PATHOLOGY_RESPONSE_RHO
    u = ndtr(-(rho * z_eps + np.sqrt(1 - rho**2) * rng.standard_normal(len(hist))))  # good response → small u
    hi = hist_index(hist)
    pcr, mpr = per_histology(hi, P.PCR_RATE), per_histology(hi, P.MPR_RATE)
    mid = 1 + 9 * (u - pcr) / np.maximum(mpr - pcr, 1e-9)  # 1–10 %
    high = 10 + 90 * np.clip((u - mpr) / (1 - mpr), 0, 1) ** 0.8  # 10–100 %
    pct = np.where(u < pcr, 0.0, np.where(u < mpr, mid, high))
    return np.clip(np.rint(pct), 0, 100)


def marginal_hazard_ratios(seed: int, centers: Centers, intercept: float, n: int = P.MARGINAL_SAMPLE) -> dict:
    """Marginal HRs (all patients treated vs all untreated, ATE; and among the treated, ATT) from a
    large reference sample: stack both potential outcomes (common random numbers), censor at
    ``MARGINAL_HORIZON_DAYS`` (recurrence also at the patient's own potential death), fit a Cox
    model with the treatment indicator only (ATT: weights = propensity)."""
    rng = stream(seed, "reference")
    base = draw_baseline(rng, n, centers)
    x = design_matrix(base)
    center = base["center"].to_numpy()
    po = potential_outcomes(x, center, centers, rng.standard_normal(n), rng.standard_normal(n))
    ps = expit(intercept + propensity_linear(x, center, centers))
    horizon = float(P.MARGINAL_HORIZON_DAYS)
    out = {}
    arm = np.r_[np.zeros(n), np.ones(n)]
    for outcome in ("recurrence", "death"):
        tr = {a: po[f"t_recurrence_{a}"].to_numpy() for a in ("upfront", "neoadjuvant")}
        td = {a: po[f"t_death_{a}"].to_numpy() for a in ("upfront", "neoadjuvant")}
        if outcome == "recurrence":
            t = {a: np.minimum(np.minimum(tr[a], td[a]), horizon) for a in tr}
            e = {a: (tr[a] <= td[a]) & (tr[a] <= horizon) for a in tr}
        else:
            t = {a: np.minimum(td[a], horizon) for a in td}
            e = {a: td[a] <= horizon for a in td}
        time = np.r_[t["upfront"], t["neoadjuvant"]]
        event = np.r_[e["upfront"], e["neoadjuvant"]]
        b_ate, se_ate = cox_fit(time, event, arm)
        b_att, _ = cox_fit(time, event, arm, weights=np.r_[ps, ps])
        out[outcome] = {"ate": float(np.exp(b_ate[0])), "att": float(np.exp(b_att[0])),
                        "ate_se_log": float(se_ate[0]),
                        "events_upfront": int(e["upfront"].sum()), "events_neoadjuvant": int(e["neoadjuvant"].sum())}
    out["sample_size"] = n
    out["horizon_days"] = int(horizon)
    out["method"] = ("reference sample of the same covariate and center distribution; both potential outcomes per "
                     "patient from the same uniform (common random numbers); censored at the horizon (recurrence "
                     "also at the patient's potential death under the same arm); Cox partial likelihood "
                     "(Breslow) with the arm indicator only, Newton–Raphson in numpy; ATT weights each patient "
                     "by the true propensity")
    return out


__all__ = ["DESIGN_COLUMNS", "HISTOLOGIES", "depth_of_response", "design_matrix", "marginal_hazard_ratios",
           "potential_outcomes", "propensity_linear", "response_latent", "response_linear", "solve_intercept",
           "viable_tumour_pct"]
