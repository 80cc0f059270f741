"""Display formatting of result tables: estimates with CIs, p-values, readable headers.

The report shows each analysis table in the form papers use — ``52.9 % (38.5–67.1)``,
``0.72 (0.51–1.02)``, ``p < 0.001`` — while ``tables.xlsx`` keeps the raw numbers. Formatting is
vectorised over columns (no per-row Python loops), so it scales to any table the analysis writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from latc.plot._style import LABELS, pretty

__all__ = ["DROP_COLUMNS", "display_table", "fmt_ci", "fmt_number", "fmt_p", "pretty_header"]

#: Technical columns shown in tables.xlsx but not in the report's tables.
DROP_COLUMNS = {"method", "se", "log_hr", "std_err", "var", "oe2_e", "oe2_v", "covariates", "strata", "cluster",
                "weights", "interaction_test", "coef", "z", "ubar", "b", "t", "dfcom", "riv", "lambda", "variance",
                "se_type", "cause", "statistic", "bin_lower", "bin_upper", "std_error", "subgroup", "test"}

#: (estimate, lower, upper) column triples combined into one "est (lower–upper)" column.
_TRIPLES = [("rate", "lower", "upper"), ("proportion", "lower", "upper"), ("hr", "lower", "upper"),
            ("shr", "lower", "upper"), ("exp_coef", "lower", "upper"), ("estimate", "lower", "upper"),
            ("survival", "lower", "upper"), ("median", "lower", "upper"), ("cif", "lower", "upper"),
            ("observed", "observed_lower", "observed_upper")]

HEADERS = {"n": "n", "p": "p", "smd": "SMD", "hr": "HR (95% CI)", "shr": "SHR (95% CI)", "exp_coef": "HR (95% CI)",
           "rate": "% (95% CI)", "proportion": "% (95% CI)", "survival": "Survival (95% CI)",
           "median": "Median, months (95% CI)", "cif": "Cumulative incidence (95% CI)", "estimate": "Estimate (95% CI)",
           "p_interaction": "p (interaction)", "n_risk": "At risk", "evalue_point": "E-value (point)",
           "evalue_ci": "E-value (CI limit)", "neoadjuvant": "Neoadjuvant", "upfront_surgery": "Upfront surgery",
           "observed": "Observed (95% CI)", "ctcae_term": "CTCAE term", "ki_toxicity_group": "Kinase-inhibitor toxicity",
           "chisq": "χ²", "fmi": "FMI"}


#: Analysis codes shown in tables (anything else: ``latc.plot`` labels, then ``snake_case`` → words).
CODE_LABELS = {"naive": "Unadjusted", "adjusted": "Covariate-adjusted", "ps_matched": "PS-matched (1:1)",
               "iptw_ate": "IPTW (ATE)", "overlap_ato": "Overlap weights (ATO)", "unweighted": "Unweighted",
               "unadjusted": "Unadjusted", "baseline": "ATA risk", "extended": "ATA risk + response",
               "harrell_c": "Harrell's C", "uno_c": "Uno's C", "auc": "Time-dependent AUC", "brier": "Brier score"}
NBSP = "\u00a0"
#: Longest text shown in a table cell (the full text is in tables.xlsx).
MAX_CELL_CHARS = 180


def _label(v: object) -> str:
    if not isinstance(v, str):
        return str(v)
    if v in CODE_LABELS:
        return CODE_LABELS[v]
    if v in LABELS or ("_" in v and " " not in v):
        return pretty(v)
    return v if len(v) <= MAX_CELL_CHARS else v[: MAX_CELL_CHARS - 1].rstrip() + "…"


def pretty_header(column: str) -> str:
    return HEADERS.get(column, pretty(column))


def fmt_number(values: pd.Series, digits: int = 2) -> pd.Series:
    """Numbers with ``digits`` decimals (integers without); missing → ``""``."""
    x = pd.to_numeric(values, errors="coerce").astype(float)
    out = pd.Series("", index=values.index, dtype="object")
    ok = np.isfinite(x)
    is_int = ok & (np.abs(x - np.round(x)) < 1e-9) & (np.abs(x) < 1e15)
    out[is_int] = x[is_int].map(lambda v: f"{v:,.0f}")
    rest = ok & ~is_int
    out[rest] = x[rest].map(lambda v: f"{v:,.{digits}f}")
    out[np.isinf(x)] = x[np.isinf(x)].map(lambda v: "∞" if v > 0 else "−∞")
    return out


def fmt_p(values: pd.Series) -> pd.Series:
    """p-values as papers print them: ``< 0.001``, ``0.004``, ``0.27``."""
    x = pd.to_numeric(values, errors="coerce").astype(float)
    out = pd.Series("", index=values.index, dtype="object")
    out[x < 0.001] = "<" + NBSP + "0.001"
    mid = (x >= 0.001) & (x < 0.01)
    out[mid] = x[mid].map(lambda v: f"{v:.3f}")
    hi = x >= 0.01
    out[hi] = x[hi].map(lambda v: f"{v:.2f}")
    return out


def fmt_ci(est: pd.Series, lower: pd.Series, upper: pd.Series, *, percent: bool = False, digits: int = 2) -> pd.Series:
    """``est (lower–upper)``; ``percent`` multiplies by 100 and writes one decimal; missing est → ``""``;
    a missing limit → ``NR`` (not reached)."""
    scale, d = (100.0, 1) if percent else (1.0, digits)
    e, lo, up = (pd.to_numeric(s, errors="coerce").astype(float) * scale for s in (est, lower, upper))

    def one(v: pd.Series) -> pd.Series:
        return v.map(lambda z: "NR" if not np.isfinite(z) else f"{z:.{d}f}")

    out = one(e) + NBSP + "(" + one(lo) + "–" + one(up) + ")"  # no line break inside an estimate
    return out.where(np.isfinite(e), "")


def _is_proportion(s: pd.Series) -> bool:
    x = pd.to_numeric(s, errors="coerce").dropna()
    return len(x) > 0 and bool(((x >= 0) & (x <= 1)).all())


def display_table(df: pd.DataFrame, *, columns: Sequence[str] | None = None, percent: Sequence[str] = (),
                  rename: dict[str, str] | None = None, digits: int = 2, max_rows: int | None = None) -> pd.DataFrame:
    """A table of strings ready for HTML/PDF: CI triples combined, p-values and numbers formatted,
    technical columns dropped, codes and headers made readable.

    ``columns`` picks (and orders) the source columns to keep (default: all but :data:`DROP_COLUMNS`);
    ``percent`` names estimate columns on 0–1 shown as % (``rate``/``proportion`` are by default).
    """
    d = df.copy()
    if columns is not None:
        d = d[[c for c in columns if c in d.columns]]
    else:
        d = d[[c for c in d.columns if c not in DROP_COLUMNS]]
    out = pd.DataFrame(index=d.index)
    used: set[str] = set()
    triples = {e: (lo, up) for e, lo, up in _TRIPLES if e in d.columns and lo in df.columns and up in df.columns}
    for c in d.columns:
        if c in used:
            continue
        if c in triples:
            lo, up = triples[c]
            pct = c in percent or (c in ("rate", "proportion") and _is_proportion(d[c]))
            out[c] = fmt_ci(d[c], df[lo], df[up], percent=pct, digits=digits)
            used |= {c, lo, up}
            continue
        if any(c in lu for lu in triples.values()):
            continue
        s = d[c]
        if c == "p" or c.startswith("p_") or c.endswith("_p"):
            out[c] = fmt_p(s)
        elif pd.api.types.is_bool_dtype(s):
            out[c] = s.map({True: "yes", False: "no"}).fillna("")
        elif pd.api.types.is_numeric_dtype(s):
            out[c] = fmt_number(s * 100 if c in percent else s, 1 if c in percent else digits)
        else:
            vals = s.astype("object")
            present = set(vals.dropna().map(str))
            if present and present <= {"True", "False"}:
                out[c] = vals.map(lambda v: "" if pd.isna(v) else ("yes" if str(v) == "True" else "no"))
            else:
                out[c] = vals.where(vals.notna(), "").map(_label)
    out.columns = [(rename or {}).get(c, pretty_header(c)) for c in out.columns]
    out = out.reset_index(drop=True)
    if max_rows is not None and len(out) > max_rows:
        out = out.head(max_rows)
    return out
