"""Input checks shared by the survival functions, and the error they raise.

A data problem (a missing column, a missing value, no events, a single group, a constant covariate)
must end in a clear message that names the column, never in a NaN or a traceback from deep inside
numpy. Every check here raises :class:`StatsInputError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from latc.errors import LatcError

__all__ = ["StatsInputError", "SurvivalData", "complete_cases", "survival_data"]


class StatsInputError(LatcError, ValueError):
    """Degenerate or invalid input to a statistical function (message names the column)."""


class SurvivalData:
    """Validated, complete-case arrays for one survival analysis (internal)."""

    def __init__(self, frame: pd.DataFrame, time: np.ndarray, event: np.ndarray,
                 weights: np.ndarray, n_dropped: int) -> None:
        self.frame = frame          # the used rows of the input, original index kept
        self.time = time            # float64
        self.event = event          # bool
        self.weights = weights      # float64, ones when unweighted
        self.n_dropped = n_dropped  # rows dropped for missing values (missing="drop")


def _require_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise StatsInputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise StatsInputError(f"column(s) {absent} not found in the data (columns: {list(df.columns)})")


def _as_event(values: pd.Series, column: str, codes: tuple = (0, 1)) -> np.ndarray:
    """Event indicator: 1/True = event, 0/False = censored (anything else is refused).

    ``codes`` = (censored, event): ``(1, 2)`` reads R's ``status`` coding (survival's lung data,
    ``Surv(time, status)`` with 1 = censored, 2 = dead)."""
    codes = _check_codes(codes)
    if values.dtype == bool and codes == (0.0, 1.0):
        return values.to_numpy(dtype=bool)
    try:
        num = pd.to_numeric(values).to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise StatsInputError(
            f"event column '{column}' must be 0/1 or True/False; found non-numeric values") from None
    bad = ~np.isin(num, codes)
    if bad.any():
        first = values.index[np.flatnonzero(bad)[0]]
        if codes == (0.0, 1.0):
            raise StatsInputError(
                f"event column '{column}' must be 0/1 or True/False; row {first!r} has {_plain(values.loc[first])!r} "
                "(for R's 1/2 status coding pass event_codes=(1, 2), or recode as 0 = censored, 1 = event)")
        raise StatsInputError(f"event column '{column}' must hold {_plain_code(codes[0])} (censored) or "
                              f"{_plain_code(codes[1])} (event) as event_codes says; row {first!r} has "
                              f"{_plain(values.loc[first])!r}")
    return num == codes[1]


def _plain_code(c: float):
    return int(c) if float(c).is_integer() else c


def _check_codes(codes) -> tuple[float, float]:
    try:
        c = tuple(float(x) for x in codes)
    except (TypeError, ValueError):
        raise StatsInputError(f"event_codes must be two numbers (censored, event), e.g. (1, 2); not {codes!r}") from None
    if len(c) != 2 or c[0] == c[1]:
        raise StatsInputError(f"event_codes must be two different numbers (censored, event), e.g. (1, 2); not {codes!r}")
    return c


def survival_data(df: pd.DataFrame, time: str, event: str, *, columns: Sequence[str] = (),
                  weights: str | None = None, missing: str = "error",
                  context: str = "survival analysis", event_codes: tuple = (0, 1)) -> SurvivalData:
    """Check the columns of a survival analysis and return complete-case arrays.

    ``missing="error"`` (default) refuses missing values, naming the column and the count;
    ``missing="drop"`` keeps complete cases like R's ``na.action = na.omit`` and warns with the
    number of rows dropped per column.
    """
    used = [time, event, *columns] + ([weights] if weights else [])
    used = list(dict.fromkeys(c for c in used if c is not None))
    _require_columns(df, used)
    df, n_dropped = complete_cases(df, used, missing, context)
    if len(df) == 0:
        raise StatsInputError(f"{context}: no rows to analyse")
    t = time_values(df, time)
    e = _as_event(df[event], event, event_codes)
    if weights:
        try:
            w = pd.to_numeric(df[weights]).to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise StatsInputError(f"weights column '{weights}' must be numeric") from None
        if not np.all(np.isfinite(w)) or (w < 0).any():
            raise StatsInputError(f"weights column '{weights}' must be finite and non-negative")
        if not (w > 0).any():
            raise StatsInputError(f"weights column '{weights}' is zero for every row")
    else:
        w = np.ones(len(df))
    return SurvivalData(df, t, e, w, n_dropped)


def complete_cases(df: pd.DataFrame, used: Sequence[str], missing: str, context: str) -> tuple[pd.DataFrame, int]:
    """The rows of ``df`` without a missing value in ``used`` and how many were dropped.

    ``missing="error"`` refuses missing values, naming each column and its count; ``"drop"`` keeps
    complete cases like R's ``na.action = na.omit`` and warns (at the caller's caller) with the
    number of rows dropped.
    """
    if missing not in ("error", "drop"):
        raise StatsInputError(f"missing must be 'error' or 'drop', not {missing!r}")
    na = df[list(used)].isna()
    counts = na.sum()
    counts = counts[counts > 0]
    if not len(counts):
        return df, 0
    detail = ", ".join(f"'{c}' ({n} rows)" for c, n in counts.items())
    if missing == "error":
        raise StatsInputError(f"{context}: missing values in {detail}; drop or impute them, or pass missing='drop' "
                              "for a complete-case analysis as R's na.omit")
    keep = ~na.any(axis=1).to_numpy()
    n_dropped = int((~keep).sum())
    warnings.warn(f"{context}: {n_dropped} row(s) with missing values dropped (complete cases): {detail}",
                  UserWarning, stacklevel=4)
    return df.loc[keep], n_dropped


def time_values(df: pd.DataFrame, time: str, prefix: str = "") -> np.ndarray:
    """The follow-up times as floats: numeric, finite and not negative, else :class:`StatsInputError`
    (messages start with ``prefix``, e.g. ``"fine_gray: "``)."""
    try:
        t = pd.to_numeric(df[time]).to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise StatsInputError(f"{prefix}time column '{time}' must be numeric") from None
    if not np.all(np.isfinite(t)):
        raise StatsInputError(f"{prefix}time column '{time}' has infinite values")
    if (t < 0).any():
        first = df.index[np.flatnonzero(t < 0)[0]]
        raise StatsInputError(f"{prefix}time column '{time}' has a negative time in row {first!r}")
    return t


def _plain(v):
    """A numpy scalar as the Python value it holds (messages show 2, not np.int64(2))."""
    return v.item() if isinstance(v, np.generic) else v
