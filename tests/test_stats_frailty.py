"""frailty_cox — shared gamma frailty Cox model — against R survival 3.5-3's
``coxph(Surv(time, event) ~ x + frailty(cluster))`` (tests/r/frailty_goldens.R →
tests/data/r_golden/frailty.json, each entry with its R call).

Data: survival's rats (100 litters; Therneau & Grambsch 2000, ch. 9), kidney (38 patients, two
infections each), lung (18 institutions, θ → 0) and a simulated multicenter cohort
(tests/data/r_golden/frailty_cohort.csv: 24 centers — sparse — and 4 regions — not sparse).

The port follows R's iterations step by step (same θ sequence, same number of outer and
Newton–Raphson iterations, checked below), so the agreement is that of floating point: measured
≤ 2e-11 on every number below (coefficients ≈ 1e-13). The tests use 1e-8 (relative, or absolute
for values near 0); the penalized log-likelihood near θ = 0 is (1/θ)·Σω, with 1/θ = 2e6, so it is
compared at 1e-8 relative to the log-likelihood.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, cox, frailty_cox

GOLD = Path(__file__).parent / "data" / "r_golden"
G = json.loads((GOLD / "frailty.json").read_text())
TOL = 1e-8


def data(name: str) -> pd.DataFrame:
    if name == "lung":
        return pd.read_csv(GOLD / "lung.csv")
    df = pd.read_csv(GOLD / f"{'frailty_cohort' if name == 'cohort' else name}.csv")
    if name == "kidney":
        df["disease"] = pd.Categorical(df["disease"], ["Other", "GN", "AN", "PKD"])
    if name == "cohort":
        df["histology"] = pd.Categorical(df["histology"], ["PTC", "FTC", "PDTC"])
    return df


COHORT = ["arm", "age", "histology"]
# case → (data, event column, covariates, frailty column, options)
CASES = {
    "rats": ("rats", "status", ["rx"], "litter", {}),
    "rats_sex": ("rats", "status", ["rx", "sex"], "litter", {}),
    "rats_breslow": ("rats", "status", ["rx", "sex"], "litter", {"ties": "breslow"}),
    "kidney": ("kidney", "status", ["age", "sex"], "id", {}),
    "kidney_disease": ("kidney", "status", ["age", "sex", "disease"], "id", {}),
    "lung": ("lung", "status", ["age", "sex"], "inst", {"event_codes": (1, 2), "missing": "drop"}),
    "cohort": ("cohort", "event", COHORT, "center_id", {}),
    "cohort_breslow": ("cohort", "event", COHORT, "center_id", {"ties": "breslow"}),
    "cohort_strata": ("cohort", "event", COHORT, "center_id", {"strata": "sex"}),
    "cohort_theta": ("cohort", "event", COHORT, "center_id", {"theta": 0.5}),
    "cohort_dense": ("cohort", "event", ["arm", "age"], "center_id", {"sparse": False}),
    "region": ("cohort", "event", ["arm", "age"], "region", {}),
    "region_sparse": ("cohort", "event", ["arm", "age"], "region", {"sparse": True}),
}


def fit_case(case: str):
    name, event, covs, cluster, kw = CASES[case]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = frailty_cox(data(name), "time", event, covs, cluster, **kw)
    return fit, [str(w.message) for w in caught]


def r_name(term: str) -> str:
    return re.sub(r"\[(.*)\]$", r"\1", term)


def close(a, b, tol=TOL):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.atleast_1d(np.asarray(b, dtype=float)), rtol=tol,
                               atol=tol)


def as_list(v) -> list:
    """jsonlite writes a length-1 R vector as a scalar."""
    return v if isinstance(v, list) else [v]


@pytest.mark.parametrize("case", list(CASES))
def test_frailty_cox_equals_r_coxph_frailty(case):
    g = G[case]
    fit, _ = fit_case(case)
    assert [r_name(t) for t in fit.summary.index] == as_list(g["names"])
    s = fit.summary
    close(s["coef"], g["coef"])
    close(s["se"], g["se"])           # R se(coef): √diag H⁻¹
    close(s["se2"], g["se2"])         # R se2: √diag H⁻¹ I H⁻¹
    close(s["chisq"], g["chisq"])
    close(s["p"], g["p"])
    close(s["lower"], g["lower"])
    close(s["upper"], g["upper"])
    assert fit.theta == pytest.approx(g["theta"], rel=TOL)
    close(fit.frailty["frailty"], g["frail"])
    close(fit.frailty["se"] ** 2, g["fvar"])
    assert fit.sparse is g["sparse"]
    close(fit.df, g["df"])
    close(fit.loglik, g["loglik"])
    assert fit.penalty == pytest.approx(g["penalty"][1], abs=TOL * abs(g["loglik"][1]))
    assert fit.integrated_loglik == pytest.approx(g["c_loglik"], rel=TOL)
    assert fit.iterations == tuple(g["iter"])        # R: "Iterations: 6 outer, 23 Newton-Raphson"
    close([fit.frailty_test["chisq"], fit.frailty_test["df"], fit.frailty_test["p"]],
          [g["frailty_chisq"], g["frailty_df"], g["frailty_p"]])
    close([fit.lr_test["chisq"], fit.lr_test["df"], fit.lr_test["p"]], g["lr"])
    assert (fit.n, fit.events) == (g["n"], g["nevent"])
    if "history" in g:                # every θ R tried, with its penalized and marginal log-likelihood
        h = fit.theta_history
        close(h["theta"], g["history"]["theta"])
        close(h["loglik"], g["history"]["loglik"])
        close(h["c_loglik"], g["history"]["c_loglik"])


def test_rats_litter_frailty_as_the_textbook():
    # Therneau & Grambsch 2000 §9: rx 0.727 (se 0.318, se2 0.313), theta 2.02, 47.7 df for the frailty
    fit, messages = fit_case("rats")
    assert not messages and fit.converged
    assert fit.summary.loc["rx", "coef"] == pytest.approx(0.727, abs=5e-4)
    assert fit.summary.loc["rx", ["se", "se2"]].round(3).tolist() == [0.318, 0.313]
    assert fit.theta == pytest.approx(2.02, abs=5e-3)
    assert fit.df[f"frailty({'litter'})"] == pytest.approx(47.7, abs=0.05)
    # one frailty per litter, recentred as R: mean exp(ω) = 1
    assert len(fit.frailty) == 100 and np.mean(fit.frailty["exp_frailty"]) == pytest.approx(1, abs=1e-12)


def test_rs_warnings_are_warnings_here():
    # kidney: R warns "Inner loop failed to coverge for iterations 3"; the cohort's θ search stops at
    # R's outer.max = 10 (R is silent; we say so)
    _, messages = fit_case("kidney")
    assert any("did not converge in 20 iterations at outer iteration(s) [3]" in m for m in messages)
    fit, messages = fit_case("cohort")
    assert any("theta did not converge in 10 outer iterations" in m for m in messages)
    assert not fit.converged and fit.iterations[0] == 10


def test_sparse_changes_the_variance_not_the_estimate():
    # at a fixed θ the penalized estimate does not depend on the Newton matrix — up to R's stopping
    # rule (relative log-likelihood change ≤ 1e-9): the sparse Newton converges linearly and stops
    # ~3e-7 from the optimum here. The sparse variance (frailty block of H replaced by its diagonal)
    # differs a little from the full one
    df = data("cohort")
    a = frailty_cox(df, "time", "event", COHORT, "center_id", theta=0.4, sparse=True)
    b = frailty_cox(df, "time", "event", COHORT, "center_id", theta=0.4, sparse=False)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-5)
    np.testing.assert_allclose(a.frailty["frailty"], b.frailty["frailty"], atol=1e-5)
    ratio = a.summary["se"] / b.summary["se"]
    assert np.all(np.abs(ratio - 1) < 0.05) and np.any(np.abs(ratio - 1) > 1e-6)


def test_tiny_fixed_theta_is_the_ordinary_cox_model():
    df = data("cohort")
    fr = frailty_cox(df, "time", "event", COHORT, "center_id", theta=1e-9)
    cx = cox(df, "time", "event", COHORT)
    np.testing.assert_allclose(fr.coef, cx.coef, atol=1e-6)
    np.testing.assert_allclose(fr.summary["se"], cx.summary["se"], rtol=1e-5)
    assert np.max(np.abs(fr.frailty["frailty"])) < 1e-6


def test_input_is_not_changed():
    df = data("rats")
    before = df.copy()
    frailty_cox(df, "time", "status", ["rx"], "litter", theta=1.0)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("kwargs, message", [
    ({"frailty": "one"}, r"frailty column 'one' has a single level"),
    ({"theta": 0.0}, r"theta must be a positive number"),
    ({"theta": -1.0}, r"theta must be a positive number"),
    ({"covariates": ["rx", "litter"]}, r"'litter' is both a covariate and the frailty column"),
    ({"covariates": ["flat"]}, r"frailty_cox: covariate 'flat' is constant"),
    ({"covariates": []}, r"at least one covariate"),
    ({"event": "none"}, r"no events in 'none'"),
    ({"ties": "exact"}, r"ties must be 'efron' or 'breslow'"),
    ({"frailty": "nowhere"}, r"column\(s\) \['nowhere'\] not found"),
])
def test_degenerate_input_names_the_column(kwargs, message):
    df = data("rats").assign(one="A", flat=1.0, none=0)
    args = {"covariates": ["rx"], "frailty": "litter", "event": "status"} | kwargs
    cov, fr, ev = args.pop("covariates"), args.pop("frailty"), args.pop("event")
    with pytest.raises(StatsInputError, match=message):
        frailty_cox(df, "time", ev, cov, fr, **args)


def test_missing_cluster_refused_or_dropped_as_r():
    df = data("lung")   # one patient without an institution: R drops it (n = 227)
    with pytest.raises(StatsInputError, match=r"missing values in 'inst' \(1 rows\)"):
        frailty_cox(df, "time", "status", ["age", "sex"], "inst", event_codes=(1, 2))
    with pytest.warns(UserWarning, match="1 row"):
        fit = frailty_cox(df, "time", "status", ["age", "sex"], "inst", event_codes=(1, 2), missing="drop",
                          theta=0.1)
    assert fit.n == 227 and fit.n_dropped == 1


def test_fixed_theta_history_is_its_one_fit():
    # R: frailty(center_id, theta = 0.5) → one outer iteration; c.loglik is the marginal likelihood
    fit, messages = fit_case("cohort_theta")
    g = G["cohort_theta"]
    assert not messages and fit.method == "fixed" and fit.iterations[0] == 1
    assert fit.theta_history["theta"].tolist() == [0.5]
    assert fit.theta_history["c_loglik"].iloc[0] == pytest.approx(g["c_loglik"], rel=TOL)
    assert fit.theta_history["loglik"].iloc[0] == pytest.approx(fit.penalized_loglik, rel=1e-15)
