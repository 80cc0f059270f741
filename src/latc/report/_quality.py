"""Baseline characteristics (Table 1) and data quality: completeness by form and center, queries.

Completeness is the share of **required** dictionary fields filled in the validated (clean) rows,
counting a conditional field (``show_if``) only on the rows where its condition holds — the same
rule the case report form applies (``latc/dictionary/latc_dictionary.yaml``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import add_analysis_table, add_table
from ._inputs import ReportInputs
from ._model import Section

__all__ = ["baseline_section", "completeness", "quality_section"]


def _as_codes(df: pd.DataFrame) -> pd.DataFrame:
    """Typed clean columns back to the dictionary's raw codes (yesno True/False → "1"/"0") for ``show_if``."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].astype("Int64").astype("str")
    return out


def completeness(inp: ReportInputs) -> pd.DataFrame:
    """``form, center_id, rows, required_cells, filled_cells, percent_filled`` for every clean form.

    Vectorised per form: an applicability mask (rows × required fields, from ``show_if``) and a
    filled mask, summed by center. The center of a repeating form comes from ``patients``.
    """
    from latc.dictionary import load_dictionary

    d = load_dictionary()
    patients = inp.clean("patients")
    center_of = (patients.drop_duplicates("patient_id").set_index("patient_id")["center_id"]
                 if patients is not None and "center_id" in patients else pd.Series(dtype="str"))
    parts = []
    for name, form in d.forms.items():
        t = inp.clean(name, keep=name == "patients")  # each form once: not kept (GBs at 100,000 patients)
        if t is None or len(t) == 0:
            continue
        fields = [f for f in form.fields if f.required and f.name in t.columns]
        if not fields:
            continue
        codes = _as_codes(t[[c for c in t.columns if c in {f.name for f in form.fields}]])
        applicable = np.ones((len(t), len(fields)), dtype=bool)
        for j, f in enumerate(fields):
            if f.show_if is not None:
                try:
                    applicable[:, j] = f.show_if.evaluate(codes).to_numpy(bool)
                except Exception:  # a condition on a column the table lacks: count every row
                    applicable[:, j] = True
        filled = t[[f.name for f in fields]].notna().to_numpy() & applicable
        center = (t["center_id"] if "center_id" in t else t["patient_id"].map(center_of) if "patient_id" in t
                  else pd.Series("unknown", index=t.index)).astype("str").fillna("unknown").to_numpy()
        g = pd.DataFrame({"center_id": center, "required_cells": applicable.sum(axis=1), "filled_cells": filled.sum(axis=1)})
        agg = g.groupby("center_id").agg(rows=("required_cells", "size"), required_cells=("required_cells", "sum"),
                                         filled_cells=("filled_cells", "sum")).reset_index()
        agg.insert(0, "form", name)
        parts.append(agg)
    if not parts:
        return pd.DataFrame(columns=["form", "center_id", "rows", "required_cells", "filled_cells", "percent_filled"])
    out = pd.concat(parts, ignore_index=True)
    out["percent_filled"] = np.where(out["required_cells"] > 0, 100 * out["filled_cells"] / out["required_cells"].clip(lower=1), np.nan)
    return out


def _wide(comp: pd.DataFrame) -> pd.DataFrame:
    """Forms × centers of % filled, plus an "all centers" column."""
    w = comp.pivot_table(index="form", columns="center_id", values="percent_filled", aggfunc="first")
    tot = comp.groupby("form")[["filled_cells", "required_cells"]].sum()
    w["all centers"] = 100 * tot["filled_cells"] / tot["required_cells"].clip(lower=1)
    w.columns.name = None
    return w.reset_index()


def baseline_section(inp: ReportInputs) -> Section:
    sec = Section("baseline", "Baseline characteristics")
    t = add_analysis_table(sec, inp, "baseline", "table1", title="Baseline characteristics by cohort (Table 1)",
                           columns=["label", "level", "statistic", "neoadjuvant", "upfront_surgery", "p", "smd", "missing"],
                           rename={"label": "Characteristic", "smd": "SMD", "missing": "Missing"})
    if t is not None:
        t.display["Characteristic"] = t.display["Characteristic"].where(t.data["variable"].ne(t.data["variable"].shift()).to_numpy(), "")
        first = t.data["variable"].astype("str").eq("n").to_numpy()
        t.display.loc[first, "Characteristic"] = "Patients, n"
        sec.paragraphs.append("Standardized mean differences (SMD) above 0.1 indicate imbalance between the cohorts; "
                              "p-values are descriptive (tableone conventions).")
    return sec


