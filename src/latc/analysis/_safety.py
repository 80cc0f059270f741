"""SAP section "Safety": adverse events of neoadjuvant therapy (CTCAE v5).

Safety set = neoadjuvant patients with at least one dose (ICH E9); treatment-emergent AEs
(``latc.derive.safety``). Per CTCAE term: patients with the AE of any grade and of grade ≥ 3, as
n (%) of the safety set with exact Clopper–Pearson CIs; overview: any AE, grade ≥ 3, serious,
treatment-related, leading to dose reduction / interruption / discontinuation / surgical delay,
fatal. A patient counts once per term (maximum grade).
"""

from __future__ import annotations

import pandas as pd

from latc.stats import proportion_ci

from ._context import Context, attempt
from ._data import _flag, need
from ._results import ResultTable, SectionResult, SectionSkipped

OVERVIEW = {"any": "any adverse event", "grade_3_plus": "grade >= 3", "serious": "serious", "related": "treatment-related",
            "dose_reduced": "leading to dose reduction", "interrupted": "leading to interruption",
            "discontinued": "leading to discontinuation", "surgical_delay": "leading to surgical delay", "fatal": "fatal (grade 5)"}
METHOD = "patients with >= 1 event, n (%) of the safety set; exact Clopper-Pearson CI (R binom.test)"


def _with_ci(t: pd.DataFrame, n: int) -> pd.DataFrame:
    for col in [c for c in t.columns if c.startswith("n_")]:
        ci = proportion_ci(t[col].to_numpy(), n)
        tag = col.removeprefix("n_")
        t[f"pct_{tag}"] = 100 * ci["proportion"].to_numpy()
        t[f"lower_{tag}"] = 100 * ci["lower"].to_numpy()
        t[f"upper_{tag}"] = 100 * ci["upper"].to_numpy()
    return t


def run(ctx: Context, sec: SectionResult) -> None:
    s = ctx.data.subject
    need(s, ["safety_set"])
    safety_ids = s.loc[_flag(s["safety_set"]), "patient_id"]
    n = int(len(safety_ids))
    if not n:
        raise SectionSkipped("the safety set is empty (no neoadjuvant patient received a dose)")
    ae = ctx.data.ae
    need(ae, ["patient_id", "ctcae_term", "grade"], "ae")
    a = ae[ae["patient_id"].isin(safety_ids)]
    if "treatment_emergent" in a:
        a = a[a["treatment_emergent"].astype("boolean").fillna(False).to_numpy(bool)]
    par = {"denominator": "safety set", "counting": "patients (once per term, maximum grade)", "teae": True,
           "conf_level": ctx.options.conf_level, "method": "clopper-pearson", "terminology": "CTCAE v5"}
    pop = "safety set (neoadjuvant patients with at least one dose)"

    def by_term():
        if not len(a):
            t = pd.DataFrame({"ctcae_term": pd.Series([], dtype="str"), "n_any_grade": pd.Series([], dtype=int),
                              "n_grade_3_plus": pd.Series([], dtype=int)})
            return ResultTable("ae_by_term", "Adverse events by CTCAE term", t, METHOD, par, pop, n,
                               "no treatment-emergent adverse event recorded")
        g3 = pd.to_numeric(a["grade"], errors="coerce").ge(3).to_numpy(bool)
        any_ = a.groupby("ctcae_term")["patient_id"].nunique().rename("n_any_grade")
        hi = a[g3].groupby("ctcae_term")["patient_id"].nunique().rename("n_grade_3_plus")
        t = pd.concat([any_, hi], axis=1).fillna(0).astype(int).reset_index()
        if "ki_toxicity_group" in a:
            grp = a.groupby("ctcae_term")["ki_toxicity_group"].first()
            t.insert(1, "ki_toxicity_group", t["ctcae_term"].map(grp).astype("str"))
        t = _with_ci(t, n).sort_values(["n_any_grade", "ctcae_term"], ascending=[False, True], ignore_index=True)
        return ResultTable("ae_by_term", "Adverse events by CTCAE term: any grade and grade >= 3", t, METHOD, par, pop, n)

    attempt(sec, "ae_by_term", by_term)

    def overview():
        rows = []
        for key, label in OVERVIEW.items():
            if key == "any":
                ids = a["patient_id"]
            elif key == "grade_3_plus":
                ids = a.loc[pd.to_numeric(a["grade"], errors="coerce").ge(3).to_numpy(bool), "patient_id"]
            elif key in a:
                ids = a.loc[a[key].astype("boolean").fillna(False).to_numpy(bool), "patient_id"]
            else:
                continue
            rows.append({"category": label, "n_patients": int(ids.nunique())})
        t = _with_ci(pd.DataFrame(rows), n)
        t.insert(1, "safety_set", n)
        return ResultTable("ae_overview", "Adverse event overview", t, METHOD, par, pop, n)

    attempt(sec, "ae_overview", overview)
