"""A federated run's results in `latc analyze`'s own format, and their comparison with the pooled run.

:func:`federated_results` turns a :class:`~latc.federated.FederatedComparison` into
:class:`latc.analysis.AnalysisResults` — the same sections, table names, declared schemas and
``results.json`` (``federated: true``, the sites, the rounds) — so ``write_results`` writes it and
``latc report`` renders it like any analysis; everything not computed federated is listed with its
reason. :func:`compare_results` puts every estimate of the federated tables beside the pooled
analysis's (`comparison.json`: federated, pooled, absolute difference, per table the largest).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from latc.analysis import AnalysisResults, ResultTable, SectionResult

from ._comparison import FederatedComparison

__all__ = ["KEYS", "compare_results", "federated_results"]

POPULATION = ("analysis set (eligible patients), both cohorts, complete baseline confounders; time zero = treatment "
              "decision — each site's own rows, never pooled")

_RATES = ("proportion with exact Clopper-Pearson CI (R binom.test(x, n)$conf.int) from the summed per-site counts "
          "({what}); a site with a count cell below its minimum withholds the table")

#: the population of a section's tables where it is not the comparison's (as the pooled sections')
_POPULATIONS: dict[str, str] = {
    "baseline": "analysis set (eligible patients), by cohort — each site's own patients, never pooled",
    "response": "response set / neoadjuvant patients with an evaluable marker or graded specimen (as `latc analyze`) "
                "— counts summed over the sites",
    "surgery": "operated set (analysis set with a curative operation) — counts summed over the sites",
    "safety": "safety set (neoadjuvant patients with at least one dose) — counts summed over the sites",
}

#: table → (table title, method) of the federated tables
_TABLES: dict[str, tuple[str, str]] = {
    "baseline/table1": (
        "Baseline characteristics by cohort (federated)",
        "tableone conventions (R CreateTableOne) on per-site aggregates: level counts (n (%), chi-squared, SMD), "
        "n / Σx / Σx² (mean (SD), one-way ANOVA, SMD), value counts of skewed variables (median [Q1, Q3], "
        "Kruskal-Wallis); a variable with a cell below a site's minimum is withheld"),
    "comparative/hazard_ratios": (
        "Neoadjuvant vs upfront surgery (reference): hazard ratios by analysis (federated)",
        "Cox proportional hazards stratified by center (= site), Efron ties, from summed per-site score and "
        "information per Newton step (coxfit6 iteration); IPTW / overlap weights computed at the sites from the "
        "GLORE propensity model; robust sandwich SE from per-site Σ r rᵀ (Shu et al. 2020)"),
    "comparative/km_curves": (
        "Kaplan-Meier curves by cohort (unweighted and IPTW; federated)",
        "Kaplan-Meier from per-site event and censoring counts on the pooled time grid (Greenwood); IPTW curves "
        "from per-site weighted counts with the robust infinitesimal-jackknife variance (R survfit(weights, "
        "robust = TRUE))"),
    "comparative/logrank": ("Log-rank tests by cohort (federated)", "log-rank (R survdiff) from per-site counts"),
    "comparative/balance": (
        "Covariate balance after weighting (federated)",
        "cobalt bal.tab conventions from per-site sums (n, Σx, Σx², Σw, Σw², Σwx, Σwx²); KS of continuous "
        "covariates not computed (pooled ECDF)"),
    "comparative/effective_sample_size": ("Effective sample sizes (Kish; federated)", "Kish (Σw)²/Σw² from per-site sums"),
    "competing/cif_curves": (
        "Cumulative incidence curves of recurrence and of death without recurrence (federated)",
        "Aalen-Johansen (R cmprsk::cuminc) on the pooled per-site counts per cohort, cause and time"),
    "competing/gray_test": ("Gray's test by cohort (federated)",
                            "Gray's K-sample test (R cuminc $Tests) on the pooled per-site counts; stratified by site = center"),
    "response/objective_response": (
        "Objective response and disease control (RECIST 1.1; federated)",
        _RATES.format(what="responders, evaluable and not evaluable per outcome and level; response set, intention "
                           "to treat")),
    "response/best_overall_response": (
        "Best overall response (RECIST 1.1; federated)",
        _RATES.format(what="patients per best overall response and per confirmed best overall response; most "
                           "frequent first")),
    "response/biochemical_response": (
        "Biochemical response to neoadjuvant therapy (federated)",
        _RATES.format(what="responders and evaluable per outcome and level; neoadjuvant patients with an evaluable "
                           "marker")),
    "response/pathological_response": (
        "Pathological complete and major response (federated)",
        _RATES.format(what="responders and evaluable per outcome and level; neoadjuvant patients with a graded "
                           "specimen")),
    "surgery/outcomes": (
        "Resection status and complications by cohort (federated)",
        _RATES.format(what="patients with each outcome and operated patients per cohort")),
    "surgery/organ_preservation": (
        "Organ preservation vs the baseline surgical plan (federated)",
        _RATES.format(what="patients with the organ preserved and with the organ resection planned, per cohort")),
    "safety/ae_by_term": (
        "Adverse events by CTCAE term: any grade and grade >= 3 (federated)",
        _RATES.format(what="patients with the term (once per term, any grade and grade >= 3) and the safety set; "
                           "CTCAE v5, treatment-emergent")),
    "safety/ae_overview": (
        "Adverse event overview (federated)",
        _RATES.format(what="patients per category and the safety set; treatment-emergent")),
}
_SECTIONS = {"baseline": "Baseline characteristics by cohort (federated)", "comparative": "Neoadjuvant vs upfront surgery (federated)",
             "competing": "Recurrence with death as a competing event (federated)",
             "response": "Response to neoadjuvant therapy: imaging, biochemical, pathological (federated)",
             "surgery": "Surgical outcomes and complications by cohort (federated)",
             "safety": "Adverse events of neoadjuvant therapy (federated)"}

#: table → the columns that identify a row (for the comparison)
KEYS: dict[str, list[str]] = {
    "baseline/table1": ["variable", "level"],
    "comparative/hazard_ratios": ["endpoint", "analysis"],
    "comparative/km_curves": ["endpoint", "weighting", "group", "time"],
    "comparative/logrank": ["endpoint", "group"],
    "comparative/balance": ["sample", "variable"],
    "comparative/effective_sample_size": ["sample", "index"],
    "competing/cif_curves": ["group", "cause", "time"],
    "competing/gray_test": ["strata", "cause"],
    "response/objective_response": ["outcome", "by", "level"],
    "response/best_overall_response": ["best_overall_response"],
    "response/biochemical_response": ["outcome", "by", "level"],
    "response/pathological_response": ["outcome", "by", "level"],
    "surgery/outcomes": ["outcome", "cohort"],
    "surgery/organ_preservation": ["outcome", "cohort"],
    "safety/ae_by_term": ["ctcae_term"],
    "safety/ae_overview": ["category"],
}


def federated_results(fed: FederatedComparison, *, sites: dict[str, Any] | None = None) -> AnalysisResults:
    """The federated tables as :class:`~latc.analysis.AnalysisResults` (module docstring)."""
    sections: dict[str, SectionResult] = {s: SectionResult(name=s, title=t) for s, t in _SECTIONS.items()}
    n = None
    hr = fed.tables.get("comparative/hazard_ratios")
    if hr is not None and len(hr):
        n = int(hr.loc[hr["endpoint"].eq("recurrence"), "n"].max())
    for key, table in fed.tables.items():
        sec, name = key.split("/")
        title, method = _TABLES[key]
        pop = _POPULATIONS.get(sec, POPULATION)
        sections[sec].add(ResultTable(name, title, table.reset_index(drop=True), method,
                                      {**{k: v for k, v in fed.parameters.items() if k != "sites"}, "federated": True},
                                      pop, n if pop is POPULATION else None))
    for key, reason in fed.not_computed.items():
        sec, _, rest = key.partition("/")
        if sec in sections:
            sections[sec].skipped_tables[rest or "(section)"] = reason
        else:
            sections.setdefault(sec, SectionResult(name=sec, title=sec, reason=reason))
    from latc.analysis import SCHEMAS
    from latc.analysis._plan import SECTIONS

    for key in SCHEMAS:
        sec, name = key.split("/")
        if key in fed.tables or any(k.startswith(key) for k in fed.not_computed) or sec in fed.not_computed:
            continue
        reason = "not in the federated plan of this version (docs/federated.md: what is computed federated)"
        if sec in sections:
            sections[sec].skipped_tables.setdefault(name, reason)
        else:
            sections[sec] = SectionResult(name=sec, title=SECTIONS.get(sec, (sec,))[0], reason=reason)
    for s in sections.values():
        if not s.tables and s.reason is None:
            s.reason = "; ".join(f"{k}: {v}" for k, v in s.skipped_tables.items()) or "not computed federated"
    inputs = {"federated": True, "sites": sites or {s: {} for s in fed.parameters.get("sites", [])},
              "rounds": fed.rounds}
    return AnalysisResults(sections=sections, parameters={**fed.parameters, "federated": True}, inputs=inputs)


def compare_results(fed: AnalysisResults, pooled: AnalysisResults) -> tuple[dict[str, Any], pd.DataFrame]:
    """Every number of the federated tables beside the pooled analysis's: ``(summary, rows)``.

    ``rows``: table, key (the row's identifying values), column, federated, pooled, abs_diff.
    ``summary``: per table the rows compared, the largest absolute difference and the rows only one
    side has; overall the largest difference."""
    out: list[pd.DataFrame] = []
    summary: dict[str, Any] = {}
    for key, ft in fed.tables().items():
        sec, name = key.split("/")
        try:
            pt = pooled.table(sec, name)
        except KeyError as exc:
            summary[key] = {"compared": 0, "note": f"pooled analysis has no such table: {exc}"}
            continue
        keys = KEYS[key]
        f = ft.data.copy()
        p = pt.copy()
        if key == "comparative/balance":
            p = p[p["sample"].ne("ps_matched")]
        for c in keys:
            f[c] = f[c].astype(str)
            p[c] = p[c].astype(str)
        m = f.merge(p, on=keys, how="outer", suffixes=("_federated", "_pooled"), indicator=True)
        both = m[m["_merge"].eq("both")]
        nums = [c for c in ft.data.columns if c not in keys and pd.api.types.is_numeric_dtype(ft.data[c])
                and not pd.api.types.is_bool_dtype(ft.data[c]) and f"{c}_pooled" in m]
        worst = 0.0
        row_key = (both[keys].astype(str).agg(" | ".join, axis=1).to_numpy() if len(both)
                   else np.array([], dtype=object))
        for c in nums:
            a = pd.to_numeric(both[f"{c}_federated"], errors="coerce").to_numpy(float)
            b = pd.to_numeric(both[f"{c}_pooled"], errors="coerce").to_numpy(float)
            same_nan = np.isnan(a) & np.isnan(b)
            d = np.where(same_nan, 0.0, np.abs(a - b))
            worst = max(worst, float(np.nanmax(d)) if len(d) else 0.0)
            keep = ~same_nan
            out.append(pd.DataFrame({"table": key, "key": row_key[keep], "column": c, "federated": a[keep],
                                     "pooled": b[keep], "abs_diff": d[keep]}))
        summary[key] = {"rows_compared": int(len(both)), "values_compared": int(len(both) * len(nums)),
                        "max_abs_diff": worst,
                        "only_federated": int(m["_merge"].eq("left_only").sum()),
                        "only_pooled": int(m["_merge"].eq("right_only").sum())}
    cols = ["table", "key", "column", "federated", "pooled", "abs_diff"]
    rows = pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)
    overall = max((v.get("max_abs_diff", 0.0) for v in summary.values()), default=0.0)
    return {"max_abs_diff": overall, "tables": summary}, rows
