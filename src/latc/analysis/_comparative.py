"""SAP section "Neoadjuvant vs upfront surgery" (observational comparison, confounding by indication).

Time zero is the treatment decision in both cohorts (no immortal time; docs/derivations/tte.md).
Primary endpoint: recurrence or progression (cause-specific; death competing; ``_frames``).

* **Propensity score**: logistic regression of neoadjuvant treatment on the baseline confounders
  (``_frames.CONFOUNDERS``: age, sex, ECOG, histology group, cT4b, number of invaded structures,
  cN1b, cM1, resectability, planned laryngectomy, BRAF and TERT with "not tested" as a category)
  plus center fixed effects (centers with < ``min_center_size`` patients or one cohort pooled).
* **Matching**: 1:1 greedy nearest neighbour on the logit PS, caliper 0.2 SD of the logit PS,
  without replacement, exact on center where feasible (MatchIt ``method = "nearest"``); estimand ATT.
* **Weighting**: stabilized IPTW (ATE) and overlap weights (ATO) (WeightIt formulas).
* **Balance** before/after: standardized differences for every covariate (binary ones standardized,
  MatchIt's ``summary()`` convention), variance ratios, effective sample sizes; Love-plot data.
* **Outcome models** (Cox, Efron ties): naive (cohort only), covariate-adjusted (conditional HR),
  matched (robust SE clustered on matched pair) and weighted (robust sandwich SE). **Center is
  handled by stratification** (separate baseline hazards per center) in every model except the naive
  one.
* Weight diagnostics (``weights_summary``) and the primary HR under weight truncation (WeightIt
  ``trim``) and PS trimming (Crump bounds, Stürmer quantiles) (``weight_sensitivity``).
* Weighted Kaplan–Meier (IPTW) with the robust (infinitesimal-jackknife) variance, landmark rates.
* E-value of the primary estimate (IPTW ATE HR for recurrence; VanderWeele & Ding 2017; HR not rare).
* Proportional-hazards check of the adjusted model (``cox.zph``, KM transform).
* ``patient_data``: the per-patient analysis dataset (PS, weights, matched pairs, endpoints).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from latc.stats import (StatsInputError, balance, cox, cox_zph, effective_sample_size, evalue, kaplan_meier,
                        logrank, love_data, match, propensity, weights)

from ._coding import coding
from ._context import (Context, annotate_medians, attempt, check_events, concat, cox_row, front, landmarks_text,
                       note_missing, row_populations, usable_covariates)
from ._frames import CONFOUNDERS, comparative_frame
from ._results import ResultTable, SectionResult, SectionSkipped

__all__ = ["ENDPOINTS", "PATIENT_COLUMNS", "analysable", "comparison", "patient_data", "run", "weight_sensitivity"]

#: endpoint → (time column, event column, label)
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "recurrence": ("rec_time", "rec_event", "recurrence or progression (cause-specific; death competing)"),
    "overall_survival": ("os_time", "os_event", "overall survival (death from any cause)"),
    "event_free_survival": ("efs_time", "efs_event", "event-free survival (neoadjuvant convention)"),
}
PRIMARY = ("recurrence", "iptw_ate")
POPULATION = "analysis set (eligible patients), both cohorts, complete baseline confounders; time zero = treatment decision"


def comparison(ctx: Context) -> dict[str, Any]:
    """The shared comparative setup (frame, covariates, PS, weights, matching), computed once."""
    return ctx.cached("comparison", lambda: _setup(ctx))


def analysable(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows of a :func:`comparative_frame` the comparison analyses — complete baseline
    confounders and a recurrence time — with numeric columns as floats; and how many were left out.

    Row by row, so a federated site applies it to its own rows and gets its part of the pooled
    frame (``latc.federated``)."""
    complete = frame[list(CONFOUNDERS) + ["rec_time"]].notna().all(axis=1).to_numpy()
    df = frame[complete].reset_index(drop=True).copy()
    for c in ("age_per10", "n_invaded", "rec_time", "os_time", "efs_time"):
        df[c] = df[c].astype(float)
    for c in ("t4b", "n1b", "m1", "planned_laryngectomy", "os_event", "efs_event"):
        df[c] = df[c].astype(float)
    return df, int((~complete).sum())


