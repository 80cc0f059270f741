"""Options of the analysis plan and the shared, lazily computed pieces (frames, propensity score).

Each SAP section receives a :class:`Context`: the inputs, the options, and a cache so that the
comparative frame and the propensity score are computed once and shared by the comparative,
competing-risk, sensitivity and subgroup sections.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from latc.stats import StatsInputError

from ._data import AnalysisData
from ._results import ResultTable, SectionResult, SectionSkipped

__all__ = ["AnalysisOptions", "Context", "attempt", "usable_covariates", "cox_row", "row_populations"]


@dataclass(frozen=True)
class AnalysisOptions:
    """Parameters of the analysis plan (docs/analysis_plan.md); every one is written to results.json."""

    conf_level: float = 0.95
    conf_type: str = "log"                      # KM CI transform (R's default)
    ties: str = "efron"                         # Cox ties (R's default)
    landmarks_months: tuple[float, ...] = (12.0, 24.0, 36.0, 60.0)   # KM / CIF landmarks (60 = 5 years)
    caliper: float = 0.2                        # SD of the logit PS
    match_ratio: int = 1
    match_exact_center: bool = True
    stabilize: bool = True                      # stabilized IPTW (ATE)
    truncate_quantiles: tuple[float, ...] = (0.99, 0.95)   # IPTW weight truncation (sensitivity)
    trim_bounds: tuple[float, float] = (0.1, 0.9)          # Crump PS trimming (sensitivity)
    trim_quantile: float = 0.05                             # Stürmer asymmetric PS trimming (sensitivity)
    imputations: int = 20                       # m of the multiple imputation (a minimum under the "auto" rule)
    imputation_iterations: int = 5              # mice's default maxit
    imputation_rule: str = "auto"               # "auto": von Hippel's two-stage rule; "fixed": exactly m
    imputation_cv: float = 0.05                 # von Hippel: accepted CV of the SE across re-imputations
    imputation_alpha: float = 0.05              # von Hippel: 1 - confidence of the FMI's upper limit
    imputation_large_n: int = 50_000            # "large": from this many patients the rule's m is used
    imputation_pilot: int = 5                   # pilot m on large data
    seed: int = 20240611
    landmark_months: float = 6.0                # comparative landmark analysis
    response_landmark_months: float = 9.0       # landmark for survival by response (neoadjuvant cohort)
    min_center_size: int = 20                   # smaller centers are pooled for the center terms
    min_events: int = 5                         # fewer events: the model is not fitted (reason recorded)
    fine_gray_max_centers: int = 12             # center fixed effects in Fine-Gray only up to this many levels
    prognostic_horizons_months: tuple[float, ...] = (24.0, 36.0)
    prognostic_bootstrap: int = 100
    prognostic_bootstrap_max_patients: int = 2000   # larger: IJ SEs only (bootstrap ~linear in n)
    n_jobs: int | None = None                   # worker processes (None = every CPU); never changes a result

    def as_dict(self) -> dict[str, Any]:
        """The options that define the results (``n_jobs`` only changes the speed: left out, so
        results.json is the same for any number of workers)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k not in SPEED_ONLY}


#: options that change how fast the plan runs, never its results (not in results.json)
SPEED_ONLY = frozenset({"n_jobs"})


@dataclass
class Context:
    """Inputs + options + cache shared by the sections."""

    data: AnalysisData
    options: AnalysisOptions = field(default_factory=AnalysisOptions)
    cache: dict[str, Any] = field(default_factory=dict)

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        """``fn()`` once; a :class:`SectionSkipped` / stats error is cached and re-raised too."""
        if key not in self.cache:
            try:
                self.cache[key] = ("ok", fn())
            except (SectionSkipped, StatsInputError) as exc:
                self.cache[key] = ("error", exc)
        status, value = self.cache[key]
        if status == "error":
            raise value
        return value


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, (SectionSkipped, StatsInputError)):
        return text
    return f"could not be computed ({type(exc).__name__}: {text[:300]})"


def attempt(section: SectionResult, name: str, build: Callable[[], ResultTable | Sequence[ResultTable] | None]) -> None:
    """Build one table (or several) into ``section``; on failure record the reason under ``name``."""
    try:
        out = build()
    except Exception as exc:  # noqa: BLE001 - a table that cannot be computed records why, never stops the plan
        section.skipped_tables[name] = _reason(exc)
        return
    for t in ([out] if isinstance(out, ResultTable) else (out or [])):
        section.add(t)


