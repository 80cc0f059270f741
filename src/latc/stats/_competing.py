"""Competing risks that agree with R's ``cmprsk`` 2.2 (``cuminc``, ``crr``, ``timepoints``).

Each patient has one follow-up time and an event type: censored (``censor_code``, 0 by default) or
one of several causes (e.g. 1 = recurrence, 2 = death without recurrence). Ported rules (Gray's
Fortran routines ``cinc``, ``crstm``, ``crrfsv``, ``crrvv``; re-derived here as vectorised
cumulative sums, no loop over patients):

* :func:`cumulative_incidence` — Aalen–Johansen cumulative incidence F_k(t) = Σ_{s≤t} S(s−) d_k(s)/n(s)
  for each cause and group, **exact with tied times** (all events at a time share one step; no
  jitter — lifelines' ``AalenJohansenFitter`` jitters ties, DESIGN.md "Known pitfalls"). Its
  variance is ``cuminc``'s delta-method estimate (Gray 1988; the t5 = 1 − (d − 1)/(n − 1) tie
  correction included). As in ``cuminc``, the variance is updated at the times of the cause itself;
  censoring at an event time leaves the patient at risk at that time.
* pointwise confidence intervals: ``cmprsk`` gives none. ``conf_type="log-log"`` (default) is the
  transform used with cmprsk output in practice (e.g. tidycmprsk): ``F^exp(±z·se/(F·log F))``, the
  log(−log F) interval back-transformed, inside (0, 1); ``"plain"`` is F ± z·se clipped to [0, 1].
  Where the variance is 0 (before the first event) both limits equal F; where F reaches 1 with a
  positive variance the log-log interval is its limit (0, 1).
* ``CIFResult.at(times)`` — ``timepoints()``: the estimate at the last event time ≤ t (0 before the
  first), NaN after the group's last follow-up time.
* :func:`gray_test` — Gray's K-sample test (Ann Stat 1988) as ``cuminc(...)$Tests``: score and
  variance summed over strata, statistic sᵀV⁻¹s on (groups − 1) df, weight (1 − F(t−))^rho.
* :func:`fine_gray` — Fine–Gray proportional subdistribution hazards model as ``crr``: censoring
  weights w_j(t) = G(t−)/G(T_j−) for patients who failed from another cause before t (G: Kaplan–Meier
  of the censoring distribution), Breslow-type partial likelihood, Newton–Raphson from 0 with crr's
  stopping rule (|score|·max(|β|, 1) < gtol·max(|loglik|, 1), at most 10 iterations, backtracking),
  and crr's robust sandwich variance, whose score terms include the estimation of G (Fine & Gray
  1999, eq. for ψ). ``survival::finegray`` + weighted ``coxph`` (:func:`latc.stats.finegray_data`
  + :func:`latc.stats.cox`) gives the same estimate when no censoring ties with an event time (it
  puts events before censorings at a tied time, crr does not) and a variance without the G term.

Not ported: ``crr``'s time-varying covariates (``cov2``/``tf``) and censoring groups
(``cengroup``); weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from latc._compat import positional_deprecated

from ._cox import design_matrix
from ._errors import StatsInputError, _require_columns, complete_cases, time_values

__all__ = ["CIFResult", "FineGrayResult", "cumulative_incidence", "fine_gray", "gray_test"]

_CONF_TYPES = ("log-log", "plain")


# ----------------------------------------------------------------------------------------------
# input
# ----------------------------------------------------------------------------------------------
@dataclass
class _CompetingData:
    frame: pd.DataFrame      # analysed rows (original index)
    time: np.ndarray         # float64
    code: np.ndarray         # 0 = censored, 1..K = causes[code - 1]
    causes: list             # cause labels in R's order (sorted / category order)
    n_dropped: int


def _competing_data(df: pd.DataFrame, time: str, event_type: str, columns: Sequence[str | None],
                    censor_code, missing: str, context: str) -> _CompetingData:
    """Check a competing-risks data set; event types → integer codes (0 = censored)."""
    used = list(dict.fromkeys([time, event_type, *[c for c in columns if c is not None]]))
    _require_columns(df, used)
    df, n_dropped = complete_cases(df, used, missing, context)
    if len(df) == 0:
        raise StatsInputError(f"{context}: no rows to analyse")
    t = time_values(df, time, f"{context}: ")
    ev = df[event_type]
    cat = ev if isinstance(ev.dtype, pd.CategoricalDtype) else pd.Categorical(ev)
    cat = pd.Categorical(cat).remove_unused_categories()
    levels = list(cat.categories)
    numeric_codes = pd.api.types.is_numeric_dtype(ev) or pd.api.types.is_bool_dtype(ev)
    if not numeric_codes and censor_code not in levels and not _matches_any(censor_code, levels):
        raise StatsInputError(
            f"{context}: event type column '{event_type}' holds labels {levels}; none equals "
            f"censor_code={censor_code!r}. Give censor_code= the label of censored rows")
    causes = [lev for lev in levels if not _same(lev, censor_code)]
    if numeric_codes and len(causes) == len(levels):
        # no row is censored: R's survival status (1 = censored, 2 = event) would be read as two
        # causes here, which cmprsk does silently
        warnings.warn(f"{context}: no row of '{event_type}' equals censor_code={censor_code!r}, so every row is an "
                      f"event of one of the causes {[_plain(c) for c in causes]}; if this is a survival status "
                      "(R's 1 = censored, 2 = event), recode it or give censor_code=1", UserWarning, stacklevel=4)
    if not causes:
        raise StatsInputError(f"{context}: every row of '{event_type}' is censored "
                              f"({censor_code!r}); no event of any cause to analyse")
    lut = np.array([0 if _same(lev, censor_code) else 1 + causes.index(lev) for lev in levels],
                   dtype=np.int64)
    code = lut[np.asarray(cat.codes)]
    return _CompetingData(df, t, code, [_plain(c) for c in causes], n_dropped)


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _matches_any(value, levels) -> bool:
    return any(_same(lev, value) for lev in levels)


def _cause_status(data, cause, event_type: str, caller: str, why: str = "") -> tuple[np.ndarray, object]:
    """Fine–Gray status of every row (0 censored, 1 ``cause``, 2 a competing cause) and the cause
    label as the data spell it (:class:`StatsInputError` naming ``caller`` when ``cause`` has no event)."""
    if not _matches_any(cause, data.causes):
        raise StatsInputError(f"{caller}: no events of cause {cause!r} in '{event_type}' "
                              f"(causes with events: {data.causes}){why}")
    k = 1 + [_same(c, cause) for c in data.causes].index(True)
    return np.where(data.code == 0, 0, np.where(data.code == k, 1, 2)), data.causes[k - 1]


def _plain(v):
    """numpy scalar → Python scalar (integral floats → int) for readable cause labels."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _codes(series: pd.Series) -> tuple[np.ndarray, list]:
    """Group codes in R's ``as.factor`` order (sorted values, or a Categorical's order)."""
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else pd.Categorical(series)
    cat = pd.Categorical(cat).remove_unused_categories()
    return np.asarray(cat.codes, dtype=np.int64), [_plain(c) for c in cat.categories]


