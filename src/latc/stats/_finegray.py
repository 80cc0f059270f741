"""Fine–Gray weighted expansion of competing-risks data, as R's ``survival::finegray``.

The Fine–Gray model (Fine & Gray, JASA 1999;94:496) is a Cox model for the subdistribution hazard
of one cause: a patient who fails from a *competing* cause stays in the risk set after that event,
with a weight G(t−)/G(T−) that decays with the Kaplan–Meier G of the censoring distribution.
``finegray`` (Therneau, survival's "compete" vignette; Geskus, Biometrics 2011;67:39) writes that
risk set out as an ordinary counting-process data set — rows (fgstart, fgstop] with a status
``fgstatus`` and a case weight ``fgwt`` — so that any weighted (start, stop] Cox program fits the
Fine–Gray model: here :func:`latc.stats.cox` with ``start="fgstart", weights="fgwt"`` (R:
``coxph(Surv(fgstart, fgstop, fgstatus) ~ x, weights = fgwt, data = fg)``), with strata and a
robust variance clustered on the patient.

Ported rules (R survival 3.5-3, ``finegray`` in R/finegray.R and the C routine ``finegray``):

* G is the Kaplan–Meier of the censoring times within each censoring stratum (``strata``), with
  **events before censorings at a tied time**: a patient censored at t is at risk at t, one who has
  an event at t is not (R shifts event times by −0.2 on the rank scale). ``cmprsk::crr`` keeps the
  patients with an event at t in G's risk set at t; with ties between event and censoring times the
  two weights, and so the estimates, differ slightly (docs/stats/competing.md gives the numbers);
* every patient keeps the row (zero, T]; zero = 0, or 2·min(T) − 1 when a time is ≤ 0 (R's value);
* a patient with a competing event is extended: the first row runs to the next censoring time
  ≥ T (weight 1), then one row per later censoring interval (c_{j−1}, c_j] that contains an event of
  the cause, weight G(c_{j−1})/G(T−) (intervals without an event of the cause are left out: they
  change nothing in the fit);
* user case weights multiply the censoring weights; strata with no event of the cause contribute
  no rows (R drops them as well).

Not ported: (start, stop] input with time-varying covariates and delayed entry (R's ``id`` /
Geskus' H(t) left-truncation weights), and R's ``timefix`` rounding of near-equal times.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from latc._compat import keyword_hint

from ._competing import _cause_status, _competing_data
from ._errors import StatsInputError

__all__ = ["finegray_data"]


@keyword_hint
def finegray_data(df: pd.DataFrame, time: str, event_type: str, *, cause: object = 1,
                  censor_code: object = 0, strata: str | Sequence[str] | None = None,
                  weights: str | None = None, id: str | None = None, prefix: str = "fg",
                  count: str | None = None, missing: str = "error") -> pd.DataFrame:
    """The Fine–Gray counting-process data set for ``cause``, row for row as R's
    ``finegray(Surv(time, factor(event_type)) ~ . + strata(strata), data = df, etype = cause,
    weights = weights)`` (survival 3.5; Fine & Gray 1999).

    Fit the Fine–Gray model on it with :func:`latc.stats.cox`::

        fg = finegray_data(df, "time", "event_type", cause=1, id="patient_id")
        fit = cox(fg, "fgstop", "fgstatus", ["arm", "age"], start="fgstart", weights="fgwt",
                  cluster="patient_id", ties="breslow")

    (R: ``coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age, weights = fgwt, cluster = patient_id,
    data = fg)``; ``ties="breslow"`` solves the estimating equation of ``cmprsk::crr``, R's default
    is Efron.)

    Parameters
    ----------
    df : one row per patient (right-censored data).
    time : follow-up time to the first event of any cause, or to censoring.
    event_type : ``censor_code`` = censored, other values = causes (numbers or labels).
    cause : the event type of interest (R ``etype``); every other non-censored type competes.
    censor_code : the event type of censored rows.
    strata : column(s) within which the censoring distribution G is estimated separately (R: a
        ``strata()`` term in the ``finegray`` formula). Rows come out stratum by stratum (sorted
        levels), as R.
    weights : case-weight column (positive); multiplies the censoring weights (R ``weights``).
    id : patient identifier column; checked to hold one row per patient. It is the column to give
        ``cox(..., cluster=)`` for a robust SE per patient.
    prefix : names of the added columns (``fgstart``, ``fgstop``, ``fgstatus``, ``fgwt``).
    count : optional name of a column numbering each patient's added rows (0 = the original row,
        R ``count``).
    missing : ``"error"`` (default) or ``"drop"``: rows with a missing time, event type, stratum,
        weight or id (complete cases, with a warning). Other columns are copied as they are (R's
        ``na.pass``).

    Returns
    -------
    DataFrame: every column of ``df`` (R drops the response and the strata columns; they are kept
    here, e.g. for ``cox(..., strata=)``) plus ``fgstart``, ``fgstop``, ``fgstatus`` (1 = event of
    ``cause``), ``fgwt``, one or more rows per patient — each patient's rows follow one another, in
    the order of ``df`` within a stratum — and a new RangeIndex. ``attrs["event"]`` = the cause.

    Raises
    ------
    StatsInputError for a missing column, no event of ``cause``, an id on several rows, a weight that
    is not positive, an added column name already in ``df``.
    """
    strata_cols = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    extra = strata_cols + [c for c in (weights, id) if c is not None]
    data = _competing_data(df, time, event_type, extra, censor_code, missing, "finegray_data")
    status, matched = _cause_status(data, cause, event_type, "finegray_data")
    frame, t = data.frame, data.time
    names = [f"{prefix}{s}" for s in ("start", "stop", "status", "wt")] + ([count] if count else [])
    clash = [c for c in names if c in frame.columns]
    if clash:
        raise StatsInputError(f"finegray_data: column(s) {clash} already in the data; choose another prefix= "
                              "(or count=)")
    if id is not None:
        dup = frame[id].duplicated()
        if dup.any():
            raise StatsInputError(
                f"finegray_data: id column '{id}' has {frame[id][dup.to_numpy()].iloc[0]!r} on more than one row; "
                "the expansion takes one row per patient (right-censored data; (start, stop] input is not supported)")
    if weights is not None:
        try:
            uw = pd.to_numeric(frame[weights]).to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise StatsInputError(f"finegray_data: weights column '{weights}' must be numeric") from None
        if not np.all(np.isfinite(uw)) or (uw <= 0).any():
            raise StatsInputError(f"finegray_data: weights column '{weights}' must be finite and positive "
                                  "(R's coxph refuses weights <= 0)")
    else:
        uw = np.ones(len(t))
    if strata_cols:
        scode = frame.groupby(strata_cols, sort=True, observed=True).ngroup().to_numpy()
        slabels = frame.groupby(strata_cols, sort=True, observed=True).size().index.tolist()
    else:
        scode, slabels = np.zeros(len(t), dtype=np.int64), ["all"]

    tmin = float(t.min())
    zero = 0.0 if tmin > 0 else 2.0 * tmin - 1.0
    rows: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    stops: list[np.ndarray] = []
    wts: list[np.ndarray] = []
    adds: list[np.ndarray] = []
    empty = []
    for s in range(len(slabels)):
        idx = np.flatnonzero(scode == s)
        part = _expand_stratum(t[idx], status[idx])
        if part is None:
            empty.append(slabels[s])
            continue
        r, st, en, w, add = part
        rows.append(idx[r])
        starts.append(np.where(add == 0, zero, st))
        stops.append(en)
        wts.append(w)
        adds.append(add)
    if empty and strata_cols:
        warnings.warn(f"finegray_data: no event of cause {cause!r} in stratum/strata {empty} of {strata_cols}; "
                      "their rows are left out (as R's finegray)", UserWarning, stacklevel=3)
    row = np.concatenate(rows)
    out = frame.iloc[row].reset_index(drop=True)
    out[names[0]] = np.concatenate(starts)
    out[names[1]] = np.concatenate(stops)
    out[names[2]] = (status[row] == 1).astype(np.int64) * (np.concatenate(adds) == 0)
    out[names[3]] = np.concatenate(wts) * uw[row]
    if count:
        out[count] = np.concatenate(adds)
    out.attrs["event"] = matched
    out.attrs["method"] = (f"Fine-Gray expansion for cause {matched!r} (R survival::finegray)"
                           + (f", censoring distribution by {strata_cols}" if strata_cols else ""))
    return out


def _expand_stratum(t: np.ndarray, status: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """One censoring stratum: (row, start, stop, weight, add) of the expanded rows, rows in input
    order with each patient's added rows after it; None without an event of the cause.

    ``status``: 0 censored, 1 the cause, 2 a competing cause. ``start`` of an original row (add = 0)
    is filled in by the caller (R's ``zero``)."""
    if not (status == 1).any():
        return None
    # G: Kaplan–Meier of censoring; at a censoring time c the risk set holds the patients with
    # T > c and those censored at c (an event at c comes first: R's −0.2 shift of event times)
    cens = status == 0
    ctime, ncens = np.unique(t[cens], return_counts=True)
    ts = np.sort(t)
    n_after = len(ts) - np.searchsorted(ts, ctime, side="right")
    gprob = np.cumprod(1.0 - ncens / (n_after + ncens))
    ct2 = np.r_[ctime, t.max()]            # interval j is (ct2[j−1], ct2[j]], G(t−) = cp2[j] on it
    cp2 = np.r_[1.0, gprob]
    ncut = len(ct2)
    # intervals holding an event time of the cause (interval 0 — before the first censoring — always)
    etimes = np.unique(t[status == 1])
    keep = np.zeros(ncut, dtype=bool)
    keep[0] = True
    keep[np.searchsorted(ct2, etimes, side="left")] = True
    kept = np.flatnonzero(keep[1:]) + 1     # the intervals an extended row may add (j ≥ 1)

    n = len(t)
    other = status == 2
    j0 = np.searchsorted(ct2, t, side="left")        # the interval of T (first ct2 ≥ T)
    n_add = np.where(other, len(kept) - np.searchsorted(kept, j0, side="right"), 0)
    size = 1 + n_add
    row = np.repeat(np.arange(n), size)
    first = np.cumsum(size) - size                    # position of each patient's original row
    add = np.arange(len(row)) - np.repeat(first, size)
    stop = np.repeat(np.where(other, ct2[j0], t), size)
    start = np.zeros(len(row))
    wt = np.ones(len(row))
    ext = add > 0
    if ext.any():
        r = row[ext]
        jj = kept[np.searchsorted(kept, j0[r], side="right") + add[ext] - 1]
        start[ext] = ct2[jj - 1]
        stop[ext] = ct2[jj]
        wt[ext] = cp2[jj] / cp2[j0[r]]
    return row, start, stop, wt, add
