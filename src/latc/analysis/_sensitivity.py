"""SAP section "Sensitivity analyses" of the neoadjuvant-vs-upfront recurrence hazard ratio.

All are covariate-adjusted Cox models (Efron ties, strata(center)) of recurrence or progression:

* **missing data**: the primary model codes untested BRAF/TERT as a category (missing indicator);
  **complete-case** keeps tested patients only; **multiple imputation** by chained equations
  (``latc.stats.impute``, as R ``mice``: logistic regression for the markers, pmm for numbers; the
  event indicator and the Nelson–Aalen cumulative hazard as predictors, White & Royston 2009;
  ``imputations`` data sets, ``imputation_iterations`` iterations) pooled by Rubin's rules
  (``mice::pool``);
* **landmark** at ``landmark_months`` (default 6) from the decision: patients still event-free and in
  follow-up, time from the landmark — the estimate cannot draw on early events, guarding against any
  residual immortal time;
* **alternative time zero**: the date of diagnosis (time = time from decision + decision − diagnosis);
  and, *for contrast only*, the date of surgery in operated patients — the immortal-time-prone
  choice the plan rejects (docs/derivations/tte.md), reported to show the size of that bias.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.stats import StatsInputError, cox, impute, pool

from ._comparative import POPULATION, comparison, estimates
from ._coding import coding
from ._context import Context, check_events, cox_row, row_populations, usable_covariates
from ._frames import landmark_rows
from ._results import ResultTable, SectionResult, SectionSkipped


def _adjusted(ctx: Context, d: pd.DataFrame, covs: list[str], time: str = "rec_time", event: str = "rec_event",
              what: str = "recurrence") -> dict:
    d = d.copy()
    kept, dropped = usable_covariates(d, covs)
    check_events(d, event, ctx.options.min_events, what, group="neoadjuvant")
    strata = "center" if d["center"].nunique() > 1 else None
    fit = cox(d, time, event, ["neoadjuvant"] + kept, strata=strata, ties=ctx.options.ties, conf_level=ctx.options.conf_level)
    return {**cox_row(fit, "neoadjuvant"), "left_out": "; ".join(f"{k}: {v}" for k, v in dropped.items())}


def run(ctx: Context, sec: SectionResult) -> None:
    o = ctx.options
    cmp = comparison(ctx)
    df, covs = cmp["frame"], cmp["covariates"]
    rows: list[dict] = []
    failed: dict[str, str] = {}

    def add(name: str, population: str, fn) -> None:
        try:
            rows.append({"analysis": name, "population": population, **fn()})
        except (SectionSkipped, StatsInputError) as exc:
            failed[name] = str(exc).splitlines()[0]
            rows.append({"analysis": name, "population": population, "note": str(exc).splitlines()[0]})

    est, _ = estimates(ctx)
    prim = est[(est["endpoint"] == "recurrence") & (est["analysis"] == "adjusted")]
    if len(prim) and pd.notna(prim["hr"].iloc[0]):
        rows.append({"analysis": "primary adjusted (missing-indicator for untested markers)", "population": POPULATION,
                     **{k: prim[k].iloc[0] for k in ("hr", "lower", "upper", "p", "log_hr", "se", "se_type", "n", "events")}})
    base_covs = [c for c in covs if not c.endswith("_not_tested")]
    tested = df[(df["braf_not_tested"] == 0) & (df["tert_not_tested"] == 0)]
    add("complete case (BRAF and TERT tested)", "patients with molecular testing", lambda: _adjusted(ctx, tested, base_covs))

    imp_info: dict = {}

    def mi() -> dict:
        d = df[["rec_time", "rec_event", "neoadjuvant", "center"] + [c for c in covs if c not in
               ("braf_positive", "tert_positive", "braf_not_tested", "tert_not_tested")]].copy()
        for m in ("braf", "tert"):
            st = df[m].astype("str")
            d[m] = pd.Series(pd.Categorical(st.where(st != "not_tested"), categories=["negative", "positive"]), index=df.index)
        n_missing = {c: int(d[c].isna().sum()) for c in d.columns if d[c].isna().any()}
        if not n_missing:
            raise SectionSkipped("no missing covariate value: multiple imputation not needed")
        d["rec_event"] = d["rec_event"].astype(float)
        imp = impute(d, m=o.imputations, seed=o.seed, maxit=o.imputation_iterations, survival=("rec_time", "rec_event"))
        mcovs = [c for c in d.columns if c not in ("rec_time", "rec_event", "neoadjuvant", "center")]
        strata = "center" if d["center"].nunique() > 1 else None
        fits = imp.fit(lambda x: cox(x, "rec_time", "rec_event", ["neoadjuvant"] + mcovs, strata=strata, ties=o.ties))
        pooled = pool(fits, conf_level=o.conf_level)
        r = pooled.loc["neoadjuvant"]
        imp_info.update({"missing": n_missing, "method": {k: str(v) for k, v in imp.method.items()}, "pooled": pooled})
        return {"hr": float(np.exp(r["estimate"])), "lower": float(np.exp(r["lower"])), "upper": float(np.exp(r["upper"])),
                "p": float(r["p"]), "log_hr": float(r["estimate"]), "se": float(r["std_error"]),
                "se_type": f"Rubin's rules (m = {o.imputations}, fmi = {float(r['fmi']):.3f})", "n": int(len(d)),
                "events": int(d["rec_event"].sum())}

    add(f"multiple imputation (m = {o.imputations}) of BRAF/TERT, pooled", POPULATION, mi)

    L = o.landmark_months
    add(f"landmark at {L:g} months from the decision", f"event-free and in follow-up at {L:g} months",
        lambda: _adjusted(ctx, landmark_rows(df[df["rec_time"].notna()], "rec_time", L), covs))

    def diag() -> dict:
        d = df[df["decision_to_diagnosis_months"].notna()].copy()
        d["time_from_diagnosis"] = d["rec_time"] + d["decision_to_diagnosis_months"].astype(float).clip(lower=0)
        return _adjusted(ctx, d, covs, time="time_from_diagnosis")

    add("alternative time zero: diagnosis", "analysis set; time from the diagnosis date", diag)

    def surgery() -> dict:
        s = df["decision_to_surgery_months"].astype(float)
        d = df[s.notna() & (df["rec_time"] > s)].copy()
        d["time_from_surgery"] = d["rec_time"] - d["decision_to_surgery_months"].astype(float)
        return _adjusted(ctx, d, covs, time="time_from_surgery")

    add("time zero at surgery (immortal-time-prone; for contrast only)",
        "operated patients event-free at their operation; time from surgery", surgery)

    sec.skipped_tables.update({f"hazard_ratios/{k}": v for k, v in failed.items()})
    t = pd.DataFrame(rows)
    for c in ("hr", "lower", "upper", "p", "note"):
        if c not in t:
            t[c] = np.nan if c != "note" else ""
    t["note"] = t["note"].fillna("")
    strata = "center" if df["center"].nunique() > 1 else None
    blocks = [(str(r.analysis), int(r.n), str(r.population))
              for r in (t.dropna(subset=["n"]) if "n" in t else t.iloc[:0]).itertuples(index=False)]
    sec.add(ResultTable("hazard_ratios", "Sensitivity analyses of the adjusted recurrence hazard ratio", t,
                        "Cox proportional hazards (R coxph, Efron ties), neoadjuvant + confounders + strata(center); "
                        "multiple imputation by chained equations (R mice) pooled by Rubin's rules (mice::pool)",
                        {"confounders": covs, "imputations": o.imputations, "imputation_iterations": o.imputation_iterations,
                         "imputation_seed": o.seed, "landmark_months": L, "ties": o.ties, "center": "strata(center)",
                         "imputed": imp_info.get("missing", {}), "imputation_methods": imp_info.get("method", {})},
                        POPULATION, len(df),
                        coding=coding(["neoadjuvant"] + covs, df, events=["recurrence"], strata=strata,
                                      notes=["complete case: without the not-tested indicators; multiple imputation: "
                                             "braf and tert as factors (negative / positive, reference negative) with "
                                             "untested values imputed", "time zero diagnosis / surgery rows: time from "
                                             "that date instead of the decision"]),
                        row_populations=row_populations(blocks, len(df))))
    if "pooled" in imp_info:
        p = imp_info["pooled"].reset_index().rename(columns={"index": "term"})
        sec.add(ResultTable("imputation_pooled", "Multiple imputation: pooled Cox model (all terms)", p,
                            "Rubin's rules as R summary(mice::pool(fits), conf.int = TRUE); log hazard ratios",
                            {"imputations": o.imputations, "iterations": o.imputation_iterations, "seed": o.seed,
                             "survival_predictors": "event indicator + Nelson-Aalen cumulative hazard"}, POPULATION, len(df),
                            coding=coding(["neoadjuvant"] + [c for c in covs if c not in ("braf_positive", "tert_positive",
                                          "braf_not_tested", "tert_not_tested")] + ["braf", "tert"], df,
                                          events=["recurrence"], strata=strata)))
