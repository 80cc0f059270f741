"""Competing risks against R cmprsk 2.2-11 goldens (tests/r_competing/competing_goldens.R).

Goldens were produced once by ``Rscript tests/r_competing/competing_goldens.R`` (R 4.2.2, cmprsk
2.2-11, survival 3.5-3) from the CSVs in tests/data/r_golden_competing/ — survival's mgus2 and pbc,
cmprsk's documented ``?cuminc`` / ``?crr`` examples and a hand-crafted tied data set — so no R is
needed here. Tolerances (issue 4): 1e-6 for estimates, 1e-4 for variances / standard errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import (StatsInputError, cox, cumulative_incidence, fine_gray, gray_test,
                        kaplan_meier)

GOLD = Path(__file__).parent / "data" / "r_golden_competing"
EST, VAR = 1e-6, 1e-4


def golden(name: str) -> dict:
    return json.loads((GOLD / f"{name}.json").read_text())


def data(name: str) -> pd.DataFrame:
    df = pd.read_csv(GOLD / f"{name}.csv")
    if name == "pbc":
        df["log_bili"] = np.log(df["bili"])
        df["edema_f"] = pd.Categorical(df["edema"].astype(str), ["0.0", "0.5", "1.0"])
    return df


def close(a, b, tol) -> None:
    a = np.asarray(a, dtype=float)
    b = np.asarray([np.nan if x is None else x for x in b], dtype=float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


def check_curves(fit, gold: dict, single_group: bool = False) -> None:
    """Every R curve (group × cause): event times, estimate, variance, log-log CI."""
    assert len(gold["curves"]) == len(fit.groups) * len(fit.causes)
    for cv in gold["curves"]:
        grp = fit.table["group"].astype(str)
        if single_group:                                     # R names the single group "1"
            grp = grp.replace("all", "1")
        tab = fit.table[(grp == cv["group"]) & (fit.table["cause"].astype(str) == cv["cause"])]
        assert len(tab) == len(cv["time"]), cv["name"]
        close(tab["time"], cv["time"], EST)
        close(tab["cif"], cv["est"], EST)
        close(tab["var"], cv["var"], VAR)
        close(tab["lower"], cv["lower"], EST)
        close(tab["upper"], cv["upper"], EST)


def check_tests(tests: pd.DataFrame, gold: dict) -> None:
    rt = pd.DataFrame(gold["tests"])
    assert list(tests["cause"].astype(str)) == list(rt["cause"].astype(str))
    close(tests["chisq"], rt["stat"], EST)  # cmprsk's "stat" is latc's chisq (logrank's and cox_zph's name)
    assert tests["stat"].equals(tests["chisq"])  # the old column, kept for one release
    close(tests["p"], rt["p"], EST)
    assert list(tests["df"]) == list(rt["df"])


def check_timepoints(fit, gold: dict, single_group: bool = False) -> None:
    rt = pd.DataFrame(gold["timepoints"])
    mine = fit.at(rt["time"].unique())
    if single_group:
        mine["group"] = mine["group"].replace("all", 1)
    key = ["group", "cause", "time"]
    mine = mine.astype({"group": str, "cause": str}).set_index(key)
    rt = rt.astype({"group": str, "cause": str}).set_index(key)
    mine = mine.loc[rt.index]
    close(mine["cif"], rt["est"], EST)
    close(mine["var"], rt["var"], VAR)


# ----------------------------------------------------------------------------------------------
# cumulative incidence
# ----------------------------------------------------------------------------------------------
def test_cuminc_mgus2_by_sex_with_ties_and_timepoints():
    # R: cuminc(etime, event, sex); timepoints(fit, c(0, 12, 60, 120, 240, 400, 424))
    g = golden("cuminc_mgus2_sex")
    fit = cumulative_incidence(data("mgus2"), "etime", "event", group="sex")
    check_curves(fit, g)
    check_tests(fit.tests, g)
    check_timepoints(fit, g)
    # months: many tied event times, each a single step (no jitter)
    assert (fit.table["n_event"] > 1).sum() > 20


def test_cuminc_mgus2_no_group():
    # R: cuminc(etime, event); timepoints(fit, c(60, 120, 360))
    g = golden("cuminc_mgus2_all")
    fit = cumulative_incidence(data("mgus2"), "etime", "event", times=[60, 120, 360])
    check_curves(fit, g, single_group=True)
    assert fit.tests is None
    check_timepoints(fit, g, single_group=True)
    # times= stores the same table as at()
    pd.testing.assert_frame_equal(fit.timepoints, fit.at([60, 120, 360]))


def test_cuminc_pbc_three_groups_including_an_empty_curve():
    # R: cuminc(time, status, edema) — edema = 1 has no transplant: a flat zero curve in R
    g = golden("cuminc_pbc_edema")
    fit = cumulative_incidence(data("pbc"), "time", "status", group="edema")
    check_curves(fit, g)
    check_tests(fit.tests, g)
    check_timepoints(fit, g)
    at = fit.at([365, 3650])
    none = at[(at["group"] == 1) & (at["cause"] == 1)]
    assert none["cif"].iloc[0] == 0.0
    assert np.isnan(none["cif"].iloc[1])        # after the group's last follow-up: R gives NA


def test_cuminc_documented_example():
    # R: set.seed(2); ...; cuminc(ss, cc, gg)   (?cuminc example, without strata)
    g = golden("cuminc_example")
    fit = cumulative_incidence(data("cmprsk_cuminc_example"), "ss", "cc", group="gg")
    check_curves(fit, g)
    check_tests(fit.tests, g)


def test_cuminc_hand_crafted_ties_against_r():
    # R: cuminc(time, cause, arm); timepoints(fit, c(0.5, 1, 2, 2.5, 7, 8, 9))
    g = golden("cuminc_ties_arm")
    fit = cumulative_incidence(data("ties"), "time", "cause", group="arm")
    check_curves(fit, g)
    check_tests(fit.tests, g)
    check_timepoints(fit, g)


def test_cuminc_string_labels_with_censor_code():
    # R: cuminc(time, outcome, arm, cencode = "censored")  (causes in sorted label order)
    g = golden("cuminc_ties_labels")
    fit = cumulative_incidence(data("ties"), "time", "outcome", group="arm", censor_code="censored")
    assert fit.causes == ["death", "recurrence"]
    check_curves(fit, g)
    check_tests(fit.tests, g)


def test_cuminc_ties_by_hand():
    # Aalen–Johansen by hand on the neoadjuvant arm of the tied data set (16 patients):
    # t=1: n=16, 1 recurrence + 1 death + 1 censored → F1 = 1/16, S = 14/16
    # t=2: n=13, 2 recurrences + 1 death + 1 censored → F1 = 1/16 + (14/16)·2/13, S = 14/16·10/13
    # censoring at an event time leaves the patient at risk at that time (cmprsk, survfit).
    fit = cumulative_incidence(data("ties"), "time", "cause", group="arm")
    tab = fit.table[(fit.table["group"] == "neoadjuvant") & (fit.table["cause"] == 1)]
    assert list(tab["time"][:2]) == [1.0, 2.0]
    assert list(tab["n_risk"][:2]) == [16.0, 13.0]
    assert list(tab["n_event"][:2]) == [1.0, 2.0]          # both tied recurrences in one step
    assert tab["cif"].iloc[0] == pytest.approx(1 / 16, abs=1e-12)
    assert tab["cif"].iloc[1] == pytest.approx(1 / 16 + (14 / 16) * 2 / 13, abs=1e-12)
    # first step: cinc variance = S(t−)² d (1 − (d−1)/(n−1)) / n² · (1 + F/S(t))² − …, here with
    # d = 1: v1 + F²v3 − 2F v2 reduces to the binomial (1/16)(15/16)/16 plus the death's term
    f, s = 1 / 16, 14 / 16
    t6 = 1 / 16**2
    v1 = (1 + f / s) ** 2 * t6 + (f / s) ** 2 * t6
    v2 = (1 / s) * (1 + f / s) * t6 + (1 / s) * (f / s) * t6
    v3 = 2 * (1 / s) ** 2 * t6
    assert tab["var"].iloc[0] == pytest.approx(v1 + f * f * v3 - 2 * f * v2, abs=1e-12)


def test_cif_sums_to_one_minus_overall_km():
    # Σ_k F_k(t) = 1 − S(t), S the Kaplan–Meier of any event (checked with latc's kaplan_meier)
    df = data("mgus2")
    fit = cumulative_incidence(df, "etime", "event")
    times = np.array([6.0, 24.0, 60.0, 120.0, 240.0])
    total = fit.at(times).groupby("time")["cif"].sum().to_numpy()
    km = kaplan_meier(df.assign(any_event=(df["event"] > 0).astype(int)), "etime", "any_event")
    np.testing.assert_allclose(total, 1 - km.at(times)["survival"].to_numpy(), atol=1e-12)


def test_single_cause_cif_is_one_minus_km_with_greenwood_like_variance():
    # one cause: F = 1 − KM exactly (Aalen–Johansen reduces to Kaplan–Meier)
    df = data("ties")
    one = df.assign(ev=(df["cause"] > 0).astype(int))
    fit = cumulative_incidence(one, "time", "ev", group="arm")
    km = kaplan_meier(one, "time", "ev", group="arm")
    for arm in ("neoadjuvant", "upfront"):
        tab = fit.table[fit.table["group"] == arm]
        k = km.table[(km.table["group"] == arm) & (km.table["n_event"] > 0)]
        np.testing.assert_allclose(tab["cif"], 1 - k["survival"].to_numpy(), atol=1e-12)


def test_conf_types_and_level():
    df = data("mgus2")
    ll = cumulative_incidence(df, "etime", "event", group="sex")
    pl = cumulative_incidence(df, "etime", "event", group="sex", conf_type="plain", conf_level=0.9)
    z = 1.6448536269514722
    np.testing.assert_allclose(pl.table["lower"], np.clip(pl.table["cif"] - z * pl.table["std_err"], 0, 1))
    np.testing.assert_allclose(pl.table["upper"], np.clip(pl.table["cif"] + z * pl.table["std_err"], 0, 1))
    # the log-log interval stays inside (0, 1) and is asymmetric
    first = ll.table.iloc[0]
    assert 0 < first["lower"] < first["cif"] < first["upper"] < 1
    assert first["cif"] - first["lower"] != pytest.approx(first["upper"] - first["cif"])


# ----------------------------------------------------------------------------------------------
# Gray's test
# ----------------------------------------------------------------------------------------------
def test_gray_pbc_treatment_stratified_by_stage():
    # R: cuminc(time, status, trt, strata = stage)$Tests
    g = golden("cuminc_pbc_trt_stage")
    res = gray_test(data("pbc"), "time", "status", "trt", strata="stage")
    check_tests(res, g)
    assert "stratified" in res.attrs["method"]


def test_gray_documented_example_with_strata():
    # R: cuminc(ss, cc, gg, strt)$Tests   (?cuminc example)
    g = golden("cuminc_example_strata")
    res = gray_test(data("cmprsk_cuminc_example"), "ss", "cc", "gg", strata="strt")
    check_tests(res, g)
    # R: timepoints(cuminc(ss, cc, gg, strt), c(0.1, 0.5, 1, 2, 5)) — strata do not change curves
    fit = cumulative_incidence(data("cmprsk_cuminc_example"), "ss", "cc", group="gg")
    check_timepoints(fit, g)


def test_gray_rho_one():
    # R: cuminc(ss, cc, gg, rho = 1)$Tests
    g = golden("cuminc_example_rho1")
    check_tests(gray_test(data("cmprsk_cuminc_example"), "ss", "cc", "gg", rho=1), g)
    plain = gray_test(data("cmprsk_cuminc_example"), "ss", "cc", "gg")
    assert not np.allclose(plain["chisq"], pd.DataFrame(g["tests"])["stat"])


def test_gray_ties_stratified_and_single_cause():
    # R: cuminc(time, cause, arm, strata = site)$Tests
    g = golden("cuminc_ties_arm_site")
    check_tests(gray_test(data("ties"), "time", "cause", "arm", strata="site"), g)
    only2 = gray_test(data("ties"), "time", "cause", "arm", strata="site", cause=2)
    assert list(only2["cause"]) == [2]
    assert only2["chisq"].item() == pytest.approx(g["tests"][1]["stat"], abs=EST)


# ----------------------------------------------------------------------------------------------
# Fine–Gray
# ----------------------------------------------------------------------------------------------
def check_crr(fit, gold: dict) -> None:
    assert list(fit.summary.index) == gold["names"] or len(fit.names) == len(gold["names"])
    close(fit.coef, gold["coef"], EST)
    close(fit.summary["se"], gold["se"], VAR)
    close(fit.var.ravel(), np.ravel(gold["var"]), VAR)
    close(fit.summary["z"], gold["z"], 1e-5)
    close(fit.summary["p"], gold["p"], 1e-5)
    close(fit.summary["lower"], gold["lower"], 1e-5)
    close(fit.summary["upper"], gold["upper"], 1e-5)
    close(np.linalg.inv(fit.naive_var).ravel(), np.ravel(gold["inf"]), VAR)
    assert fit.loglik == pytest.approx(gold["loglik"], abs=EST)
    assert fit.loglik_null == pytest.approx(gold["loglik_null"], abs=EST)
    assert fit.converged is gold["converged"]
    assert fit.n == gold["n"]
    close(fit.baseline["time"], gold["uftime"], EST)
    close(fit.baseline["hazard"], gold["bfitj"], EST)


def test_crr_documented_example():
    # R: set.seed(10); ...; crr(ftime, fstatus, cov)   (?crr example)
    fit = fine_gray(data("cmprsk_crr_example"), "ftime", "fstatus", ["x1", "x2", "x3"])
    check_crr(fit, golden("crr_example"))
    assert fit.names == ["x1", "x2", "x3"]


def test_crr_documented_example_cause_2():
    # R: crr(ftime, fstatus, cov, failcode = 2)
    fit = fine_gray(data("cmprsk_crr_example"), "ftime", "fstatus", ["x1", "x2", "x3"], cause=2)
    check_crr(fit, golden("crr_example_cause2"))


@pytest.mark.parametrize("cause,name", [(1, "crr_mgus2_pcm"), (2, "crr_mgus2_death")])
def test_crr_mgus2_tied_months_categorical_sex(cause, name):
    # R: crr(etime, event, model.matrix(~ age + sex + hgb)[, -1], failcode = cause, cencode = 0)
    df = data("mgus2")
    with pytest.warns(UserWarning, match="dropped"):
        fit = fine_gray(df, "etime", "event", ["age", "sex", "hgb"], cause=cause, missing="drop")
    assert fit.names == ["age", "sex[M]", "hgb"]                  # R: sexM, F the reference
    assert fit.n_dropped == int(df["hgb"].isna().sum())
    check_crr(fit, golden(name))


def test_crr_pbc_three_level_factor():
    # R: crr(time, status, model.matrix(~ age + log(bili) + factor(edema) + trt)[, -1], failcode = 2)
    fit = fine_gray(data("pbc"), "time", "status", ["age", "log_bili", "edema_f", "trt"], cause=2)
    assert fit.names == ["age", "log_bili", "edema_f[0.5]", "edema_f[1.0]", "trt"]
    check_crr(fit, golden("crr_pbc_death"))
    assert fit.lr_test["chisq"] == pytest.approx(2 * (fit.loglik - fit.loglik_null))


def test_crr_ties_with_labels():
    # R: crr(time, cause, model.matrix(~ x + arm)[, -1])   — tied times of both causes
    df = data("ties")
    fit = fine_gray(df, "time", "outcome", ["x", "arm"], cause="recurrence", censor_code="censored")
    check_crr(fit, golden("crr_ties"))
    assert (fit.events, fit.competing_events, fit.censored) == (11, 8, 9)


def test_crr_not_converged_in_r_is_refused():
    # R: crr(..., failcode = 1) on pbc: edema = 1 has no transplant → coefficient −10, converged FALSE
    g = golden("crr_pbc_transplant")
    assert g["converged"] is False and g["coef"][3] < -9
    with pytest.raises(StatsInputError, match="did not converge"):
        fine_gray(data("pbc"), "time", "status", ["age", "log_bili", "edema_f", "trt"], cause=1)


def test_crr_agrees_with_finegray_coxph_estimate():
    # R: coxph(Surv(fgstart, fgstop, fgstatus) ~ x1 + x2 + x3, weights = fgwt,
    #          data = finegray(Surv(ftime, ev) ~ ., etype = "c1"), ties = "breslow")
    # Same estimating equation; crr stops at gtol = 1e-6, so converge tightly to compare.
    g = golden("finegray_coxph_example")
    fit = fine_gray(data("cmprsk_crr_example"), "ftime", "fstatus", ["x1", "x2", "x3"], gtol=1e-12,
                    max_iter=30)
    close(fit.coef, g["coef"], 1e-6)


def test_fine_gray_without_competing_events_is_breslow_cox():
    # no competing events → every weight is 1 and the Fine–Gray likelihood is Cox's (Breslow ties)
    df = data("ties")
    df = df.assign(ev=(df["cause"] > 0).astype(int))
    fg = fine_gray(df, "time", "ev", ["x", "arm"], gtol=1e-12, max_iter=30)
    cx = cox(df, "time", "ev", ["x", "arm"], ties="breslow")
    np.testing.assert_allclose(fg.coef, cx.coef, atol=1e-8)
    np.testing.assert_allclose(fg.naive_var, cx.naive_var, atol=1e-8)


def test_fine_gray_does_not_mutate_input():
    df = data("ties")
    before = df.copy()
    fine_gray(df, "time", "cause", ["x", "arm"])
    cumulative_incidence(df, "time", "cause", group="arm")
    pd.testing.assert_frame_equal(df, before)


# ----------------------------------------------------------------------------------------------
# degenerate input: a clear StatsInputError, never a NaN or a traceback from numpy
# ----------------------------------------------------------------------------------------------
def _tiny() -> pd.DataFrame:
    return pd.DataFrame({"time": [1.0, 2, 3, 4, 5, 6], "event": [1, 2, 0, 1, 0, 2],
                         "arm": ["a", "a", "a", "b", "b", "b"], "x": [0.1, 0.5, 0.2, 0.9, 0.3, 0.4]})


def test_all_censored_is_refused():
    df = _tiny().assign(event=0)
    with pytest.raises(StatsInputError, match="every row .* is censored"):
        cumulative_incidence(df, "time", "event", group="arm")
    with pytest.raises(StatsInputError, match="censored"):
        fine_gray(df, "time", "event", ["x"])


def test_no_event_of_the_cause_is_refused():
    df = _tiny().assign(event=[2, 2, 0, 2, 0, 2])
    with pytest.raises(StatsInputError, match="no events of cause 1"):
        fine_gray(df, "time", "event", ["x"], cause=1)
    with pytest.raises(StatsInputError, match=r"no events of cause \[1\]"):
        gray_test(df, "time", "event", "arm", cause=1)


def test_one_group_is_refused_by_gray_test():
    with pytest.raises(StatsInputError, match="single group"):
        gray_test(_tiny().assign(arm="a"), "time", "event", "arm")


def test_labels_without_censor_code_are_refused():
    df = _tiny().assign(event=lambda d: d["event"].map({0: "censored", 1: "recurrence", 2: "death"}))
    with pytest.raises(StatsInputError, match="censor_code"):
        cumulative_incidence(df, "time", "event")


@pytest.mark.parametrize("change,match", [
    ({"time": [1.0, -2, 3, 4, 5, 6]}, "negative time"),
    ({"time": [1.0, np.nan, 3, 4, 5, 6]}, "missing values in 'time'"),
    ({"event": [1, 2, None, 1, 0, 2]}, "missing values in 'event'"),
    ({"time": ["1", "x", "3", "4", "5", "6"]}, "must be numeric"),
])
def test_bad_values_name_the_column(change, match):
    df = _tiny().assign(**change)
    with pytest.raises(StatsInputError, match=match):
        cumulative_incidence(df, "time", "event")


def test_absent_column_and_constant_covariate():
    with pytest.raises(StatsInputError, match="not found"):
        cumulative_incidence(_tiny(), "time", "status")
    with pytest.raises(StatsInputError, match="fine_gray: covariate 'x' is constant"):
        fine_gray(_tiny().assign(x=1.0), "time", "event", ["x"])
    with pytest.raises(StatsInputError, match="conf_type"):
        cumulative_incidence(_tiny(), "time", "event", conf_type="log")


def test_separation_is_refused():
    # every recurrence in arm b, none in arm a, competing deaths in both → sHR(arm) infinite
    df = pd.DataFrame({"time": np.arange(1.0, 13), "event": [2, 0, 2, 0, 2, 0, 1, 1, 2, 1, 0, 1],
                       "arm": ["a"] * 6 + ["b"] * 6})
    with pytest.raises(StatsInputError, match="arm"):
        fine_gray(df, "time", "event", ["arm"])


# ----------------------------------------------------------------------------------------------
# scale: vectorised, no loop over patients
# ----------------------------------------------------------------------------------------------
def test_scales_to_100k_patients():
    rng = np.random.default_rng(7)
    n = 100_000
    df = pd.DataFrame({"time": np.ceil(rng.exponential(500, n)), "arm": rng.integers(0, 2, n),
                       "x": rng.normal(size=n), "site": rng.integers(0, 5, n)})
    df["event"] = rng.choice([0, 1, 2], n, p=[0.4, 0.35, 0.25])
    fit = cumulative_incidence(df, "time", "event", group="arm")
    gray = gray_test(df, "time", "event", "arm", strata="site")
    fg = fine_gray(df, "time", "event", ["x", "arm"])
    assert fit.tests is not None and len(gray) == 2 and fg.converged
    # no effect was simulated: the tests and sHRs stay null-like
    assert (gray["p"] > 1e-4).all() and np.all(np.abs(fg.coef) < 0.1)


def test_r_status_coding_without_censored_rows_warns():
    # lung's status is R's survival coding (1 = censored, 2 = dead): read as event types with the
    # default censor_code=0, every row is an event of "cause" 1 or 2 — cmprsk says nothing; latc warns
    lung = pd.read_csv(Path(__file__).parent / "data" / "r_golden" / "lung.csv")
    with pytest.warns(UserWarning, match=r"no row of 'status' equals censor_code=0.*give censor_code=1"):
        gray_test(lung, "time", "status", "sex")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gray_test(lung.assign(s=lung["status"] - 1), "time", "s", "sex")  # 0/1: no warning
