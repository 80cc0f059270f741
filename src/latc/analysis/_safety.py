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


def _with_ci(t: pd.DataFrame, n: int, conf_level: float = 0.95) -> pd.DataFrame:
    for col in [c for c in t.columns if c.startswith("n_")]:
        ci = proportion_ci(t[col].to_numpy(), n, conf_level=conf_level)
        tag = col.removeprefix("n_")
        t[f"pct_{tag}"] = 100 * ci["proportion"].to_numpy()
        t[f"lower_{tag}"] = 100 * ci["lower"].to_numpy()
        t[f"upper_{tag}"] = 100 * ci["upper"].to_numpy()
    return t


def safety_events(subject: pd.DataFrame, ae: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """(size of the safety set, its treatment-emergent AE rows) — ICH E9 safety set from ``subject``."""
    need(subject, ["safety_set"])
    safety_ids = subject.loc[_flag(subject["safety_set"]), "patient_id"]
    need(ae, ["patient_id", "ctcae_term", "grade"], "ae")
    a = ae[ae["patient_id"].isin(safety_ids)]
    if "treatment_emergent" in a:
        a = a[a["treatment_emergent"].astype("boolean").fillna(False).to_numpy(bool)]
    return int(len(safety_ids)), a


def term_counts(a: pd.DataFrame) -> pd.DataFrame:
    """Per CTCAE term (sorted): patients with the AE of any grade and of grade >= 3 (once per
    patient), and the term's kinase-inhibitor toxicity group when ``a`` has it."""
    g3 = pd.to_numeric(a["grade"], errors="coerce").ge(3).to_numpy(bool)
    any_ = a.groupby("ctcae_term")["patient_id"].nunique().rename("n_any_grade")
    hi = a[g3].groupby("ctcae_term")["patient_id"].nunique().rename("n_grade_3_plus")
    t = pd.concat([any_, hi], axis=1).fillna(0).astype(int).reset_index()
    if "ki_toxicity_group" in a:
        grp = a.groupby("ctcae_term")["ki_toxicity_group"].first()
        t.insert(1, "ki_toxicity_group", t["ctcae_term"].map(grp).astype("str"))
    return t


def empty_term_table() -> pd.DataFrame:
    """``safety/ae_by_term`` when no treatment-emergent AE is recorded."""
    return pd.DataFrame({"ctcae_term": pd.Series([], dtype="str"), "n_any_grade": pd.Series([], dtype=int),
                         "n_grade_3_plus": pd.Series([], dtype=int)})


def term_table(t: pd.DataFrame, n: int, *, conf_level: float = 0.95) -> pd.DataFrame:
    """:func:`term_counts` with % and CI of the safety set ``n``, most frequent term first."""
    return _with_ci(t, n, conf_level).sort_values(["n_any_grade", "ctcae_term"], ascending=[False, True],
                                                  ignore_index=True)


def overview_counts(a: pd.DataFrame) -> pd.DataFrame:
    """Patients with >= 1 event of each :data:`OVERVIEW` category ``a`` can tell (category, n_patients)."""
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
    return pd.DataFrame(rows)


def overview_table(t: pd.DataFrame, n: int, *, conf_level: float = 0.95) -> pd.DataFrame:
    """:func:`overview_counts` with % and CI of the safety set ``n``."""
    t = _with_ci(t, n, conf_level)
    t.insert(1, "safety_set", n)
    return t


def run(ctx: Context, sec: SectionResult) -> None:
    need(ctx.data.subject, ["safety_set"])
    if not _flag(ctx.data.subject["safety_set"]).any():
        raise SectionSkipped("the safety set is empty (no neoadjuvant patient received a dose)")
    n, a = safety_events(ctx.data.subject, ctx.data.ae)
    par = {"denominator": "safety set", "counting": "patients (once per term, maximum grade)", "teae": True,
           "conf_level": ctx.options.conf_level, "method": "clopper-pearson", "terminology": "CTCAE v5"}
    pop = "safety set (neoadjuvant patients with at least one dose)"

    def by_term():
        if not len(a):
            return ResultTable("ae_by_term", "Adverse events by CTCAE term", empty_term_table(), METHOD, par, pop, n,
                               "no treatment-emergent adverse event recorded")
        return ResultTable("ae_by_term", "Adverse events by CTCAE term: any grade and grade >= 3",
                           term_table(term_counts(a), n, conf_level=ctx.options.conf_level), METHOD, par, pop, n)

    attempt(sec, "ae_by_term", by_term)

    def overview():
        return ResultTable("ae_overview", "Adverse event overview", overview_table(overview_counts(a), n, conf_level=ctx.options.conf_level), METHOD,
                           par, pop, n)

    attempt(sec, "ae_overview", overview)
