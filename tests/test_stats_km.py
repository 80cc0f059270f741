"""kaplan_meier and logrank against R survival 3.5-3 goldens (tests/r/survival_goldens.R).

Goldens were produced once by ``Rscript tests/r/survival_goldens.R`` from the CSVs in
tests/data/r_golden/ (R's lung, veteran, ovarian; lifelines' rossi), so no R is needed here.
Tolerance 1e-6 for point estimates, 1e-3 relative for robust standard errors (issue 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, kaplan_meier, logrank

GOLD = Path(__file__).parent / "data" / "r_golden"


def golden(name: str) -> dict:
    return json.loads((GOLD / f"{name}.json").read_text())


def data(name: str) -> pd.DataFrame:
    df = pd.read_csv(GOLD / f"{name}.csv")
    if name == "veteran":  # R's factor level order (reference = squamous), not alphabetical
        df["celltype"] = pd.Categorical(df["celltype"], ["squamous", "smallcell", "adeno", "large"])
    return df


def close(a, b, rtol=1e-6, atol=1e-6) -> None:
    a = np.asarray(a, dtype=float)
    b = np.asarray([np.nan if x is None else x for x in b], dtype=float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def check_km(fit, gold: dict, se_rtol: float = 1e-6) -> None:
    rt = pd.DataFrame(gold["table"])
    t = fit.table
    assert list(t["group"].astype(str)) == list(rt["group"].astype(str))
    for col in ("time", "n_risk", "n_event", "n_censor", "survival", "lower", "upper"):
        close(t[col], rt[col])
    close(t["std_err"], rt["std_err"], rtol=se_rtol)
    rm = pd.DataFrame(gold["medians"])
    assert list(fit.medians["group"].astype(str)) == list(rm["group"].astype(str))
    for col in ("n", "events", "median", "lower", "upper"):
        close(fit.medians[col], rm[col])


LUNG_CALL = 'survfit(Surv(time, event) ~ sex, data = lung, conf.type = "{}")'


@pytest.mark.parametrize("conf_type,name", [("log", "km_lung_sex_log"), ("log-log", "km_lung_sex_loglog"),
                                            ("plain", "km_lung_sex_plain")])
def test_km_lung_by_sex_each_conf_type(conf_type, name):
    # R: survfit(Surv(time, event) ~ sex, data = lung, conf.type = conf_type); summary(fit, censored = TRUE)
    g = golden(name)
    assert g["call"] == LUNG_CALL.format(conf_type)
    fit = kaplan_meier(data("lung"), "time", "event", group="sex", conf_type=conf_type)
    check_km(fit, g)
    # R: summary(fit, times = c(90, 180, 365, 730, 1000))
    at = pd.DataFrame(g["at"])
    mine = fit.at([90, 180, 365, 730, 1000])
    mine = mine[mine["survival"].notna()].reset_index(drop=True)     # R drops times past follow-up
    for col in ("time", "n_risk", "survival", "std_err", "lower", "upper"):
        close(mine[col], at[col])


def test_km_log_is_default_and_differs_from_log_log():
    # DESIGN.md pitfall: R's default transform is log; lifelines uses log-log. Both R goldens differ.
    lung = data("lung")
    default = kaplan_meier(lung, "time", "event", group="sex")
    assert default.conf_type == "log"
    log_gold = pd.DataFrame(golden("km_lung_sex_log")["medians"])
    loglog_gold = pd.DataFrame(golden("km_lung_sex_loglog")["medians"])
    close(default.medians["lower"], log_gold["lower"])
    assert not np.allclose(log_gold["upper"], loglog_gold["upper"])


def test_km_overall_curve():
    # R: survfit(Surv(time, event) ~ 1, data = lung)
    fit = kaplan_meier(data("lung"), "time", "event")
    check_km(fit, golden("km_lung_all"))
    assert fit.medians.loc[0, "median"] == 310


def test_km_median_na_when_curve_stays_above_half():
    # R: survfit(Surv(futime, fustat) ~ rx, data = ovarian) — rx=2 never reaches 0.5 (median NA),
    # and the upper limits are NA for both arms.
    fit = kaplan_meier(data("ovarian"), "futime", "fustat", group="rx")
    check_km(fit, golden("km_ovarian_rx"))
    assert np.isnan(fit.medians.loc[1, "median"]) and fit.medians["upper"].isna().all()


def test_km_median_midpoint_rule():
    # R: survfit(Surv(time, event) ~ arm, data = half). Arm a sits at exactly 0.5 from t=3 until the
    # next death at t=4 → median (3+4)/2 = 3.5 (print.survfit); arm b ends at 0.5 with no later drop → 4.
    fit = kaplan_meier(data("half"), "time", "event", group="arm")
    check_km(fit, golden("km_half"))
    assert fit.medians["median"].tolist() == [3.5, 4.0]


def test_km_categorical_group_keeps_level_order_log_log():
    # R: survfit(Surv(time, status) ~ celltype, data = veteran, conf.type = "log-log")
    fit = kaplan_meier(data("veteran"), "time", "status", group="celltype", conf_type="log-log")
    check_km(fit, golden("km_veteran_celltype_loglog"))
    assert fit.groups == ["squamous", "smallcell", "adeno", "large"]


@pytest.mark.parametrize("conf_type,name", [("log", "km_rossi_iptw_robust"),
                                            ("log-log", "km_rossi_iptw_robust_loglog")])
def test_weighted_km_robust_variance(conf_type, name):
    # R: survfit(Surv(week, arrest) ~ fin, data = rossi, weights = iptw, robust = TRUE[, conf.type])
    fit = kaplan_meier(data("rossi_iptw"), "week", "arrest", group="fin", weights="iptw",
                       conf_type=conf_type)
    assert fit.robust                       # non-integer weights switch robust on, as in R
    check_km(fit, golden(name), se_rtol=1e-3)
    at = pd.DataFrame(golden("km_rossi_iptw_robust")["at"]) if conf_type == "log" else None
    if at is not None:
        mine = fit.at([10, 26, 52])
        close(mine["survival"], at["survival"])
        close(mine["std_err"], at["std_err"], rtol=1e-3)


def test_weighted_km_naive_greenwood_is_too_narrow():
    # R: survfit(..., weights = iptw, robust = FALSE) — the Greenwood variance on weighted counts
    # (what lifelines reports) is much smaller than the robust one (DESIGN.md pitfall).
    rossi = data("rossi_iptw")
    naive = kaplan_meier(rossi, "week", "arrest", group="fin", weights="iptw", robust=False)
    check_km(naive, golden("km_rossi_iptw_naive"))
    robust = kaplan_meier(rossi, "week", "arrest", group="fin", weights="iptw")
    last = robust.table.groupby("group").tail(1).index
    assert (robust.table.loc[last, "std_err"] > 1.3 * naive.table.loc[last, "std_err"]).all()


def test_km_cluster_robust_variance():
    # R: survfit(Surv(time, event) ~ sex, data = lung[!is.na(lung$inst), ], cluster = inst)
    with pytest.warns(UserWarning, match="1 row"):
        fit = kaplan_meier(data("lung"), "time", "event", group="sex", cluster="inst", missing="drop")
    check_km(fit, golden("km_lung_sex_cluster_inst"), se_rtol=1e-3)


def test_risk_table_counts_at_risk():
    # R: summary(survfit(Surv(time, event) ~ sex, data = lung), times = c(90, 180, 365, 730, 1000))$n.risk
    fit = kaplan_meier(data("lung"), "time", "event", group="sex")
    rt = fit.risk_table([90, 180, 365, 730, 1000])
    gold = pd.DataFrame(golden("km_lung_sex_log")["at"])
    merged = rt.astype({"group": str}).merge(gold.astype({"group": str}), on=["group", "time"])
    assert len(merged) == len(gold)
    close(merged["n_risk_x"], merged["n_risk_y"])
    assert (rt.loc[rt["time"] > 1022, "n_risk"] == 0).all()
    # cumulative events never exceed the group's events
    ev = fit.medians.set_index("group")["events"]
    assert (rt.groupby("group")["n_event_cumulative"].max() <= ev).all()


def test_landmark_before_first_time_and_after_last():
    fit = kaplan_meier(data("lung"), "time", "event", landmarks=[0, 5000])
    lm = fit.landmarks
    assert lm.loc[0, "survival"] == 1.0 and lm.loc[0, "n_risk"] == 228
    assert np.isnan(lm.loc[1, "survival"]) and lm.loc[1, "n_risk"] == 0


def test_km_curve_reaching_zero():
    # R: survfit(Surv(t, e) ~ 1, data = allgone, weights = w, robust = TRUE) → se 0 and NA limits at
    # S = 0; unweighted Greenwood: se NaN there (R: survfit(Surv(t, e) ~ 1, data = allgone)).
    df = data("allgone")
    check_km(kaplan_meier(df, "t", "e", weights="w"), golden("km_allgone_robust"), se_rtol=1e-3)
    check_km(kaplan_meier(df, "t", "e"), golden("km_allgone_greenwood"))


# ---- log-rank --------------------------------------------------------------------------------
@pytest.mark.parametrize("name,args", [
    ("logrank_lung_sex", ("lung", "time", "event", "sex", None)),
    ("logrank_veteran_celltype", ("veteran", "time", "status", "celltype", None)),
    ("logrank_veteran_trt_strata", ("veteran", "time", "status", "trt", "celltype")),
    ("logrank_rossi_fin_strata2", ("rossi", "week", "arrest", "fin", ["race", "wexp"])),
])
def test_logrank_matches_survdiff(name, args):
    # R: see the "call" field, e.g. survdiff(Surv(time, status) ~ trt + strata(celltype), data = veteran)
    g = golden(name)
    ds, time, event, group, strata = args
    res = logrank(data(ds), time, event, group, strata=strata)
    close([res.statistic], [g["chisq"]], atol=1e-8)
    close([res.p], [g["p"]], atol=1e-10)
    assert res.df == g["df"] and res.statistic_name == "chisq" and res.method.startswith("log-rank test")
    gg, t = pd.DataFrame(g["groups"]), res.table
    assert "chisq" not in t.columns  # the test's numbers are not repeated on every group row
    close(t["n"], gg["n"])
    close(t["observed"], gg["observed"])
    close(t["expected"], gg["expected"])
    close((t["observed"] - t["expected"]) ** 2 / t["oe2_v"], gg["var"])


# ---- degenerate input -------------------------------------------------------------------------
def test_km_missing_values_named():
    lung = data("lung")
    lung.loc[3, "time"] = np.nan
    with pytest.raises(StatsInputError, match="'time' \\(1 rows\\)"):
        kaplan_meier(lung, "time", "event")


def test_km_rejects_r_status_coding_and_bad_options():
    lung = data("lung")
    with pytest.raises(StatsInputError, match="event column 'status'"):
        kaplan_meier(lung, "time", "status")
    with pytest.raises(StatsInputError, match="conf_type"):
        kaplan_meier(lung, "time", "event", conf_type="logit")
    with pytest.raises(StatsInputError, match="not found"):
        kaplan_meier(lung, "time", "event", group="arm")
    with pytest.raises(StatsInputError, match="robust=False"):
        kaplan_meier(lung.dropna(subset=["inst"]), "time", "event", cluster="inst", robust=False)


def test_km_all_censored_gives_flat_curve_and_na_median():
    df = pd.DataFrame({"t": [1.0, 2.0, 3.0], "e": [0, 0, 0]})
    fit = kaplan_meier(df, "t", "e")
    assert (fit.table["survival"] == 1).all() and (fit.table["std_err"] == 0).all()
    assert np.isnan(fit.medians.loc[0, "median"])


def test_logrank_one_group_or_no_events():
    lung = data("lung")
    with pytest.raises(StatsInputError, match="single group"):
        logrank(lung[lung["sex"] == 1], "time", "event", "sex")
    with pytest.raises(StatsInputError, match="no events"):
        logrank(lung.assign(event=0), "time", "event", "sex")


def test_km_vectorised_at_scale():
    rng = np.random.default_rng(1)
    n = 100_000
    df = pd.DataFrame({"t": rng.exponential(10, n).round(1), "e": rng.random(n) < 0.7,
                       "g": rng.integers(0, 3, n), "w": rng.uniform(0.5, 3, n)})
    fit = kaplan_meier(df, "t", "e", group="g", weights="w")
    assert fit.robust and fit.table["std_err"].notna().all()
    assert np.all(np.diff(fit.table.loc[fit.table["group"] == 0, "survival"]) <= 0)


def test_logrank_result_keeps_the_old_table_calls_for_one_release_with_a_warning():
    # latc <= Dec 2026 returned the per-group rows with chisq, df and p repeated on each; those calls
    # still answer (same numbers) but warn, naming the new spelling
    import warnings

    g = golden("logrank_lung_sex")  # R: survdiff(Surv(time, status) ~ sex, data = lung)
    res = logrank(data("lung"), "time", "event", "sex")
    with pytest.warns(DeprecationWarning, match=r"\.p, \.method, \.table"):
        old_p = res["p"].iloc[0]
    with pytest.warns(DeprecationWarning):
        assert res.attrs["method"] == res.method
    assert old_p == res.p and res.p == pytest.approx(g["p"], abs=1e-10)
    frame = res.to_frame()  # on purpose: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(frame.columns[-3:]) == ["chisq", "df", "p"] and (frame["chisq"] == res.statistic).all()
        assert len(res) == 2  # two groups
        assert not hasattr(res, "_repr_html_")  # a notebook shows the result itself, not the old table
