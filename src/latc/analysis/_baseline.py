"""SAP section "Baseline characteristics": Table 1 of the analysis set by cohort, with SMDs.

``latc.stats.table_one`` (tableone conventions: n (%), mean (SD) or median [IQR], missing counts,
chi-squared / ANOVA / Kruskal–Wallis tests, absolute standardized mean differences; Yang & Dalton
multi-level SMD). Population: the analysis set (eligible patients), both cohorts.
"""

from __future__ import annotations

import pandas as pd

from latc.stats import table_one

from ._context import Context, attempt
from ._data import need
from ._results import ResultTable, SectionResult, SectionSkipped

#: Table 1 variables (subject column → label), in display order
VARIABLES: dict[str, str] = {
    "age_at_diagnosis": "Age at diagnosis (years)", "sex": "Sex", "ecog": "ECOG performance status",
    "histology_group": "Histology group", "histology": "Histology", "primary_size_mm": "Primary tumour size (mm)",
    "ct": "cT", "cn": "cN", "cm": "cM", "clinical_stage": "Clinical stage (AJCC 8th)",
    "n_invaded_structures": "Number of invaded structures", "baseline_resectability": "Baseline resectability",
    "planned_laryngectomy": "Laryngectomy planned at baseline", "braf_v600e": "BRAF V600E", "tert_promoter": "TERT promoter",
    "center_id": "Center",
}
CONTINUOUS = ("age_at_diagnosis", "primary_size_mm", "n_invaded_structures")
NONNORMAL = ("primary_size_mm", "n_invaded_structures")


def table_one_frame(subject: pd.DataFrame, variables: list[str]) -> pd.DataFrame:
    """The subject columns in the types ``table_one`` expects (numbers as float, flags as yes/no text)."""
    d = pd.DataFrame({"cohort": subject["cohort"].astype("str")}, index=subject.index)
    for v in variables:
        s = subject[v]
        if v in CONTINUOUS:
            d[v] = pd.to_numeric(s, errors="coerce").astype(float)
        elif pd.api.types.is_bool_dtype(s):
            d[v] = s.astype("boolean").map({True: "yes", False: "no"}).astype("str")
        else:
            d[v] = s.astype("str")
    return d


def run(ctx: Context, sec: SectionResult) -> None:
    s = ctx.data.analysis_set
    need(s, ["cohort"])
    if not len(s):
        raise SectionSkipped("the analysis set is empty")

    def table1():
        variables = [v for v in VARIABLES if v in s.columns and s[v].notna().any()]
        d = table_one_frame(s, variables)
        cohorts = sorted(set(d["cohort"].dropna()))
        t = table_one(d, "cohort", variables, nonnormal=[v for v in NONNORMAL if v in variables])
        t.attrs = {}
        t.insert(1, "label", t["variable"].map(VARIABLES).fillna(""))
        note = "" if len(cohorts) > 1 else f"one cohort only ({', '.join(cohorts)}): no test and no SMD"
        return ResultTable("table1", "Baseline characteristics by cohort", t,
                           "tableone conventions (R CreateTableOne, print(smd = TRUE)): n (%) of non-missing; mean (SD); "
                           "median [Q1, Q3] (type 7) for skewed variables; chi-squared (Yates for 2x2), one-way ANOVA, "
                           "Kruskal-Wallis; absolute SMD (Yang & Dalton for multi-level)",
                           {"group": "cohort", "nonnormal": [v for v in NONNORMAL if v in variables], "smd": "absolute",
                            "missing": "counted, percentages of non-missing"},
                           "analysis set (eligible patients)", len(s), note)

    attempt(sec, "table1", table1)
