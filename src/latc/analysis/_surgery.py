"""SAP section "Surgical outcomes": resection status, organ preservation, complications by cohort.

Rates with exact Clopper–Pearson CIs (``latc.stats.response_rates``), per cohort, in the operated set
(analysis set with a curative operation; ``latc.derive.surgery``): R0 / R1 / R2; organ preservation
among patients whose baseline plan included the organ resection; any complication, Clavien–Dindo
≥ III (major), 30-day complication, permanent (> 6 months) hypoparathyroidism and recurrent laryngeal
nerve palsy, 30/90-day mortality. Complication rates use the operated set as denominator; permanent
events with an undetermined status (follow-up < 6 months) are not counted as permanent.
"""

from __future__ import annotations

import pandas as pd

from latc.stats import response_rates

from ._context import Context, attempt, concat, row_populations
from ._data import _flag, need
from ._results import ResultTable, SectionResult, SectionSkipped

OUTCOMES = {
    "r0_resection": "R0 resection", "r1_resection": "R1 resection", "r2_resection": "R2 resection",
    "any_complication": "any complication", "major_complication": "Clavien-Dindo >= III",
    "complication_30d": "complication within 30 days", "hypoparathyroidism_permanent": "permanent hypoparathyroidism",
    "rln_palsy_permanent": "permanent RLN palsy", "death_30d": "30-day mortality", "death_90d": "90-day mortality",
}
PRESERVATION = {  # outcome → the baseline plan that defines its denominator
    "planned_organ_resection_avoided": "organ_resection_planned",
    "total_laryngectomy_avoided": "planned_laryngectomy",
    "esophageal_resection_avoided": "planned_esophageal_resection",
}
METHOD = "proportion with exact Clopper-Pearson CI (R binom.test) per cohort"
OUTCOME_WORDS = {"planned_organ_resection_avoided": "planned organ resection avoided",
                 "total_laryngectomy_avoided": "total laryngectomy avoided",
                 "esophageal_resection_avoided": "oesophageal resection avoided"}
PLAN_WORDS = {"organ_resection_planned": "an organ resection", "planned_laryngectomy": "a laryngectomy",
              "planned_esophageal_resection": "an oesophageal resection"}


def operated_set(s: pd.DataFrame) -> pd.DataFrame:
    """The operated set: analysis-set patients with a curative operation."""
    need(s, ["operated_set", "cohort", "resection_status"])
    return s[_flag(s["operated_set"])].copy()


def outcome_frame(op: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Cohort and the 0/1 outcome flags of :data:`OUTCOMES` present in ``op`` (unknown = no event),
    and those outcomes in order."""
    d = pd.DataFrame({"cohort": op["cohort"].astype("str")})
    rs = op["resection_status"].astype("str")
    d["r0_resection"] = rs.eq("R0").to_numpy(bool)
    d["r1_resection"] = rs.eq("R1").to_numpy(bool)
    d["r2_resection"] = rs.eq("R2").to_numpy(bool)
    for c in list(OUTCOMES)[3:]:
        if c in op:
            d[c] = op[c].astype("boolean").fillna(False).to_numpy(bool)
    return d, [c for c in OUTCOMES if c in d]


def label_outcomes(t: pd.DataFrame) -> pd.DataFrame:
    """The ``surgery/outcomes`` layout of a rate table by cohort: ``label`` after ``outcome``."""
    t.attrs = {}
    t.insert(1, "label", t["outcome"].map(OUTCOMES))
    return t


def preservation_frames(op: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(outcome, baseline plan, cohort + outcome flag of the operated patients with that plan) for each
    :data:`PRESERVATION` outcome whose columns ``op`` has; a block may have no patient."""
    out = []
    for o, plan in PRESERVATION.items():
        if o not in op or plan not in op:
            continue
        planned = op[op[plan].astype("boolean").fillna(False).to_numpy(bool)]
        out.append((o, plan, pd.DataFrame({"cohort": planned["cohort"].astype("str"),
                                           o: planned[o].astype("boolean").fillna(False).to_numpy(bool)})))
    return out


def denominate(t: pd.DataFrame, plan: str) -> pd.DataFrame:
    """The ``surgery/organ_preservation`` layout of one block: ``denominator`` after ``outcome``."""
    t.insert(1, "denominator", f"{plan} at baseline")
    return t


def run(ctx: Context, sec: SectionResult) -> None:
    op = operated_set(ctx.data.analysis_set)
    if not len(op):
        raise SectionSkipped("no operated patient (curative operation) in the analysis set")
    par = {"conf_level": ctx.options.conf_level, "method": "clopper-pearson", "permanent": "> 6 months"}

    def outcomes():
        d, outs = outcome_frame(op)
        t = label_outcomes(response_rates(d, outs, by="cohort", conf_level=ctx.options.conf_level))
        return ResultTable("outcomes", "Resection status and complications by cohort", t, METHOD,
                           {**par, "major": "Clavien-Dindo grade >= III (Dindo 2004)"},
                           "operated set (analysis set with a curative operation)", len(op))

    attempt(sec, "outcomes", outcomes)

    def preservation():
        parts, blocks = [], []
        any_plan = pd.Series(False, index=op.index)
        for out, plan, d in preservation_frames(op):
            if not len(d):
                continue
            any_plan |= op[plan].astype("boolean").fillna(False).to_numpy(bool)
            parts.append(denominate(response_rates(d, [out], by="cohort", conf_level=ctx.options.conf_level), plan))
            blocks.append((OUTCOME_WORDS.get(out, out), len(d), f"operated patients with {PLAN_WORDS.get(plan, plan)} "
                           "in the baseline plan"))
        if not parts:
            raise SectionSkipped("no operated patient had an organ resection in the baseline plan")
        n = int(any_plan.sum())
        return ResultTable("organ_preservation", "Organ preservation vs the baseline surgical plan", concat(parts), METHOD,
                           par, "operated set with an organ resection in the baseline plan", n,
                           row_populations=row_populations(blocks, n))

    attempt(sec, "organ_preservation", preservation)
