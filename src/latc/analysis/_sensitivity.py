"""SAP section "Sensitivity analyses" of the neoadjuvant-vs-upfront recurrence hazard ratio.

All are covariate-adjusted Cox models (Efron ties, strata(center)) of recurrence or progression:

* **missing data**: the primary model codes untested BRAF/TERT as a category (missing indicator);
  **complete-case** keeps tested patients only; **multiple imputation** by chained equations
  (``latc.stats.impute_fit``, as R ``mice``: logistic regression for the markers, pmm for numbers; the
  event indicator and the Nelson–Aalen cumulative hazard as predictors, White & Royston 2009;
  ``imputation_iterations`` iterations) pooled by Rubin's rules (``mice::pool``). How many data
  sets: :func:`imputation_count` (``imputation_rule = "auto"``, von Hippel's two-stage rule — the
  requested ``imputations`` is a minimum, except on large data where the rule's number is used;
  ``"fixed"``: exactly ``imputations``); the choice and why are in the tables' parameters
  (``imputation_choice``). Imputations and their Cox fits run in ``n_jobs`` worker processes; the
  results do not depend on it;
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

from latc.stats import StatsInputError, cox, how_many_imputations, impute_fit, pool

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
        mcovs = [c for c in d.columns if c not in ("rec_time", "rec_event", "neoadjuvant", "center")]
        strata = "center" if d["center"].nunique() > 1 else None
        fits, pooled, choice = imputation_count(
            d, lambda x: cox(x, "rec_time", "rec_event", ["neoadjuvant"] + mcovs, strata=strata, ties=o.ties), o,
            term="neoadjuvant", survival=("rec_time", "rec_event"))
        r = pooled.loc["neoadjuvant"]
        imp_info.update({"missing": n_missing, "method": {k: str(v) for k, v in fits.method.items()}, "pooled": pooled,
                         "m": fits.m, "choice": choice})
        return {"hr": float(np.exp(r["estimate"])), "lower": float(np.exp(r["lower"])), "upper": float(np.exp(r["upper"])),
                "p": float(r["p"]), "log_hr": float(r["estimate"]), "se": float(r["std_error"]),
                "se_type": f"Rubin's rules (m = {fits.m}, fmi = {float(r['fmi']):.3f})", "n": int(len(d)),
                "events": int(d["rec_event"].sum())}

    # the row's name states the m actually used (known once the imputation has run)
    at = len(rows)
    add("multiple imputation of BRAF/TERT, pooled", POPULATION, mi)
    name = f"multiple imputation (m = {imp_info.get('m', o.imputations)}) of BRAF/TERT, pooled"
    rows[at]["analysis"] = name
    if "multiple imputation of BRAF/TERT, pooled" in failed:
        failed[name] = failed.pop("multiple imputation of BRAF/TERT, pooled")

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
                        {"confounders": covs, "imputations": o.imputations, "imputations_used": imp_info.get("m"),
                         "imputation_choice": imp_info.get("choice", {}), "imputation_iterations": o.imputation_iterations,
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
                            {"imputations": o.imputations, "imputations_used": imp_info["m"],
                             "imputation_choice": imp_info["choice"], "iterations": o.imputation_iterations, "seed": o.seed,
                             "survival_predictors": "event indicator + Nelson-Aalen cumulative hazard"}, POPULATION, len(df),
                            coding=coding(["neoadjuvant"] + [c for c in covs if c not in ("braf_positive", "tert_positive",
                                          "braf_not_tested", "tert_not_tested")] + ["braf", "tert"], df,
                                          events=["recurrence"], strata=strata)))


def imputation_count(d: pd.DataFrame, fit, o, *, term: str, survival: tuple[str, str]):
    """Impute ``d``, fit ``fit`` on each data set and pool, with the number of imputations chosen by
    ``o.imputation_rule``; returns (ImputedFits, pooled table, choice record).

    * ``"fixed"``: exactly ``o.imputations``.
    * ``"auto"`` (default) — von Hippel's two-stage rule (Sociol Methods Res 2020;49:699,
      :func:`latc.stats.how_many_imputations`) on the FMI of ``term`` (the estimate the section
      reports): a pilot estimates the FMI; the rule's M = ⌈1 + ½(FMI_upper / CV)²⌉ with FMI_upper the
      upper (1 − α) logit-scale limit. Below ``o.imputation_large_n`` patients the pilot is the
      requested ``o.imputations``, a minimum: the rule can only add imputations. From
      ``o.imputation_large_n`` patients ("large": where m = 20 chained-equation data sets cost over
      a minute on one core) the pilot is ``o.imputation_pilot`` data sets and the rule's M is used —
      fewer than requested when the rule is satisfied, never silently: the record says so.

    Extra imputations continue the pilot's streams (imputation i is the same in any run), so the
    pilot's data sets are kept, never redone. The record (``imputation_choice`` in the tables'
    parameters, results.json): rule, requested m, pilot m, the FMI and its CI, target CV,
    confidence, the rule's M, the m used, ``fewer_than_requested`` and the reason in words.
    """
    kw = dict(seed=o.seed, maxit=o.imputation_iterations, survival=survival, n_jobs=o.n_jobs)
    requested = int(o.imputations)
    if o.imputation_rule == "fixed":
        fits = impute_fit(d, fit, m=requested, **kw)
        return fits, pool(fits.fits, conf_level=o.conf_level), {
            "rule": "fixed", "requested_m": requested, "m": requested, "fewer_than_requested": False,
            "reason": f"fixed: the requested {requested} imputations (imputation_rule = 'fixed')"}
    if o.imputation_rule != "auto":
        raise StatsInputError(f"imputation_rule must be 'auto' or 'fixed', not {o.imputation_rule!r}")
    n = int(len(d))
    large = n >= int(o.imputation_large_n)
    pilot = max(2, min(int(o.imputation_pilot), requested)) if large else requested
    fits = impute_fit(d, fit, m=pilot, **kw)
    pooled = pool(fits.fits, conf_level=o.conf_level)
    need = how_many_imputations(float(pooled.loc[term, "fmi"]), pilot, cv=o.imputation_cv, alpha=o.imputation_alpha)
    m = max(need.m_required, pilot)
    if m > pilot:
        fits = fits + impute_fit(d, fit, m=m - pilot, start=pilot + 1, **kw)
        pooled = pool(fits.fits, conf_level=o.conf_level)
    rule = (f"von Hippel's rule on the FMI of '{term}' (pilot of {pilot}: FMI {need.fmi:.3f}, "
            f"{need.confidence:.0%} CI {need.fmi_lower:.3f}-{need.fmi_upper:.3f}; target CV of the SE "
            f"{need.cv:g}) needs {need.m_required}")
    if not large:
        reason = (f"{rule}; the requested {requested} are a minimum: "
                  + (f"{m - requested} added" if m > requested else "all used"))
    else:
        reason = (f"large data ({n:,} ≥ {int(o.imputation_large_n):,} patients): {rule}; "
                  + (f"{m} used instead of the requested {requested}" if m != requested else f"{m} used"))
    fmi_all = pooled["fmi"]
    return fits, pooled, {
        "rule": "auto (von Hippel 2020)", "term": term, "requested_m": requested, "large_data": large,
        "large_n": int(o.imputation_large_n), "patients": n, **need.as_dict(), "m": int(m),
        "fmi_at_m": float(pooled.loc[term, "fmi"]), "max_fmi_all_terms": float(fmi_all.max()),
        "max_fmi_term": str(fmi_all.idxmax()), "fewer_than_requested": bool(m < requested), "reason": reason}