def quality_section(inp: ReportInputs) -> Section:
    sec = Section("quality", "Data completeness and quality")
    if inp.validation_dir is None:
        sec.note("Data completeness", "no validation folder in the results (run `latc run`)")
        return sec
    comp = completeness(inp)
    if len(comp):
        overall = 100 * comp["filled_cells"].sum() / max(comp["required_cells"].sum(), 1)
        sec.paragraphs.append(f"Required fields filled in the validated rows: {overall:.1f} % overall. Conditional "
                              "fields count only where their condition holds (e.g. death date only for deceased patients).")
        add_table(sec, "completeness", "Completeness: % of required fields filled, by form and center", _wide(comp),
                  caption="Validated (clean) rows only; quarantined rows are listed in validation/quarantine/.", digits=1)
        comp_raw = comp.copy()
        sec.extra["completeness_long"] = comp_raw
    else:
        sec.note("Completeness", "no validated study tables in validation/clean/")
    q = inp.validation_file("queries")
    vs = inp.validation_summary
    if vs:
        sec.paragraphs.append(
            f"Data cut {vs.get('data_cut', '?')}: {vs.get('rows_read', 0):,} rows read, {vs.get('rows_quarantined', 0):,} "
            f"quarantined; {vs.get('queries', 0):,} queries ({vs.get('queries_error', 0):,} errors, "
            f"{vs.get('queries_warning', 0):,} warnings).")
    if q is not None and len(q):
        by_rule = (q.groupby(["rule", "severity"]).size().rename("queries").reset_index()
                   .sort_values(["queries", "rule"], ascending=[False, True]))
        add_table(sec, "queries_by_rule", "Data-quality queries by rule and severity", by_rule,
                  caption="Full log: validation/queries.csv (form, row, field, rule, message).")
        by_form = q.groupby(["form", "severity"]).size().unstack(fill_value=0).reset_index()
        by_form.columns.name = None
        add_table(sec, "queries_by_form", "Queries by form", by_form)
        by_center = q.groupby([q["center_id"].astype("str").fillna("unknown"), "severity"]).size().unstack(fill_value=0).reset_index()
        by_center.columns.name = None
        add_table(sec, "queries_by_center", "Queries by center", by_center)
    elif q is not None:
        sec.paragraphs.append("No queries: every row passed every rule.")
    prob = inp.derived("problems")
    if prob is not None and len(prob) and "derivation" in prob:
        is_cut = prob["derivation"].astype("str").eq("data_cut").to_numpy()
        cut = prob[is_cut]
        if len(cut):
            # one line per form and action (counts of rows, from latc derive), not problems to flag
            c = pd.DataFrame({
                "form": cut["field"].astype("str").to_numpy(),
                "rows": pd.to_numeric(cut["value"], errors="coerce").to_numpy(),
                "action": cut["message"].astype("str").str.replace(r"^.*?row\(s\)\s*", "", regex=True).to_numpy(),
            })
            when = inp.derive_parameters.get("data_cut") or vs.get("data_cut", "")
            add_table(sec, "data_cut_rows", f"Records after the data cut {when}".strip(), c,
                      caption="Not errors: latc derive leaves records dated after the data cut (and patients enrolled "
                              "after it) out of the analysis, and truncates what was ongoing at the cut (derived/problems.csv).")
        prob = prob[~is_cut]
    if prob is not None and len(prob):
        p = prob.groupby(["derivation", "rule"]).size().rename("patients or rows").reset_index()
        add_table(sec, "derivation_problems", "Derivation problems (derived/problems.csv)", p,
                  caption="Problems found while deriving endpoints (e.g. RECIST target-lesion rules); the rows are kept and flagged.")
    return sec
