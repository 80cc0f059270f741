"""SAP section "Subgroups": the comparative recurrence HR within subgroups, with interaction tests.

``latc.stats.subgroups`` with IPTW (stabilized ATE) weights from the overall propensity model:
weighted Cox per subgroup level with robust SE, and the Wald test of treatment × subgroup interaction
with the robust variance (R ``coxph(..., weights, robust = TRUE)``; a likelihood ratio is not valid
for a weighted pseudo-likelihood). Subgroups: histology group, BRAF V600E, cT4b, baseline
resectability, age ≥ 55, center size (centers at or above the median size vs smaller). Forest-plot data.
"""

from __future__ import annotations

import numpy as np

from latc.stats import subgroups

from ._comparative import POPULATION, comparison
from ._coding import coding
from ._context import Context, check_events
from ._results import ResultTable, SectionResult, SectionSkipped

SUBGROUPS = {"histology_group": "histology group", "braf": "BRAF V600E", "cT4b": "cT4b", "resectability": "resectability",
             "age_55_or_older": "age >= 55", "center_size": "center size"}


def run(ctx: Context, sec: SectionResult) -> None:
    o = ctx.options
    cmp = comparison(ctx)
    if "ps_error" in cmp:
        raise SectionSkipped(cmp["ps_error"])
    d = cmp["frame"]
    d = d[d["rec_time"].notna()].copy()
    check_events(d, "rec_event", o.min_events, "recurrence", group="neoadjuvant")
    d["cT4b"] = np.where(d["t4b"] == 1, "T4b", "T4a")
    d["age_55_or_older"] = np.where(d["age_per10"] >= 0, "yes", "no")
    for c in ("histology_group", "braf", "resectability"):
        d[c] = d[c].cat.remove_unused_categories()
    t = subgroups(d, "neoadjuvant", ("rec_time", "rec_event"), list(SUBGROUPS), weights="w_ate", conf_level=o.conf_level)
    t.attrs = {}
    t.insert(1, "subgroup_label", t["subgroup"].map(SUBGROUPS).fillna(""))
    est = t["estimate"].isna() & t["note"].fillna("").eq("")
    t.loc[est, "note"] = "not estimable"
    sec.add(ResultTable("forest", "Neoadjuvant vs upfront recurrence HR by subgroup (forest plot)", t,
                        "weighted Cox per subgroup (R coxph(weights = IPTW, robust = TRUE), Efron ties); interaction: "
                        "robust Wald test of treatment x subgroup",
                        {"weights": "stabilized IPTW (ATE) from the overall propensity model", "robust": True,
                         "ties": "efron", "interaction_test": "Wald (robust)", "subgroups": SUBGROUPS,
                         "conf_level": o.conf_level}, POPULATION, len(d),
                        coding=coding(["neoadjuvant", *SUBGROUPS], d, events=["recurrence"],
                                      notes=["one weighted Cox model of neoadjuvant per subgroup level; interaction "
                                             "model: neoadjuvant * subgroup"])))
