"""The short HTML summary written after validation (until the full study report runs).

Self-contained (inline CSS, no scripts, no external requests); shows counts by form, center and
rule, eligibility, and the first queries — never any identifier beyond pseudonymous ids.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

import latc


def _env() -> Environment:
    return Environment(loader=PackageLoader("latc.report", "templates"), autoescape=select_autoescape(["html", "j2"]))


def validation_overview(result: Any) -> dict[str, pd.DataFrame]:
    """Tables the summary shows, computed from a ``ValidationResult``'s public attributes."""
    q: pd.DataFrame = result.queries
    forms = sorted(set(result.clean) | set(result.quarantine))
    rows = pd.DataFrame({
        "form": forms,
        "clean": [len(result.clean.get(f, ())) for f in forms],
        "quarantined": [len(result.quarantine.get(f, ())) for f in forms],
    })
    rows["read"] = rows["clean"] + rows["quarantined"]
    qf = q.groupby(["form", "severity"]).size().unstack(fill_value=0) if len(q) else pd.DataFrame()
    for sev in ("error", "warning"):
        rows[f"{sev}s"] = rows["form"].map(qf[sev] if sev in qf else {}).fillna(0).astype(int)
    rows = rows[["form", "read", "clean", "quarantined", "errors", "warnings"]]
    by_rule = (q.groupby(["rule", "severity"]).size().rename("queries").reset_index()
               .sort_values("queries", ascending=False)) if len(q) else pd.DataFrame(columns=["rule", "severity", "queries"])
    by_center = (q.groupby(["center_id", "severity"], dropna=False).size().unstack(fill_value=0)
                 .rename_axis(columns=None).reset_index()
                 if len(q) else pd.DataFrame(columns=["center_id"]))
    pts = result.clean.get("patients", pd.DataFrame())
    if len(pts):
        cohort = (pts.groupby(["center_id", "cohort"]).size().unstack(fill_value=0)
                  .rename_axis(columns=None).reset_index())
    else:
        cohort = pd.DataFrame(columns=["center_id"])
    elig = result.eligibility
    if len(elig):
        eligible = elig.groupby("cohort")["eligible"].agg(patients="size", eligible="sum").reset_index()
        failed = (elig.loc[~elig["eligible"].astype(bool), "failed_criteria"].fillna("").str.split(";")
                  .explode().loc[lambda s: s != ""].value_counts().rename_axis("criterion").rename("patients").reset_index())
        from latc.report._strobe import CRITERION_REASONS

        failed.insert(1, "reason for exclusion", failed["criterion"].map(CRITERION_REASONS).fillna(""))
    else:
        eligible = pd.DataFrame(columns=["cohort", "patients", "eligible"])
        failed = pd.DataFrame(columns=["criterion", "patients"])
    return {"rows": rows, "by_rule": by_rule, "by_center": by_center, "cohort": cohort,
            "eligible": eligible, "failed": failed}


#: what each rule means, in the words of a data manager (docs/validation.md "Rules")
RULE_WORDS: dict[str, str] = {
    "type": "not the kind of value the field holds (a number, a date YYYY-MM-DD)",
    "date_range": "a placeholder or impossible year (outside 1900–2199)",
    "value_set": "not one of the codes of the field",
    "range": "outside the allowed range",
    "soft_range": "unusual value: please confirm",
    "pattern": "wrong format (an id, a sample id, a file reference)",
    "required": "missing",
    "branching": "filled although the question does not apply",
    "allowed_by": "not allowed together with another answer (e.g. a unit for this test)",
    "identifier": "looks like a name, phone number or national id: remove it",
    "pseudonym": "the patient id is not a study pseudonym",
    "reference": "refers to a patient, lesion or operation that is not recorded",
    "center_match": "the center differs from the patient's center",
    "date_order": "a date before the date it must follow",
    "date_order_root": "probably the wrong date behind several date-order queries: check it first",
    "future_date": "a date in the future",
    "after_death": "dated after the patient's death",
    "duplicate": "the same record twice",
    "plausibility": "implausible change: please confirm",
    "recist_target": "a target lesion RECIST 1.1 does not allow (too small to measure, or too many)",
    "eligibility_contradiction": "an eligibility answer the data contradict",
    "parent_quarantined": "held because the patient's main record has an error",
    "unknown_column": "a column the form does not define (kept for review)",
    "missing_column": "a column of the form is missing",
    "unknown_form": "a file, sheet or REDCap instrument that is no form of the study",
    "ragged_row": "a row with more or fewer cells than the header",
    "unclosed_quote": "a quote opened and never closed",
    "cell_size": "a cell far too long to be data",
    "file_encoding": "the file is not saved as UTF-8 (decoded; check the text)",
    "csv_delimiter": "cells separated by ; or tabs",
    "blank_rows": "blank rows between the data",
    "xlsx_formula": "a formula without a computed value",
    "redcap_event": "a REDCap event name that is not valid",
    "redcap_instance": "a REDCap repeat instance that is not valid",
    "redcap_checkbox": "a REDCap checkbox holding something other than 0/1",
}
#: queries shown per center in the HTML (the CSV of the center has them all)
MAX_QUERIES_PER_CENTER = 200