def _strata_codes(frame: pd.DataFrame, strata: str | Sequence[str] | None) -> np.ndarray:
    if strata is None or len(strata) == 0:
        return np.zeros(len(frame), dtype=np.int64)
    cols = [strata] if isinstance(strata, str) else list(strata)
    return frame.groupby(cols, sort=True, observed=True).ngroup().to_numpy(dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# cumulative incidence (cmprsk cinc)
# ----------------------------------------------------------------------------------------------
def _cif_one_group(t: np.ndarray, code: np.ndarray, n_causes: int):
    """CIF and cuminc variance of every cause for one group, at its distinct event times.

    Returns (event times, n at risk, events by cause (T×K), cif (T×K), var (T×K)); the cif/var of
    cause k are meaningful at rows where it has events (they are carried forward elsewhere).
    """
    ut, inv = np.unique(t, return_inverse=True)
    m = len(ut)
    flat = np.bincount(inv * (n_causes + 1) + code, minlength=m * (n_causes + 1))
    counts = flat.reshape(m, n_causes + 1).astype(float)
    rs = np.cumsum(counts.sum(axis=1)[::-1])[::-1]             # at risk: time ≥ t
    d = counts[:, 1:]                                          # events by cause
    nd = d.sum(axis=1)
    keep = nd > 0
    ut, rs, d, nd = ut[keep], rs[keep], d[keep], nd[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv_after = np.cumprod((rs - nd) / rs)                # overall KM S(t)
        fk = np.r_[1.0, surv_after[:-1]]                       # S(t−)
        fkn = surv_after
        cif = np.cumsum((fk / rs)[:, None] * d, axis=0)       # F_k(t) after the jump
        inv_fkn = np.where(fkn > 0, 1.0 / fkn, 0.0)

        def tie(nk):                                           # cinc's t5 tie correction
            return np.where(nk > 1, 1.0 - (nk - 1.0) / (rs[:, None] - 1.0), 1.0)

        d_other = nd[:, None] - d
        base = (fk**2 / rs**2)[:, None]
        # other-cause events at t (only while the overall KM stays > 0)
        t6o = np.where((d_other > 0) & (fkn[:, None] > 0), base * tie(d_other) * d_other, 0.0)
        t3o = inv_fkn[:, None]
        t4o = cif * inv_fkn[:, None]
        # events of the cause itself
        t6c = np.where(d > 0, base * tie(d) * d, 0.0)
        t3c = inv_fkn[:, None]
        t4c = 1.0 + t3c * cif
    v1 = np.cumsum(t4o**2 * t6o + t4c**2 * t6c, axis=0)
    v2 = np.cumsum(t3o * t4o * t6o + t3c * t4c * t6c, axis=0)
    v3 = np.cumsum(t3o**2 * t6o + t3c**2 * t6c, axis=0)
    var = v1 + cif**2 * v3 - 2.0 * cif * v2
    return ut, rs, d, cif, var


def _cif_confint(cif: np.ndarray, var: np.ndarray, conf_type: str, z: float):
    se = np.sqrt(np.maximum(var, 0.0))
    if conf_type == "plain":
        lo, hi = np.clip(cif - z * se, 0.0, 1.0), np.clip(cif + z * se, 0.0, 1.0)
    else:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            k = z * se / (cif * np.log(cif))
            lo, hi = cif ** np.exp(-k), cif ** np.exp(k)
        # F = 1 with a positive variance: the interval's limit as F → 1 is (0, 1)
        one = cif >= 1.0 - 1e-12
        lo, hi = np.where(one, 0.0, lo), np.where(one, 1.0, hi)
    zero = var <= 0
    return np.where(zero, cif, lo), np.where(zero, cif, hi)


@dataclass
class CIFResult:
    """Cumulative incidence by group and cause (R ``cuminc``).

    ``table``: group, cause, time, n_risk, n_event, cif, var, std_err, lower, upper — one row per
    distinct time with an event of that cause in that group (the value after the step).
    ``tests``: Gray's test per cause (as ``cuminc(...)$Tests``) when there are ≥ 2 groups, else None.
    """

    table: pd.DataFrame
    tests: pd.DataFrame | None
    groups: list
    causes: list
    last_time: dict
    conf_type: str
    conf_level: float
    n: int
    n_dropped: int = 0
    timepoints: pd.DataFrame | None = field(default=None, repr=False)

    @classmethod
    def from_table(cls, table: pd.DataFrame, *, last_time: dict | None = None, tests: pd.DataFrame | None = None,
                   conf_type: str = "log-log", conf_level: float = 0.95) -> "CIFResult":
        """A result rebuilt from its written table (as :func:`cumulative_incidence` makes it, e.g.
        read back from ``latc analyze``'s ``competing/cif_curves.csv``), so a figure draws exactly
        the curves the analysis estimated without refitting them.

        ``last_time``: each group's last follow-up time (the curve is held flat to it); taken from a
        ``follow_up_end`` column when the table has one, else the group's last tabulated time.
        """
        need = ["group", "cause", "time", "cif", "lower", "upper"]
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise StatsInputError(f"a cumulative incidence table needs the column(s) {', '.join(missing)}")
        groups = list(pd.unique(table["group"]))
        causes = sorted(pd.unique(table["cause"]).tolist())
        if last_time is None:
            col = "follow_up_end" if "follow_up_end" in table.columns else "time"
            last_time = {g: float(table.loc[table["group"] == g, col].max()) for g in groups}
        extra = [c for c in ("n_risk", "n_event", "var", "std_err") if c in table.columns]
        tab = table[need[:4] + extra + need[4:]].reset_index(drop=True)
        return cls(table=tab, tests=tests, groups=groups, causes=causes, last_time=last_time,
                   conf_type=conf_type, conf_level=conf_level, n=0)

    def at(self, times: Sequence[float]) -> pd.DataFrame:
        """Cumulative incidence at ``times`` per group and cause, as ``cmprsk::timepoints``.

        The value (and variance) at the last event time ≤ t, 0 before the first event; NaN when t is
        after the group's last follow-up time (R: NA).
        """
        at = np.unique(np.asarray(times, dtype=float))
        z = float(norm.ppf(1 - (1 - self.conf_level) / 2))
        rows = []
        for g in self.groups:
            for c in self.causes:
                tab = self.table[(self.table["group"] == g) & (self.table["cause"] == c)]
                tt = tab["time"].to_numpy()
                i = np.searchsorted(tt, at, side="right") - 1
                cif = np.where(i >= 0, np.r_[0.0, tab["cif"].to_numpy()][i + 1], 0.0)
                var = np.where(i >= 0, np.r_[0.0, tab["var"].to_numpy()][i + 1], 0.0)
                beyond = at > self.last_time[g]
                cif = np.where(beyond, np.nan, cif)
                var = np.where(beyond, np.nan, var)
                lo, hi = _cif_confint(cif, var, self.conf_type, z)
                rows.append(pd.DataFrame({"group": pd.Series([g] * len(at), dtype=object),
                                          "cause": pd.Series([c] * len(at), dtype=object),
                                          "time": at, "cif": cif,
                                          "var": var, "std_err": np.sqrt(var), "lower": lo,
                                          "upper": hi}))
        return pd.concat(rows, ignore_index=True)


@positional_deprecated
def cumulative_incidence(df: pd.DataFrame, time: str, event_type: str, group: str | None = None,
                         *, conf_level: float = 0.95, times: Sequence[float] | None = None, censor_code=0, conf_type: str = "log-log", rho: float = 0.0,
                         missing: str = "error") -> CIFResult:
    """Aalen–Johansen cumulative incidence of each cause by group, agreeing with R
    ``cmprsk::cuminc(time, event_type, group, cencode = censor_code)``.

    Parameters
    ----------
    df : one row per patient.
    time : follow-up time (to the first event of any cause, or censoring).
    event_type : 0 = censored, 1, 2, … = causes; or labels (e.g. "censored", "recurrence",
        "death") with ``censor_code`` the label of censored rows. Causes are reported in sorted
        order (a pandas Categorical keeps its category order), as R.
    group : optional column; one curve per level and cause (R ``as.factor`` order). With ≥ 2
        groups Gray's test (unstratified, weight exponent ``rho``) is in ``result.tests``; use
        :func:`gray_test` for a stratified test.
    conf_level, conf_type : pointwise intervals, ``"log-log"`` (default) or ``"plain"`` (module
        docstring).
    times : optional landmark times; ``result.timepoints = result.at(times)``.
    missing : ``"error"`` (default) or ``"drop"`` (complete cases, with a warning).

    Raises
    ------
    StatsInputError when every row is censored, columns are absent, times are negative or values
    are missing.
    """
    if conf_type not in _CONF_TYPES:
        raise StatsInputError(f"conf_type must be one of {_CONF_TYPES}, not {conf_type!r}")
    if not 0 < conf_level < 1:
        raise StatsInputError(f"conf_level must be between 0 and 1, not {conf_level!r}")
    data = _competing_data(df, time, event_type, [group], censor_code, missing,
                           "cumulative_incidence")
    if group is None:
        gcode, levels = np.zeros(len(data.time), dtype=np.int64), ["all"]
    else:
        gcode, levels = _codes(data.frame[group])
    k = len(data.causes)
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    parts, last_time = [], {}
    for gi, level in enumerate(levels):
        sel = gcode == gi
        last_time[level] = float(data.time[sel].max())
        ut, rs, d, cif, var = _cif_one_group(data.time[sel], data.code[sel], k)
        for ci, cause in enumerate(data.causes):
            rows = d[:, ci] > 0
            f, v = cif[rows, ci], var[rows, ci]
            lo, hi = _cif_confint(f, v, conf_type, z)
            parts.append(pd.DataFrame({
                "group": pd.Series([level] * int(rows.sum()), dtype=object),
                "cause": pd.Series([cause] * int(rows.sum()), dtype=object),
                "time": ut[rows], "n_risk": rs[rows], "n_event": d[rows, ci], "cif": f, "var": v,
                "std_err": np.sqrt(v), "lower": lo, "upper": hi}))
    table = pd.concat(parts, ignore_index=True)
    table.attrs["method"] = (f"Aalen-Johansen cumulative incidence (R cmprsk::cuminc), variance as "
                             f"cuminc, {conf_type} {conf_level:.0%} CI")
    tests = None
    if len(levels) > 1:
        tests = _gray_table(data, gcode, len(levels), np.zeros(len(gcode), dtype=np.int64),
                            data.causes, rho, [])
    result = CIFResult(table=table, tests=tests, groups=levels, causes=data.causes,
                       last_time=last_time, conf_type=conf_type, conf_level=conf_level,
                       n=len(data.time), n_dropped=data.n_dropped)
    if times is not None:
        result.timepoints = result.at(times)
    return result


# ----------------------------------------------------------------------------------------------
# Gray's test (cmprsk crstm / crst)
# ----------------------------------------------------------------------------------------------
def _seg_cumsum(a: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Cumulative sum along axis 0 restarting at each stratum (``first``: row → first row of its
    stratum)."""
    c = np.cumsum(a, axis=0)
    return c - np.concatenate([np.zeros((1,) + a.shape[1:]), c])[first]


def _gray_score(t: np.ndarray, m: np.ndarray, g: np.ndarray, st: np.ndarray, ng: int, rho: float):
    """Score (ng−1) and variance ((ng−1)²) of Gray's test, summed over strata.

    ``m``: 0 censored, 1 the cause tested, 2 another cause; ``g``: group codes 0..ng−1; ``st``:
    stratum codes. Every quantity is a (stratum-time × group) array over the distinct event times of
    each stratum; cumulative quantities restart at each stratum (cmprsk ``crstm`` loops over strata).
    """
    order = np.lexsort((t, st))
    t, m, g, st = t[order], m[order], g[order], st[order]
    new = np.r_[True, (t[1:] != t[:-1]) | (st[1:] != st[:-1])]
    blk = np.cumsum(new) - 1
    nb = int(blk[-1]) + 1
    bst = st[new]
    cnt = np.bincount((blk * 3 + m) * ng + g, minlength=nb * 3 * ng).reshape(nb, 3, ng).astype(float)
    tot = cnt.sum(axis=1)
    # at risk by group: reverse cumulative sum within stratum
    rc = np.cumsum(tot[::-1], axis=0)[::-1]
    last = np.r_[bst[1:] != bst[:-1], True]
    nxt = np.minimum.accumulate(np.where(last, np.arange(nb), nb)[::-1])[::-1] + 1
    rs = rc - np.concatenate([rc, np.zeros((1, ng))])[nxt]
    d1, d2 = cnt[:, 1, :], cnt[:, 2, :]
    nd1, nd2 = d1.sum(axis=1), d2.sum(axis=1)
    keep = (nd1 + nd2) > 0
    rs, d1, d2, nd1, nd2, bst = rs[keep], d1[keep], d2[keep], nd1[keep], nd2[keep], bst[keep]
    h = ng - 1
    if len(nd1) == 0:
        return np.zeros(h), np.zeros((h, h))
    nt = len(nd1)
    sfirst = np.r_[True, bst[1:] != bst[:-1]]
    first = np.maximum.accumulate(np.where(sfirst, np.arange(nt), 0))
    risk = rs > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(risk, (rs - d1 - d2) / rs, 1.0)
        zero = factor <= 0
        logf = _seg_cumsum(np.log(np.where(zero, 1.0, factor)), first)
        skm = np.where(_seg_cumsum(zero.astype(float), first) > 0, 0.0, np.exp(logf))  # group KM
        skmm = np.where(sfirst[:, None], 1.0, np.vstack([np.ones((1, ng)), skm[:-1]]))  # t−
        jump = np.where(risk, skmm * d1 / rs, 0.0)
        f1m = _seg_cumsum(jump, first) - jump                                 # group CIF at t−
        t1 = np.where(risk, rs / skmm, 0.0)
        tr = t1.sum(axis=1)
        tq = (t1 * (1.0 - f1m)).sum(axis=1)
        finc = nd1 / tr
        f = _seg_cumsum(finc, first)                                          # pooled CIF
        fm = f - finc
        fb = (1.0 - fm) ** rho
        a = fb[:, None, None] * (t1[:, :, None] * np.eye(ng)[None]
                                 - t1[:, :, None] * t1[:, None, :] / tr[:, None, None])
        c = _seg_cumsum(a * (nd1 / (tr * (1.0 - fm)))[:, None, None], first)
        score = (fb[:, None] * (d1 - nd1[:, None] * t1 * (1.0 - f1m) / tq[:, None])).sum(axis=0)
        # events of the tested cause
        ev1 = (nd1 > 0)[:, None] & risk
        t4 = np.where(skm > 0, 1.0 - (1.0 - f)[:, None] / skm, 1.0)
        t5 = np.where(nd1[:, None] > 1, 1.0 - (nd1[:, None] - 1.0) / (tr[:, None] * skmm - 1.0), 1.0)
        t3 = np.where(ev1, t5 * skmm * nd1[:, None] / (tr[:, None] * rs), 0.0)
        # events of the other causes
        ev2 = (skm > 0) & (d2 > 0)
        t4b = np.where(ev2, (1.0 - f)[:, None] / skm, 0.0)
        t5b = np.where(d2 > 1, 1.0 - (d2 - 1.0) / (rs - 1.0), 1.0)
        t3b = np.where(ev2, t5b * skmm**2 * d2 / rs**2, 0.0)
    b = a[:, :h, :] - t4[:, None, :] * c[:, :h, :]
    ch = c[:, :h, :]
    w2 = t4b**2 * t3b
    v = np.einsum("tik,tjk,tk->ij", b, b, t3) + np.einsum("tik,tjk,tk->ij", ch, ch, w2)
    # per stratum: v3, v2 and the stratum's final c enter the last term of crst
    starts = np.flatnonzero(sfirst)
    ends = np.r_[starts[1:], nt] - 1
    v3 = np.add.reduceat(t4**2 * t3 + w2, starts, axis=0)                             # (S, ng)
    v2 = np.add.reduceat(b * (t4 * t3)[:, None, :] - ch * w2[:, None, :], starts, axis=0)  # (S, h, ng)
    c_end = c[ends, :h, :]                                                              # (S, h, ng)
    v += (np.einsum("sik,sjk,sk->ij", c_end, c_end, v3) + np.einsum("sik,sjk->ij", c_end, v2)
          + np.einsum("sik,sjk->ij", v2, c_end))
    return score[:h], v


def _gray_table(data: _CompetingData, gcode: np.ndarray, ng: int, scode: np.ndarray, causes: list,
                rho: float, strata_cols: list) -> pd.DataFrame:
    rows = []
    for cause in causes:
        k = 1 + data.causes.index(cause)
        m = np.where(data.code == 0, 0, np.where(data.code == k, 1, 2))
        s, v = _gray_score(data.time, m, gcode, scode, ng, rho)
        # R: statistic only when the variance matrix has full rank (qr rank), else -1
        if np.linalg.matrix_rank(v, tol=1e-7 * max(np.abs(v).max(), 1e-300)) < ng - 1:
            warnings.warn(f"gray_test: the variance of cause {cause!r} is singular (R reports "
                          "stat = -1); its statistic is NaN", UserWarning, stacklevel=3)
            stat = np.nan
        else:
            stat = float(s @ np.linalg.solve(v, s))
        # chisq: the name logrank and cox_zph use; stat (cmprsk's name) kept for one release (deprecated)
        rows.append({"cause": cause, "chisq": stat, "df": ng - 1,
                     "p": float(chi2.sf(stat, ng - 1)) if np.isfinite(stat) else np.nan, "stat": stat})
    out = pd.DataFrame(rows)
    out["cause"] = out["cause"].astype(object)
    out.attrs["method"] = (f"Gray's test (R cmprsk::cuminc $Tests, rho = {rho:g})"
                           + (f", stratified by {strata_cols}" if strata_cols else ""))
    return out


@positional_deprecated
def gray_test(df: pd.DataFrame, time: str, event_type: str, group: str,
              *, strata: str | Sequence[str] | None = None, cause=None, censor_code=0,
              rho: float = 0.0, missing: str = "error") -> pd.DataFrame:
    """Gray's K-sample test of equal cumulative incidence across ``group``, per cause, agreeing with
    R ``cuminc(time, event_type, group, strata, rho, cencode = censor_code)$Tests``.

    ``cause``: one cause label, a list, or None (every cause). Returns one row per cause: cause,
    chisq (cmprsk's ``stat``), df, p — one test per cause, so a table; ``attrs["method"]`` names
    the test. The column ``stat`` repeats ``chisq`` for one release (deprecated: use ``chisq``).

    Raises
    ------
    StatsInputError for a single group, a cause without events, all rows censored.
    """
    strata_cols = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    data = _competing_data(df, time, event_type, [group, *strata_cols], censor_code, missing,
                           "gray_test")
    gcode, levels = _codes(data.frame[group])
    if len(levels) < 2:
        raise StatsInputError(f"gray_test: column '{group}' has a single group ({levels[0]!r}); "
                              "Gray's test needs at least two")
    if cause is None:
        wanted = data.causes
    else:
        wanted = list(cause) if isinstance(cause, (list, tuple)) else [cause]
        absent = [c for c in wanted if not _matches_any(c, data.causes)]
        if absent:
            raise StatsInputError(f"gray_test: no events of cause {absent} in '{event_type}' "
                                  f"(causes with events: {data.causes})")
        wanted = [next(c2 for c2 in data.causes if _same(c2, c)) for c in wanted]
    return _gray_table(data, gcode, len(levels), _strata_codes(data.frame, strata_cols), wanted,
                       rho, strata_cols)


# ----------------------------------------------------------------------------------------------
# Fine–Gray regression (cmprsk crr)
# ----------------------------------------------------------------------------------------------
class _FGData:
    """Sorted data, censoring weights and risk-set bookkeeping that do not depend on β."""

    def __init__(self, time: np.ndarray, status: np.ndarray, X: np.ndarray) -> None:
        order = np.argsort(time, kind="stable")
        self.order = order
        self.t = t = time[order]
        self.s = s = status[order]                     # 0 censored, 1 cause, 2 other cause
        self.X = X[order]
        n = len(t)
        # Kaplan–Meier of the censoring distribution, G(t−) for each row (R: survfit + approx)
        ut, inv = np.unique(t, return_inverse=True)
        cens = np.bincount(inv, (s == 0).astype(float), minlength=len(ut))
        at_risk = np.cumsum(np.bincount(inv, minlength=len(ut))[::-1])[::-1].astype(float)
        g_after = np.cumprod(1.0 - cens / at_risk)
        g_before = np.r_[1.0, g_after[:-1]]
        self.G = g_before[inv]                         # G(T_i−)
        # distinct failure times of the cause
        fail = s == 1
        self.u, self.d = np.unique(t[fail], return_counts=True)
        self.d = self.d.astype(float)
        self.Gu = g_before[np.searchsorted(ut, self.u)]
        self.first_at_or_after = np.searchsorted(t, self.u, side="left")   # rows t ≥ u
        self.other = np.flatnonzero(s == 2)            # rows failing from another cause (sorted)
        self.n_other_before = np.searchsorted(t[self.other], self.u, side="left")   # T_j < u
        self.fail = fail
        # censoring bookkeeping for ψ
        self.ut, self.inv = ut, inv
        self.cens, self.at_risk = cens, at_risk
        self.n = n

    def _risk_sums(self, a: np.ndarray) -> np.ndarray:
        """Σ over the crr risk set at each failure time u of a_j·w_j(u) (a: rows × …)."""
        shape = a.shape[1:]
        rev = np.concatenate([np.cumsum(a[::-1], axis=0)[::-1], np.zeros((1,) + shape)])
        at_risk = rev[self.first_at_or_after]
        ao = a[self.other] / self.G[self.other].reshape((-1,) + (1,) * len(shape))
        cum = np.concatenate([np.zeros((1,) + shape), np.cumsum(ao, axis=0)])
        before = cum[self.n_other_before]
        return at_risk + self.Gu.reshape((-1,) + (1,) * len(shape)) * before

    def fit_terms(self, beta: np.ndarray, need_info: bool = True):
        eta = self.X @ beta
        shift = eta.max() if len(eta) else 0.0
        r = np.exp(eta - shift)
        S0 = self._risk_sums(r)
        S1 = self._risk_sums(r[:, None] * self.X)
        xbar = S1 / S0[:, None]
        # partial likelihood is invariant to the shift of η (it cancels)
        loglik = float(eta[self.fail].sum() - shift * self.fail.sum() - self.d @ np.log(S0))
        score = self.X[self.fail].sum(axis=0) - self.d @ xbar
        out = {"loglik": loglik, "score": score, "r": r, "S0": S0, "xbar": xbar, "shift": shift}
        if need_info:
            S2 = self._risk_sums(r[:, None, None] * self.X[:, :, None] * self.X[:, None, :])
            out["info"] = np.einsum("k,kij->ij", self.d, S2 / S0[:, None, None]
                                    - xbar[:, :, None] * xbar[:, None, :])
        return out

    def loglik(self, beta: np.ndarray) -> float:
        eta = self.X @ beta
        shift = eta.max()
        S0 = self._risk_sums(np.exp(eta - shift))
        return float(eta[self.fail].sum() - shift * self.fail.sum() - self.d @ np.log(S0))

    def influence(self, terms: dict) -> np.ndarray:
        """Per-row η_i + ψ_i of crr's robust variance (rows in sorted order)."""
        X, t, s, G = self.X, self.t, self.s, self.G
        r, S0, xbar = terms["r"], terms["S0"], terms["xbar"]
        a = self.d / S0                                  # d_k / S0_k
        b = a[:, None] * xbar                            # d_k x̄_k / S0_k
        # failure times ≤ t_i, and > t_i
        k_le = np.searchsorted(self.u, t, side="right")
        cumA = np.r_[0.0, np.cumsum(a)][k_le]
        cumB = np.vstack([np.zeros((1, X.shape[1])), np.cumsum(b, axis=0)])[k_le]
        ga, gb = self.Gu * a, self.Gu[:, None] * b
        revA = np.r_[np.cumsum(ga[::-1])[::-1], 0.0]
        revB = np.vstack([np.cumsum(gb[::-1], axis=0)[::-1], np.zeros((1, X.shape[1]))])
        other = (s == 2)[:, None]
        eta_i = -r[:, None] * (X * cumA[:, None] - cumB)
        eta_i -= np.where(other, (r / G)[:, None] * (X * revA[k_le][:, None] - revB[k_le]), 0.0)
        # dN part: x_i − x̄ at the own failure time
        k_own = np.searchsorted(self.u, t, side="left")
        eta_i += np.where(self.fail[:, None], X - xbar[np.minimum(k_own, len(self.u) - 1)], 0.0)
        # ψ: censoring martingale term, q(u) at each distinct time with censoring
        cu = np.flatnonzero(self.cens > 0)
        ucens = self.ut[cu]
        oth = self.other
        e0 = np.r_[0.0, np.cumsum(r[oth] / G[oth])]
        e1 = np.vstack([np.zeros((1, X.shape[1])), np.cumsum((r[oth] / G[oth])[:, None] * X[oth], axis=0)])
        n_before = np.searchsorted(t[oth], ucens, side="left")          # other-cause T_j < u
        k_ge = np.searchsorted(self.u, ucens, side="left")              # failure times ≥ u
        q = e1[n_before] * revA[k_ge][:, None] - e0[n_before][:, None] * revB[k_ge]
        y, c = self.at_risk[cu], self.cens[cu]
        dlam = np.vstack([np.zeros((1, X.shape[1])), np.cumsum(q * (c / y**2)[:, None], axis=0)])
        row_u = np.searchsorted(ucens, t, side="right")                 # censoring times ≤ t_i
        psi = -dlam[row_u]
        cens_row = s == 0
        if cens_row.any():
            idx = np.searchsorted(ucens, t[cens_row])
            psi[cens_row] += q[idx] / y[idx][:, None]
        return eta_i + psi


@dataclass
class FineGrayResult:
    """A fitted Fine–Gray model (R ``crr``). ``summary`` is indexed by coefficient name.

    ``summary``: coef, shr (subdistribution hazard ratio exp(coef)), se (crr's robust SE), z, p,
    lower, upper. ``var`` is crr's sandwich variance, ``naive_var`` the inverse information.
    ``baseline``: time, hazard (jump of the baseline cumulative subdistribution hazard, crr's
    ``bfitj``), cumulative_hazard.
    """

    summary: pd.DataFrame
    coef: np.ndarray
    var: np.ndarray
    naive_var: np.ndarray
    loglik: float
    loglik_null: float
    lr_test: dict
    n: int
    events: int
    competing_events: int
    censored: int
    cause: object
    converged: bool
    iterations: int
    names: list[str]
    terms: dict[str, list[int]]
    baseline: pd.DataFrame = field(repr=False, default=None)
    n_dropped: int = 0

    @property
    def subdistribution_hazard_ratios(self) -> pd.Series:
        return self.summary["shr"]


@positional_deprecated
def fine_gray(df: pd.DataFrame, time: str, event_type: str, covariates: Sequence[str],
              *, cause=1, censor_code=0, conf_level: float = 0.95, max_iter: int = 10,
              gtol: float = 1e-6, missing: str = "error") -> FineGrayResult:
    """Fine–Gray subdistribution hazards model for ``cause``, agreeing with R
    ``cmprsk::crr(time, event_type, cov1 = model.matrix(~ covariates)[, -1], failcode = cause,
    cencode = censor_code)``.

    Parameters
    ----------
    covariates : column names — numeric, boolean or categorical (treatment contrasts, first level
        as reference, like R's ``model.matrix``); coefficients are named ``column[level]``.
    cause : the event type of interest (R ``failcode``); every other non-censored type competes.
    censor_code : the event type of censored rows (R ``cencode``).
    max_iter, gtol : crr's ``maxiter`` and ``gtol``.
    missing : ``"error"`` (default) or ``"drop"`` (complete cases, with a warning, R's na.omit).

    Raises
    ------
    StatsInputError for no events of ``cause``, a constant or collinear covariate, a
    Newton–Raphson that does not converge (R: ``converged = FALSE``) or an infinite estimate.
    """
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise StatsInputError("fine_gray: give at least one covariate")
    data = _competing_data(df, time, event_type, covariates, censor_code, missing, "fine_gray")
    status, matched = _cause_status(data, cause, event_type, "fine_gray", "; the model is undefined")
    try:
        X, names, terms = design_matrix(data.frame, covariates)
    except StatsInputError as exc:
        raise StatsInputError(str(exc).replace("cox:", "fine_gray:", 1)) from None
    p = X.shape[1]
    fg = _FGData(data.time, status, X)

    beta = np.zeros(p)
    converged = False
    it = 0
    for it in range(max_iter + 1):
        terms_b = fg.fit_terms(beta)
        f, neg_score = -terms_b["loglik"], -terms_b["score"]
        if np.max(np.abs(neg_score) * np.maximum(np.abs(beta), 1.0)) < max(abs(f), 1.0) * gtol:
            converged = True
            break
        if it == max_iter:
            break
        try:
            step = np.linalg.solve(terms_b["info"], terms_b["score"])
        except np.linalg.LinAlgError:
            raise StatsInputError(f"fine_gray: information matrix singular; check covariates {names}") from None
        new = beta + step
        f_new = -fg.loglik(new)
        halvings = 0
        while not np.isfinite(f_new) or f_new > f + 1e-4 * float(step @ neg_score):
            halvings += 1
            step = step * 0.5
            new = beta + step
            f_new = -fg.loglik(new)
            if halvings > 20:
                break
        if halvings > 20:
            break
        beta = new
    sd = X.std(axis=0)
    scaled = np.abs(beta) * np.where(sd > 0, sd, 1.0)
    if not converged:
        worst = names[int(np.argmax(scaled))]
        raise StatsInputError(
            f"fine_gray: Newton–Raphson did not converge in {max_iter} iterations (R crr: "
            f"converged = FALSE); the coefficient of '{worst}' may be infinite (e.g. no events of "
            "the cause in a covariate level); collapse levels, drop the covariate or raise max_iter")
    info = terms_b["info"]
    try:
        naive_var = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        raise StatsInputError(f"fine_gray: information matrix singular at the estimate; check {names}") from None
    huge = scaled > 15
    if huge.any():
        bad = [names[j] for j in np.flatnonzero(huge)]
        raise StatsInputError(f"fine_gray: coefficient(s) {bad} diverge (monotone likelihood — e.g. "
                              "no events of the cause in one level); collapse levels or drop them")
    infl = fg.influence(terms_b)
    var = naive_var @ (infl.T @ infl) @ naive_var

    se = np.sqrt(np.diag(var))
    zval = beta / se
    zq = float(norm.ppf(1 - (1 - conf_level) / 2))
    summ = pd.DataFrame({"coef": beta, "shr": np.exp(beta), "se": se, "z": zval,
                         "p": 2 * norm.sf(np.abs(zval)), "lower": np.exp(beta - zq * se),
                         "upper": np.exp(beta + zq * se)}, index=pd.Index(names, name="term"))
    summ.attrs["conf_level"] = conf_level
    summ.attrs["method"] = (f"Fine-Gray subdistribution hazards for cause {_plain(cause)!r} "
                            "(R cmprsk::crr), robust SE, Wald CI")
    loglik = terms_b["loglik"]
    loglik_null = fg.loglik(np.zeros(p))
    jumps = fg.d / (terms_b["S0"] * np.exp(terms_b["shift"]))
    baseline = pd.DataFrame({"time": fg.u, "hazard": jumps, "cumulative_hazard": np.cumsum(jumps)})
    lr = 2 * (loglik - loglik_null)
    return FineGrayResult(
        summary=summ, coef=beta, var=var, naive_var=naive_var, loglik=loglik,
        loglik_null=loglik_null, lr_test={"chisq": lr, "df": p, "p": float(chi2.sf(lr, p))},
        n=len(status), events=int((status == 1).sum()), competing_events=int((status == 2).sum()),
        censored=int((status == 0).sum()), cause=_plain(matched), converged=converged,
        iterations=it, names=names, terms=terms, baseline=baseline, n_dropped=data.n_dropped)