def run_section(name: str, title: str, fn: Callable[[SectionResult], None]) -> SectionResult:
    """Run one section; a section that cannot be computed at all records its reason."""
    sec = SectionResult(name=name, title=title)
    t0 = time.perf_counter()
    try:
        fn(sec)
    except Exception as exc:  # noqa: BLE001
        sec.reason = _reason(exc)
    if not sec.tables and sec.reason is None and sec.skipped_tables:
        sec.reason = "no table could be computed: " + "; ".join(f"{k}: {v}" for k, v in sec.skipped_tables.items())
    sec.seconds = time.perf_counter() - t0
    return sec


def usable_covariates(df: pd.DataFrame, covariates: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Covariates that vary in ``df`` (unused categories dropped); the others with the reason.

    A confounder that is constant in the analysed patients (e.g. no MTC patient) cannot enter a
    model (R gives an NA coefficient); it is left out and listed in the table's parameters.
    """
    kept, dropped = [], {}
    seen: dict[bytes, str] = {}
    for c in covariates:
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            df[c] = s.cat.remove_unused_categories()
        n = df[c].nunique(dropna=True)
        if n < 2:
            dropped[c] = "constant in the analysed patients"
            continue
        if not isinstance(df[c].dtype, pd.CategoricalDtype):
            key = pd.util.hash_pandas_object(df[c], index=False).to_numpy().tobytes()
            if key in seen:
                dropped[c] = f"identical to {seen[key]} in the analysed patients"
                continue
            seen[key] = c
        kept.append(c)
    return kept, dropped


def check_events(df: pd.DataFrame, event: str, min_events: int, what: str, group: str | None = None) -> None:
    """:class:`SectionSkipped` when there are fewer than ``min_events`` events (overall or in a group)."""
    ev = pd.to_numeric(df[event], errors="coerce").fillna(0)
    if ev.sum() < min_events:
        raise SectionSkipped(f"{what}: {int(ev.sum())} event(s) among {len(df)} patients "
                             f"(at least {min_events} needed)")
    if group is not None:
        for g, n in ev.groupby(df[group].to_numpy()).sum().items():
            if n == 0:
                raise SectionSkipped(f"{what}: no event in {group} = {g}")


def cox_row(fit: Any, term: str) -> dict[str, Any]:
    """One coefficient of a CoxResult as a flat row (HR, CI, p, SE type, n, events)."""
    s = fit.summary.loc[term]
    robust = "robust_se" in fit.summary.columns and pd.notna(s.get("robust_se", np.nan))
    return {"hr": float(s["exp_coef"]), "lower": float(s["lower"]), "upper": float(s["upper"]), "p": float(s["p"]),
            "log_hr": float(s["coef"]), "se": float(s["robust_se"] if robust else s["se"]),
            "se_type": "robust (sandwich)" if robust else "model-based", "n": int(fit.n), "events": int(fit.events)}


def concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat`` of result frames, dropping ``attrs`` (stats tables keep DataFrames there)."""
    parts = []
    for f in frames:
        f = f.copy()
        f.attrs = {}
        parts.append(f)
    return pd.concat(parts, ignore_index=True)


def front(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """``cols`` first, then the others."""
    return df[list(cols) + [c for c in df.columns if c not in cols]]


def annotate_medians(m: pd.DataFrame) -> pd.DataFrame:
    """A ``note`` saying why a KM median or its CI limit is missing (not reached: R prints NA)."""
    m = m.copy()
    note = np.where(m["median"].isna(), "median not reached (survival stays above 0.5)",
                    np.where(m["upper"].isna(), "upper CI limit not reached", ""))
    m["note"] = note
    return m


def note_missing(df: pd.DataFrame, column: str, message: str) -> pd.DataFrame:
    """Add ``message`` to the ``note`` of rows whose ``column`` is missing (never a silent NaN)."""
    df = df.copy()
    note = df["note"].astype("str").fillna("") if "note" in df else pd.Series("", index=df.index, dtype="str")
    miss = df[column].isna().to_numpy()
    note = note.where(~miss | note.ne(""), message)
    df["note"] = note.to_numpy()
    return df


def row_populations(blocks: Sequence[tuple[str, int, str]], n: int | None) -> list[dict[str, Any]]:
    """The row blocks of a table whose patients differ from the table's population ``n``, each with
    the reason (``{"rows", "n", "reason"}``, in order, duplicates dropped) — the caption states them
    so that a table's n and its rows never silently disagree."""
    out, seen = [], set()
    for rows, k, reason in blocks:
        if n is not None and int(k) == int(n):
            continue
        key = (rows, int(k))
        if key in seen:
            continue
        seen.add(key)
        out.append({"rows": rows, "n": int(k), "reason": reason})
    return out


def landmarks_text(months: Sequence[float]) -> str:
    """``12, 24, 36 and 60 months`` for titles."""
    m = [f"{x:g}" for x in months]
    return (", ".join(m[:-1]) + " and " + m[-1] if len(m) > 1 else "".join(m)) + " months"