def _problem(message: pd.Series) -> pd.Series:
    """The message without its location prefix and rule suffix (the table shows those as columns)."""
    text = message.astype("str").str.replace(r"\s*\(rule [a-z_]+\)\s*$", "", regex=True)
    return text.str.replace(r"^[^:]*?(row|line) \d+(, (field|column) [^:]+)?: ", "", regex=True)


def center_queries(q: pd.DataFrame) -> list[dict[str, Any]]:
    """Per center (sorted; queries without a center last): counts and the first queries as a table,
    roots of grouped problems first with their consequences after them (the order of queries.csv)."""
    if not len(q):
        return []
    q = q[q.get("status", pd.Series("open", index=q.index)).fillna("open") != "resolved"] if "status" in q else q
    centers = q["center_id"].fillna("(no center)")
    out = []
    for c in sorted(centers.unique(), key=lambda x: (x == "(no center)", x)):
        g = q[centers == c]
        # rows held for their patient: one line per patient here (queries.csv lists each row)
        held = g["rule"] == "parent_quarantined"
        if held.any():
            first = g[held].groupby("patient_id", sort=False, dropna=False).head(1).copy()
            n = g[held].groupby("patient_id", sort=False, dropna=False).size()
            forms = g[held].groupby("patient_id", sort=False, dropna=False)["form"].agg(lambda f: ", ".join(sorted(set(f))))
            first["message"] = first["patient_id"].map(
                lambda p: f"{n.get(p, 0)} row(s) in {forms.get(p, '')} held until the patient's record is corrected").to_numpy()
            first["row"] = pd.NA
            first["source"] = "(" + first["patient_id"].astype(str).map(lambda p: str(n.get(p, 0))) + " rows)"
            g = pd.concat([g[~held], first]).sort_index(kind="stable")
        shown = g.head(MAX_QUERIES_PER_CENTER)
        table = pd.DataFrame({
            "query": shown.get("query_id", pd.Series("", index=shown.index)).fillna(""),
            "patient": shown["patient_id"].fillna(""),
            "where": shown["source"].fillna("") + shown["row"].map(lambda r: "" if pd.isna(r) else f" row {int(r)}"),
            "field": shown["field"].fillna(""),
            "problem": _problem(shown["message"]),
            "severity": shown["severity"],
        })
        grouped = shown.get("root_query_id", pd.Series(pd.NA, index=shown.index)).notna().to_numpy()
        table.loc[grouped, "problem"] = "↳ " + table.loc[grouped, "problem"]
        every = q[centers == c]
        out.append({"center": c, "errors": int((every["severity"] == "error").sum()),
                    "warnings": int((every["severity"] == "warning").sum()), "more": max(0, len(g) - len(shown)),
                    "file": f"queries_by_center/{c}.csv" if c != "(no center)" else "queries_by_center/_no_center.csv",
                    "table": table.to_html(index=False, classes="t q", border=0, na_rep="")})
    return out


def write_validation_summary(result: Any, path: Path, *, study_name: str, parameters: dict[str, Any],
                             report_link: bool = False) -> Path:
    """Render the validation summary (``validation/summary.html``) and return its path.

    ``report_link``: the page sits in ``latc run``'s folder, beside ``report/`` (a link to the study
    report); ``latc validate`` alone writes no report and says how to make one."""
    tables = validation_overview(result)
    br = tables["by_rule"]
    if len(br):
        br.insert(1, "meaning", br["rule"].map(RULE_WORDS).fillna(""))
    html = _env().get_template("validation_summary.html.j2").render(
        centers=center_queries(result.queries),
        rows_after_cut=getattr(result, "rows_after_data_cut", {}) or {},
        data_cut=getattr(result, "data_cut", ""),
        n_quarantined=int(sum(len(t) for t in result.quarantine.values())),
        study_name=study_name,
        report_link=report_link,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=latc.__version__,
        parameters=parameters,
        n_queries=len(result.queries),
        n_errors=int((result.queries["severity"] == "error").sum()) if len(result.queries) else 0,
        tables={k: v.to_html(index=False, classes="t", border=0, na_rep="") for k, v in tables.items()},
        has={k: len(v) > 0 for k, v in tables.items()},
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
