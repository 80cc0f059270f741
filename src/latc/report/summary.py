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
    else:
        eligible = pd.DataFrame(columns=["cohort", "patients", "eligible"])
        failed = pd.DataFrame(columns=["criterion", "patients"])
    return {"rows": rows, "by_rule": by_rule, "by_center": by_center, "cohort": cohort,
            "eligible": eligible, "failed": failed, "first_queries": q.head(50)}


def write_validation_summary(result: Any, path: Path, *, study_name: str, parameters: dict[str, Any]) -> Path:
    """Render ``report.html`` for a validation result and return its path."""
    tables = validation_overview(result)
    html = _env().get_template("validation_summary.html.j2").render(
        study_name=study_name,
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