def _setup(ctx: Context) -> dict[str, Any]:
    o = ctx.options
    frame, info = comparative_frame(ctx.data, o.min_center_size)
    conf = list(CONFOUNDERS)
    df, info["left_out_missing_confounder_or_time"] = analysable(frame)
    if len(df) < 10 or df["neoadjuvant"].nunique() < 2:
        raise SectionSkipped(f"{len(df)} patients with complete confounders"
                             + ("" if df["neoadjuvant"].nunique() == 2 else " and a single cohort")
                             + ": too few for a comparison")
    covs, dropped = usable_covariates(df, conf)
    ps_covs = covs + (["center"] if df["center"].nunique() > 1 else [])
    df["center"] = pd.Categorical(df["center"])
    out: dict[str, Any] = {"frame": df, "covariates": covs, "dropped": dropped, "info": info, "ps_covariates": ps_covs}
    try:
        df["ps_logit"] = propensity(df, "neoadjuvant", ps_covs, scale="logit").to_numpy()
        df["ps"] = 1 / (1 + np.exp(-df["ps_logit"]))
        df["w_ate"] = weights(df, "neoadjuvant", ps=df["ps"], estimand="ATE", stabilize=o.stabilize).to_numpy()
        df["w_ato"] = weights(df, "neoadjuvant", ps=df["ps"], estimand="ATO").to_numpy()
    except StatsInputError as exc:
        out["ps_error"] = f"propensity model not estimable: {exc}"
    return out


def _ps_ready(cmp: dict[str, Any]) -> None:
    if "ps_error" in cmp:
        raise SectionSkipped(cmp["ps_error"])


def _matching(ctx: Context) -> Any:
    def build():
        cmp = comparison(ctx)
        _ps_ready(cmp)
        df, o = cmp["frame"], ctx.options
        exact = "center" if o.match_exact_center and df["center"].nunique() > 1 else None
        note = "exact on center" if exact else "no exact matching (one center)"
        try:
            m = match(df, "neoadjuvant", ps=df["ps"], ratio=o.match_ratio, caliper=o.caliper, exact=exact,
                      scale="logit")
        except StatsInputError as exc:
            if exact is None:
                raise
            m = match(df, "neoadjuvant", ps=df["ps"], ratio=o.match_ratio, caliper=o.caliper, scale="logit")
            note = f"exact matching on center not feasible ({exc}); matched without it"
        if int((m.weights > 0).sum()) < 4:
            raise SectionSkipped("fewer than 2 matched pairs within the caliper")
        return m, note
    return ctx.cached("matching", build)


def _cox_fit(df: pd.DataFrame, time: str, event: str, covariates: list[str], ctx: Context, what: str, **kw: Any):
    check_events(df, event, ctx.options.min_events, what, group="neoadjuvant")
    return cox(df, time, event, covariates, ties=ctx.options.ties, conf_level=ctx.options.conf_level, **kw)


def estimates(ctx: Context) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every neoadjuvant-vs-upfront HR: endpoints × analyses (naive, adjusted, matched, IPTW, ATO)."""
    def build():
        cmp = comparison(ctx)
        df, covs = cmp["frame"], cmp["covariates"]
        strata = "center" if df["center"].nunique() > 1 else None
        rows, failed = [], {}
        for ep, (time, event, label) in ENDPOINTS.items():
            d = df[df[time].notna() & df[event].notna()]
            specs = [
                ("naive", "unadjusted (cohort only)", lambda d=d: (d, {}), ["neoadjuvant"], {}),
                ("adjusted", "conditional (covariate-adjusted)", lambda d=d: (d, {}), ["neoadjuvant"] + covs,
                 {"strata": strata}),
                ("ps_matched", "ATT (matched treated)", lambda d=d: _matched_rows(ctx, d), ["neoadjuvant"],
                 {"strata": strata, "weights": "weights", "cluster": "subclass", "robust": True}),
                ("iptw_ate", "ATE (stabilized IPTW)", lambda d=d: (_ps_rows(cmp, d), {}), ["neoadjuvant"],
                 {"strata": strata, "weights": "w_ate", "robust": True}),
                ("overlap_ato", "ATO (overlap weights)", lambda d=d: (_ps_rows(cmp, d), {}), ["neoadjuvant"],
                 {"strata": strata, "weights": "w_ato", "robust": True}),
            ]
            for analysis, estimand, rows_fn, terms, kw in specs:
                try:
                    dd, _ = rows_fn()
                    fit = _cox_fit(dd, time, event, terms, ctx, f"{ep} {analysis}", **kw)
                    r = cox_row(fit, "neoadjuvant")
                except (SectionSkipped, StatsInputError) as exc:
                    failed[f"{ep}/{analysis}"] = str(exc).splitlines()[0]
                    rows.append({"endpoint": ep, "analysis": analysis, "estimand": estimand, "note": str(exc).splitlines()[0]})
                    continue
                rows.append({"endpoint": ep, "analysis": analysis, "estimand": estimand, **r,
                             "strata": kw.get("strata") or "", "cluster": kw.get("cluster") or "",
                             "weights": kw.get("weights") or "", "covariates": ", ".join(terms),
                             "primary": (ep, analysis) == PRIMARY, "note": ""})
        out = pd.DataFrame(rows)
        for c in ("hr", "lower", "upper", "p", "log_hr", "se"):
            if c not in out:
                out[c] = np.nan
        return out, failed
    return ctx.cached("estimates", build)


def _ps_rows(cmp: dict[str, Any], d: pd.DataFrame) -> pd.DataFrame:
    _ps_ready(cmp)
    return d


def _matched_rows(ctx: Context, d: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    m, _ = _matching(ctx)
    mw = m.weights.reindex(d.index)
    out = d[mw.to_numpy() > 0].copy()
    out["weights"] = mw[mw > 0].to_numpy(dtype=float)
    out["subclass"] = m.subclass.reindex(out.index).astype("str").to_numpy()
    return out, {}


def run(ctx: Context, sec: SectionResult) -> None:
    o = ctx.options
    cmp = comparison(ctx)
    df, covs, info = cmp["frame"], cmp["covariates"], cmp["info"]
    base_params = {"confounders": covs, "confounders_left_out": cmp["dropped"], "center": "stratified (strata(center))",
                   "pooled_centers": info["pooled_centers"], "min_center_size": info["min_center_size"],
                   "time_zero": "treatment decision", "time_unit": "months",
                   "left_out_missing_confounder_or_time": info["left_out_missing_confounder_or_time"]}
    n = len(df)
    strata = "center" if df["center"].nunique() > 1 else None
    ps_coding = coding(cmp["ps_covariates"], df, events=["treatment"])
    outcome_coding = coding(["neoadjuvant"] + covs, df, events=list(ENDPOINTS), strata=strata,
                            notes=["naive, matched and weighted models hold neoadjuvant only; the adjusted model "
                                   "neoadjuvant + the confounders listed"])
    weighted_coding = coding(["neoadjuvant"], df, events=["recurrence"], strata=strata,
                             notes=["weights from the propensity model: " + ", ".join(cmp["ps_covariates"])])

    def ps_table():
        _ps_ready(cmp)
        q = df.groupby("cohort")["ps"].describe()[["count", "mean", "min", "25%", "50%", "75%", "max"]]
        q = q.rename(columns={"count": "n", "25%": "q1", "50%": "median", "75%": "q3"}).reset_index()
        bins = np.linspace(0, 1, 21)
        hist = (df.assign(bin=pd.cut(df["ps"], bins, include_lowest=True)).groupby(["cohort", "bin"], observed=False)
                .size().rename("patients").reset_index())
        hist["bin_lower"] = hist["bin"].map(lambda b: b.left).astype(float).clip(lower=0)
        hist["bin_upper"] = hist["bin"].map(lambda b: b.right).astype(float)
        method = ("logistic regression (R glm(neoadjuvant ~ confounders + center, family = binomial)); "
                  "propensity = P(neoadjuvant | baseline confounders, center)")
        par = {**base_params, "model": "logistic", "covariates": cmp["ps_covariates"]}
        return [ResultTable("propensity_score", "Propensity score by cohort", q, method, par, POPULATION, n, coding=ps_coding),
                ResultTable("propensity_histogram", "Propensity score distribution (overlap), 20 bins",
                            hist.drop(columns="bin"), method, par, POPULATION, n, coding=ps_coding)]

    attempt(sec, "propensity_score", ps_table)

    def balance_tables():
        _ps_ready(cmp)
        bal_covs = cmp["ps_covariates"]
        b0 = balance(df, "neoadjuvant", bal_covs, binary="std")
        tabs, loves = [], []
        samples = [("iptw_ate", df["w_ate"], "ATE"), ("overlap_ato", df["w_ato"], "ATO")]
        try:
            m, _ = _matching(ctx)
            samples.insert(0, ("ps_matched", m, "ATT"))
        except (SectionSkipped, StatsInputError) as exc:
            sec.skipped_tables["balance_ps_matched"] = str(exc)
        for name, w, est in samples:
            b = balance(df, "neoadjuvant", bal_covs, weights=w, estimand=est, binary="std")
            t = b.reset_index().rename(columns={"index": "variable"})
            t.insert(0, "sample", name)
            tabs.append(t)
            lv = love_data(b0 if name != "ps_matched" else balance(df, "neoadjuvant", bal_covs, estimand="ATT", binary="std"), b)
            lv.insert(0, "adjustment", name)
            loves.append(lv)
        bal = concat(tabs)
        love = concat(loves)
        ess = []
        for name, col in (("unadjusted", None), ("iptw_ate", "w_ate"), ("overlap_ato", "w_ato")):
            e = effective_sample_size(df, "neoadjuvant", weights=df[col] if col else None).reset_index()
            e.insert(0, "sample", name)
            ess.append(e)
        method = ("cobalt bal.tab conventions: standardized mean differences (binary variables standardized, "
                  "sqrt(p(1-p))), SD of the unadjusted sample (pooled for ATE/ATO, treated for ATT); "
                  "variance ratio; KS; Kish effective sample size")
        par = {**base_params, "binary": "std", "threshold": 0.1, "caliper": o.caliper, "stabilize": o.stabilize}
        return [ResultTable("balance", "Covariate balance before and after matching / weighting", bal, method, par,
                            POPULATION, n, coding=ps_coding),
                ResultTable("love_plot", "Love-plot data (|SMD| before/after, threshold 0.1)", love, method, par,
                            POPULATION, n),
                ResultTable("effective_sample_size", "Effective sample sizes (Kish)", concat(ess),
                            method, par, POPULATION, n)]

    attempt(sec, "balance", balance_tables)

    def matching_table():
        m, note = _matching(ctx)
        t = m.summary.reset_index().rename(columns={"index": "sample"})
        par = {"ratio": o.match_ratio, "caliper": o.caliper, "caliper_scale": "SD of the logit propensity score",
               "caliper_width_logit": m.caliper_width, "replace": False, "m_order": "largest", "exact": note,
               "estimand": "ATT"}
        return ResultTable("matching", "Propensity-score matching: sample sizes", t, m.method, par, POPULATION, n,
                           coding=ps_coding)

    attempt(sec, "matching", matching_table)

    def estimates_table():
        est, failed = estimates(ctx)
        sec.skipped_tables.update({f"hazard_ratios/{k}": v for k, v in failed.items()})
        method = ("Cox proportional hazards (R coxph, Efron ties): naive = cohort only; adjusted = cohort + confounders "
                  "+ strata(center) (conditional HR); ps_matched = matched pairs, strata(center), robust SE clustered on "
                  "pair; iptw_ate / overlap_ato = weighted, strata(center), robust sandwich SE")
        par = {**base_params, "ties": o.ties, "conf_level": o.conf_level, "robust": "matched/weighted models",
               "estimands": {"naive": "crude", "adjusted": "conditional", "ps_matched": "ATT",
                             "iptw_ate": "ATE (stabilized)", "overlap_ato": "ATO"},
               "primary": "recurrence, IPTW (ATE)", "caliper": o.caliper}
        blocks = []
        for r in (est.dropna(subset=["n"]) if "n" in est else est.iloc[:0]).itertuples(index=False):
            if r.analysis == "ps_matched":
                why = "the matched pairs within the caliper (ATT): matched treated and control patients only"
            else:
                why = f"{n - int(r.n)} patient(s) without a {r.endpoint.replace('_', ' ')} time left out"
            blocks.append((f"{r.endpoint.replace('_', ' ')}, {r.analysis}", int(r.n), why))
        return ResultTable("hazard_ratios", "Neoadjuvant vs upfront surgery: hazard ratios by analysis", est, method,
                           par, POPULATION, n, coding=outcome_coding, row_populations=row_populations(blocks, n))

    attempt(sec, "hazard_ratios", estimates_table)

    def weights_tables():
        _ps_ready(cmp)
        rows = []
        for name, col in (("iptw_ate", "w_ate"), ("overlap_ato", "w_ato")):
            ess = effective_sample_size(df, "neoadjuvant", weights=col).loc["Adjusted"]
            for cohort, g in df.groupby("cohort"):
                w = g[col].to_numpy(dtype=float)
                rows.append({"weights": name, "cohort": cohort, "n": len(w), "sum": w.sum(), "mean": w.mean(),
                             "sd": w.std(ddof=1) if len(w) > 1 else np.nan, "min": w.min(),
                             "q01": np.quantile(w, 0.01), "median": np.median(w), "q99": np.quantile(w, 0.99),
                             "max": w.max(), "ess": ess["treated" if cohort == "neoadjuvant" else "control"],
                             "share_of_weight_top1pct": np.sort(w)[::-1][:max(1, len(w) // 100)].sum() / w.sum(),
                             "n_above_10": int((w > 10).sum())})
        summary = ResultTable(
            "weights_summary", "Distribution of the IPTW (ATE, stabilized) and overlap weights by cohort",
            pd.DataFrame(rows), "weight distribution per cohort: Kish ESS (sum w)^2 / sum w^2, quantiles (numpy "
            "linear = R type 7), share of the cohort's total weight carried by its top 1 % of patients; extreme "
            "weights (near-violations of positivity) show as a large max / small ESS (Cole & Hernán 2008)",
            {"stabilize": o.stabilize}, POPULATION, n, coding=ps_coding)
        ws = weight_sensitivity(ctx)
        blocks = [(str(r.analysis), int(r.n), f"{r.population}: {int(r.excluded)} patient(s) outside it excluded")
                  for r in ws.dropna(subset=["n", "excluded"]).itertuples(index=False)]
        return [summary, ResultTable("weight_sensitivity",
                                     "Recurrence HR under IPTW weight truncation and propensity-score trimming",
                                     ws, WEIGHT_SENSITIVITY_METHOD,
                                     {"truncate_quantiles": list(o.truncate_quantiles), "trim_bounds": list(o.trim_bounds),
                                      "trim_quantile": o.trim_quantile, "stabilize": o.stabilize,
                                      "strata": "center", "robust": True, "ties": o.ties}, POPULATION, n,
                                     coding=weighted_coding, row_populations=row_populations(blocks, n))]

    attempt(sec, "weights_summary", weights_tables)

    def evalue_table():
        est, _ = estimates(ctx)
        rows = []
        for r in est.dropna(subset=["hr"]).to_dict("records"):
            e = evalue(r["hr"], r["lower"], r["upper"], measure="HR", rare=False)
            rows.append({"endpoint": r["endpoint"], "analysis": r["analysis"], "hr": r["hr"], "lower": r["lower"],
                         "upper": r["upper"], "evalue_point": float(e.loc["E-value", "point"]),
                         "evalue_ci": float(np.nanmin([e.loc["E-value", "lower"], e.loc["E-value", "upper"]])),
                         "primary": bool(r["primary"])})
        if not rows:
            raise SectionSkipped("no hazard ratio was estimable")
        method = ("E-value (VanderWeele & Ding, Ann Intern Med 2017; R EValue evalues.HR, rare = FALSE): minimum "
                  "strength of association of an unmeasured confounder with treatment and outcome to explain away "
                  "the estimate; evalue_ci for the CI limit closest to 1")
        return ResultTable("evalues", "E-values of the comparative hazard ratios", pd.DataFrame(rows), method,
                           {"measure": "HR", "rare": False, "primary": "recurrence, IPTW (ATE)"}, POPULATION, n,
                           coding=outcome_coding)

    attempt(sec, "evalues", evalue_table)

    def km_table():
        rows, meds, curves, blocks = [], [], [], []
        for ep in ("recurrence", "overall_survival"):
            time, event, _ = ENDPOINTS[ep]
            d = df[df[time].notna() & df[event].notna()]
            blocks.append((ep.replace("_", " "), len(d), f"{n - len(d)} patient(s) without a {ep.replace('_', ' ')} time left out"))
            variants: list[tuple[str, str | None]] = [("unweighted", None)]
            if "ps_error" not in cmp:
                variants.append(("iptw_ate", "w_ate"))
            for name, w in variants:
                km = kaplan_meier(d, time, event, group="cohort", conf_type=o.conf_type, conf_level=o.conf_level,
                                  weights=w, landmarks=list(o.landmarks_months))
                lm = note_missing(km.landmarks.assign(endpoint=ep, weighting=name), "survival",
                                  "no patient of the group followed to this time")
                rows.append(lm)
                curves.append(km.table.assign(endpoint=ep, weighting=name))
                meds.append(annotate_medians(km.medians).assign(endpoint=ep, weighting=name, variance="robust (IJ)" if km.robust else "Greenwood"))
        method = (f"Kaplan–Meier (R survfit), conf.type = '{o.conf_type}'; IPTW-weighted curves with the robust "
                  "infinitesimal-jackknife variance (R survfit(weights = w, robust = TRUE)); landmarks in months")
        par = {"conf_type": o.conf_type, "conf_level": o.conf_level, "landmarks_months": list(o.landmarks_months),
               "weights": "stabilized IPTW (ATE)", "robust": True}
        rp = row_populations(blocks, n)
        km_coding = coding(["neoadjuvant"], df, events=["recurrence", "overall_survival"],
                           notes=["IPTW rows weighted by the stabilized ATE weights of the propensity model"])
        return [ResultTable("km_landmarks", f"Survival at {landmarks_text(o.landmarks_months)} by cohort (unweighted and IPTW)",
                            front(concat(rows), ["endpoint", "weighting"]), method, par, POPULATION, n,
                            coding=km_coding, row_populations=rp),
                ResultTable("km_medians", "Median time to event by cohort (unweighted and IPTW)",
                            front(concat(meds), ["endpoint", "weighting"]), method, par, POPULATION, n,
                            coding=km_coding, row_populations=rp),
                ResultTable("km_curves", "Kaplan-Meier curves by cohort (unweighted and IPTW)",
                            front(concat(curves), ["endpoint", "weighting"]),
                            method + "; one row per distinct time and cohort (the figures' data; with IPTW, "
                            "n_risk / n_event / n_censor are weighted counts)", par, POPULATION, n,
                            coding=km_coding, row_populations=rp)]

    attempt(sec, "km", km_table)

    def logrank_table():
        rows, blocks = [], []
        for ep in ("overall_survival", "recurrence"):
            time, event, _ = ENDPOINTS[ep]
            d = df[df[time].notna() & df[event].notna()]
            d = d.assign(**{time: d[time].astype(float), event: d[event].astype(float)})
            blocks.append((ep.replace("_", " "), len(d), f"{n - len(d)} patient(s) without a {ep.replace('_', ' ')} time left out"))
            rows.append(logrank(d, time, event, "cohort").to_frame().assign(endpoint=ep))
        return ResultTable("logrank", "Log-rank tests by cohort (unadjusted)", front(concat(rows), ["endpoint"]),
                           "log-rank test (R survdiff, rho = 0), unweighted", {"rho": 0}, POPULATION, n,
                           coding=coding(["neoadjuvant"], df, events=["recurrence", "overall_survival"]),
                           row_populations=row_populations(blocks, n))

    attempt(sec, "logrank", logrank_table)

    def zph_table():
        time, event, _ = ENDPOINTS["recurrence"]
        strata = "center" if df["center"].nunique() > 1 else None
        fit = _cox_fit(df, time, event, ["neoadjuvant"] + covs, ctx, "recurrence adjusted", strata=strata)
        z = cox_zph(fit, transform="km").reset_index().rename(columns={"index": "term"})
        return ResultTable("ph_check", "Proportional hazards check of the adjusted recurrence model", z,
                           "score test of Schoenfeld-residual trend (R survival >= 3.0 cox.zph, transform = 'km'), per "
                           "term and GLOBAL", {"transform": "km", "model": "adjusted", "ties": o.ties}, POPULATION, n,
                           coding=coding(["neoadjuvant"] + covs, df, events=["recurrence"], strata=strata))

    attempt(sec, "ph_check", zph_table)

    def patient_table():
        return ResultTable("patient_data", "Per-patient comparative analysis data (propensity, weights, matching, endpoints)",
                           patient_data(ctx),
                           "the analysis dataset of this section, one row per patient (pseudonymous id): estimated "
                           "propensity score and logit, stabilized IPTW (ATE) and overlap (ATO) weights, matched pair "
                           "(subclass) and matching weight, endpoint times (months from the treatment decision) and "
                           "event codes (rec_type 1 = recurrence/progression, 2 = death without it, 0 = censored)",
                           {**base_params, "stabilize": o.stabilize, "caliper": o.caliper}, POPULATION, n,
                           coding=coding(cmp["ps_covariates"], df, events=list(ENDPOINTS)))

    attempt(sec, "patient_data", patient_table)


WEIGHT_SENSITIVITY_METHOD = (
    "weighted Cox (R coxph(Surv(rec_time, rec_event) ~ neoadjuvant + strata(center), weights = w, robust = TRUE)) "
    "with the primary IPTW weights, truncated weights (WeightIt trim(w, at = q): weights above their q quantile, "
    "type 3, set to it; Cole & Hernán 2008) and after excluding patients outside common support (Crump et al. 2009 "
    "fixed PS bounds; Stürmer et al. 2010 asymmetric PS-quantile trimming — these change the target population). "
    "A primary estimate that moves a lot under truncation rests on a few heavily weighted patients")


def weight_sensitivity(ctx: Context) -> pd.DataFrame:
    """The primary recurrence IPTW HR with truncated weights and with PS trimming (one row each)."""
    cmp = comparison(ctx)
    _ps_ready(cmp)
    o = ctx.options
    df = cmp["frame"]
    time, event, _ = ENDPOINTS["recurrence"]
    d = df[df[time].notna() & df[event].notna()].copy()
    strata = "center" if d["center"].nunique() > 1 else None
    lo, hi = o.trim_bounds
    specs = [("primary (stabilized IPTW)", {}, "analysis set")]
    specs += [(f"truncated at the {q:g} quantile", {"truncate": q}, "analysis set") for q in o.truncate_quantiles]
    specs += [(f"PS trimmed to [{lo:g}, {hi:g}] (Crump)", {"trim": (lo, hi)}, f"PS in [{lo:g}, {hi:g}]"),
              (f"PS trimmed at the {o.trim_quantile:g} quantiles (Stürmer)", {"trim": o.trim_quantile},
               "common support (asymmetric)")]
    rows = []
    for label, kw, population in specs:
        row: dict[str, Any] = {"analysis": label, "population": population}
        try:
            w = weights(d, "neoadjuvant", ps=d["ps"], estimand="ATE", stabilize=o.stabilize, **kw).to_numpy()
            dd = d.assign(w_sens=w)[w > 0]
            fit = _cox_fit(dd, time, event, ["neoadjuvant"], ctx, f"recurrence IPTW ({label})", strata=strata,
                           weights="w_sens", robust=True)
            ess = effective_sample_size(dd, "neoadjuvant", weights="w_sens").loc["Adjusted"]
            row.update(cox_row(fit, "neoadjuvant"))
            row.update({"max_weight": float(dd["w_sens"].max()), "ess_treated": float(ess["treated"]),
                        "ess_control": float(ess["control"]), "excluded": int(len(d) - len(dd)), "note": ""})
        except (SectionSkipped, StatsInputError) as exc:
            row["note"] = str(exc).splitlines()[0]
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in ("hr", "lower", "upper", "p", "n", "events", "max_weight", "ess_treated", "ess_control", "excluded"):
        if c not in out:
            out[c] = np.nan
    return front(out, ["analysis", "population", "hr", "lower", "upper", "p", "n", "events", "excluded",
                       "max_weight", "ess_treated", "ess_control"])


#: columns of the per-patient table (``patient_data``) in order; the report draws its curves from it
PATIENT_COLUMNS = ["patient_id", "center_id", "center", "cohort", "neoadjuvant", "ps", "ps_logit", "w_ate", "w_ato",
                   "matched", "subclass", "match_weight", "rec_time", "rec_event", "rec_type", "os_time", "os_event",
                   "efs_time", "efs_event"]


def patient_data(ctx: Context) -> pd.DataFrame:
    """One row per compared patient: PS, IPTW/ATO weights, matched pair and weight, endpoints.

    Lets the report (and a statistician re-running the models in R) use exactly the analysis's
    propensity model and weights without re-estimating them. Columns missing because the PS model
    or the matching could not be estimated are left empty (the reason is in ``results.json``).
    """
    cmp = comparison(ctx)
    df = cmp["frame"].copy()
    for c in ("ps", "ps_logit", "w_ate", "w_ato"):
        if c not in df:
            df[c] = np.nan
    df["matched"], df["subclass"], df["match_weight"] = 0, pd.NA, 0.0
    try:
        m, _ = _matching(ctx)
        mw = m.weights.reindex(df.index).fillna(0.0).to_numpy(dtype=float)
        df["matched"] = (mw > 0).astype(int)
        df["match_weight"] = mw
        df["subclass"] = m.subclass.reindex(df.index).astype("string").where(mw > 0)
    except (SectionSkipped, StatsInputError):
        pass
    df["center"] = df["center"].astype("str")
    return df[PATIENT_COLUMNS].reset_index(drop=True)

