"""Greedy nearest-neighbour propensity-score matching, compatible with R's MatchIt.

What ``match()`` does is MatchIt's ``method = "nearest"`` on a propensity-score distance
(MatchIt >= 4.7, ``?method_nearest``; the algorithm of its ``nn_matchC_vec``):

* all patients are sorted by the distance (ties kept in data order); treated patients are taken
  one at a time in ``m_order`` ("largest" distance first — MatchIt's default for a propensity
  score —, "smallest", "data" order, or "random" with a seed);
* each takes the nearest still-available control on either side in that sorted order; when the
  two sides are equally far the lower one wins (MatchIt keeps the left neighbour on a tie);
* with a caliper, a treated patient whose nearest available control is farther than the caliper
  stays unmatched;
* ``ratio = k``: every treated patient gets a first control before any gets a second, and so on
  (k rounds over the treated in ``m_order``);
* without replacement a control is used once; with replacement each treated patient simply takes
  its k nearest distinct controls;
* ``exact`` variables: matching happens only within strata of identical values (e.g. center).

**Caliper.** ``caliper`` is in standard deviations of the matching distance, ``scale="logit"``
(default) being the logit of the propensity score (Austin 2011, 0.2 SD of the logit). The
equivalent MatchIt call is ``matchit(..., method = "nearest", distance = "glm",
link = "linear.logit", caliper = 0.2, std.caliper = TRUE)``: the width is
``caliper * sd(logit PS)`` with R's ``sd`` (n - 1 denominator) over all patients, treated and
control together. ``scale="probability"`` matches on the propensity score itself (MatchIt's default
``link = "logit"``); ``std_caliper=False`` reads the caliper in raw distance units.

**Weights** are MatchIt's matching weights for the ATT: 1 for a matched treated patient; a control
receives 1/k_i from every treated patient i it is matched to (k_i = number of controls of i), then
control weights are rescaled to sum to the number of matched controls. Unmatched patients weigh 0.
``subclass`` numbers the matched sets 1, 2, ... in data order of their treated patient (no subclass
with replacement, as in MatchIt).

``m_order="random"`` uses numpy's seeded generator: reproducible, but not R's ``sample()`` draws.
Debian's MatchIt 4.5.1 must not be used as a reference with a caliper: its caliper comparison
truncates distances to integers (pairs up to 1 unit apart pass), fixed in later releases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from latc._compat import positional_deprecated
from latc.stats._errors import StatsInputError
from latc.stats._propensity import _check_frame, propensity_values, treatment_indicator

__all__ = ["match", "MatchResult"]

_M_ORDERS = ("largest", "smallest", "random", "data")


@dataclass
class MatchResult:
    """Outcome of :func:`match`.

    data : the matched patients (rows of the input with weight > 0, input order) with columns
        ``distance`` (the value matched on), ``weights`` and ``subclass`` (matched-set id).
    weights, subclass, distance : for every input row (0 / <NA> for unmatched patients).
    match_matrix : one row per treated patient, columns 1..ratio, the index labels of its controls.
    summary : MatchIt's "Sample Sizes" table — rows All, Matched (ESS), Matched, Unmatched;
        columns control, treated.
    caliper_width : the caliper on the distance scale (None without caliper).
    method : a one-line description of the method and parameters, for result tables.
    distance_scale, caliper, std_caliper : the distance and caliper used — latc's defaults (logit
        PS, 0.2 SD) differ from MatchIt's (probability PS, no caliper), so they travel with the result.
    """

    data: pd.DataFrame
    weights: pd.Series
    subclass: pd.Series
    distance: pd.Series
    match_matrix: pd.DataFrame
    summary: pd.DataFrame
    caliper_width: float | None
    method: str
    treatment: np.ndarray = field(repr=False)
    # the choices that differ from MatchIt's defaults (probability distance, no caliper), recorded
    distance_scale: str = "logit"
    caliper: float | None = None
    std_caliper: bool = True


class _Available:
    """Controls still available, in sorted order: nearest available left/right in ~O(1)
    (two path-compressed "next free" pointer arrays)."""

    def __init__(self, n: int) -> None:
        self.right = np.arange(n + 1)   # right[i] == i while i is free; n is a sentinel
        self.left = np.arange(n + 1)    # left index shifted by one: left[i + 1] for slot i; 0 sentinel

    @staticmethod
    def _find(parent: np.ndarray, i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def next_right(self, i: int) -> int:
        return self._find(self.right, i)

    def next_left(self, i: int) -> int:
        return self._find(self.left, i + 1) - 1

    def take(self, i: int) -> None:
        self.right[i] = i + 1
        self.left[i + 1] = i


def _strata(df: pd.DataFrame, exact: Sequence[str] | None) -> np.ndarray:
    if not exact:
        return np.zeros(len(df), dtype=np.int64)
    return df.groupby(list(exact), sort=True, dropna=False).ngroup().to_numpy(dtype=np.int64)


def _greedy_without_replacement(d_c, block_lo, block_hi, ins, d_t, order, ratio, width):
    """Sequential greedy matching (MatchIt nn_matchC_vec semantics) without replacement.

    d_c: control distances in sorted order; ins[t]: insertion slot of treated t among the sorted
    controls; block_lo/hi[t]: the slot range of t's exact stratum. Returns (n_treated, ratio)
    array of control slots, -1 where unmatched.
    """
    avail = _Available(len(d_c))
    out = np.full((len(d_t), ratio), -1, dtype=np.int64)
    failed = np.zeros(len(d_t), dtype=bool)
    dc = d_c.tolist()
    for r in range(ratio):
        for t in order.tolist():
            if failed[t]:
                continue
            lo, hi, p, dt = int(block_lo[t]), int(block_hi[t]), int(ins[t]), float(d_t[t])
            k_left = avail.next_left(p - 1) if p - 1 >= lo else -1
            if k_left < lo:
                k_left = -1
            k_right = avail.next_right(p) if p < hi else hi
            if k_right >= hi:
                k_right = -1
            if k_left >= 0 and k_right >= 0:
                k = k_left if abs(dc[k_left] - dt) <= abs(dc[k_right] - dt) else k_right
            else:
                k = k_left if k_left >= 0 else k_right
            if k < 0 or (width is not None and abs(dc[k] - dt) > width):
                failed[t] = True
                continue
            out[t, r] = k
            avail.take(k)
    return out


def _nearest_with_replacement(d_c, block_lo, block_hi, ins, d_t, ratio, width):
    """Each treated patient's ``ratio`` nearest distinct controls (vectorised two-pointer walk)."""
    n = len(d_t)
    out = np.full((n, ratio), -1, dtype=np.int64)
    left = ins - 1
    right = ins.copy()
    alive = np.ones(n, dtype=bool)
    padded = np.concatenate([d_c, [np.nan]])
    for r in range(ratio):
        has_l = alive & (left >= block_lo)
        has_r = alive & (right < block_hi)
        dl = np.where(has_l, d_t - padded[np.where(has_l, left, -1)], np.inf)
        dr = np.where(has_r, padded[np.where(has_r, right, -1)] - d_t, np.inf)
        take_left = has_l & (dl <= dr)
        take_right = has_r & ~take_left
        dist = np.where(take_left, dl, np.where(take_right, dr, np.inf))
        ok = (take_left | take_right) & (dist <= (np.inf if width is None else width))
        out[ok, r] = np.where(take_left, left, right)[ok]
        left = np.where(ok & take_left, left - 1, left)
        right = np.where(ok & take_right, right + 1, right)
        alive &= ok
    return out


def _matching_weights(slots: np.ndarray, n_c: int) -> tuple[np.ndarray, np.ndarray]:
    """MatchIt's ATT matching weights for treated (n_t) and controls (by sorted slot)."""
    matched = slots >= 0
    k = matched.sum(axis=1)
    w_t = (k > 0).astype(float)
    share = np.where(matched, 1.0 / np.maximum(k, 1)[:, None], 0.0)
    w_c = np.bincount(slots[matched], weights=share[matched], minlength=n_c)
    used = w_c > 0
    if used.any():
        w_c = w_c * used.sum() / w_c.sum()
    return w_t, w_c


def _ess(w: np.ndarray) -> float:
    s = w.sum()
    return float(s * s / (w * w).sum()) if s > 0 else 0.0


@positional_deprecated
def match(df: pd.DataFrame, treatment: str, covariates: Sequence[str] | None = None,
          *, ps: str | pd.Series | np.ndarray | None = None, ratio: int = 1,
          caliper: float | None = 0.2, replace: bool = False, exact: str | Sequence[str] | None = None,
          m_order: str = "largest", seed: int | None = None, scale: str = "logit",
          std_caliper: bool = True, treated: object | None = None) -> MatchResult:
    """MatchIt-compatible greedy nearest-neighbour matching on the propensity score (ATT).

    Parameters
    ----------
    df : one row per patient (index labels are kept as patient keys).
    treatment : treatment column (0/1, bool, or two values with ``treated=``).
    covariates : covariates of the propensity model (:func:`propensity`); or give ``ps``.
    ps : propensity scores (probabilities) — a column name, a Series aligned on ``df`` or an array.
    ratio : controls per treated patient (k:1).
    caliper : in SDs of the distance (``std_caliper=True``) or raw units; None for no caliper.
        Default 0.2 SD of the logit PS = MatchIt ``link = "linear.logit", caliper = 0.2``.
    replace : match with replacement (a control may serve several treated patients).
    exact : variable(s) matched exactly (e.g. ``"center_id"``).
    m_order : "largest" (MatchIt default for a PS), "smallest", "random" (needs ``seed``), "data".
    scale : "logit" (match on the logit PS) or "probability" (on the PS itself).

    Raises
    ------
    StatsInputError : missing columns or values, one treatment group, perfect separation, no
        treated patient matched (no overlap within the caliper / no common exact stratum).
    """
    context = "matching"
    if m_order not in _M_ORDERS:
        raise StatsInputError(f"{context}: m_order must be one of {_M_ORDERS}, not {m_order!r}")
    if scale not in ("logit", "probability"):
        raise StatsInputError(f"{context}: scale must be 'logit' or 'probability', not {scale!r}")
    if int(ratio) != ratio or ratio < 1:
        raise StatsInputError(f"{context}: ratio must be a positive integer, not {ratio!r}")
    ratio = int(ratio)
    if caliper is not None and not (np.isfinite(caliper) and caliper > 0):
        raise StatsInputError(f"{context}: caliper must be a positive number or None, not {caliper!r}")
    exact_cols = [exact] if isinstance(exact, str) else list(exact or [])
    _check_frame(df, [treatment, *exact_cols], context)
    z = treatment_indicator(df[treatment], treatment, treated, context)

    p = propensity_values(df, treatment, covariates, ps, treated, context)
    dist = np.log(p / (1 - p)) if scale == "logit" else p

    width = None
    if caliper is not None:
        width = float(caliper) * float(np.std(dist, ddof=1)) if std_caliper else float(caliper)

    n = len(df)
    pos = np.arange(n)
    stratum = _strata(df, exact_cols)
    # Global sort key (stratum, distance, data position); the controls' slots follow it.
    order_all = np.lexsort((pos, dist, stratum))
    is_c = (z == 0)[order_all]
    c_before = np.cumsum(is_c) - is_c            # controls strictly before each sorted position
    ctrl_sorted = order_all[is_c]                 # data positions of controls, by slot
    t_pos = np.flatnonzero(z == 1)                # treated in data order
    rank = np.empty(n, dtype=np.int64)
    rank[order_all] = np.arange(n)
    ins = c_before[rank[t_pos]]
    c_strata = stratum[ctrl_sorted]
    block_lo = np.searchsorted(c_strata, stratum[t_pos], side="left")
    block_hi = np.searchsorted(c_strata, stratum[t_pos], side="right")
    d_c = dist[ctrl_sorted]
    d_t = dist[t_pos]
    if not (block_hi > block_lo).any():
        raise StatsInputError(f"{context}: no exact stratum of {exact_cols} contains both treated "
                              "and control patients")

    if replace:
        slots = _nearest_with_replacement(d_c, block_lo, block_hi, ins, d_t, ratio, width)
    else:
        if m_order == "largest":
            t_order = np.lexsort((t_pos, -d_t))
        elif m_order == "smallest":
            t_order = np.lexsort((t_pos, d_t))
        elif m_order == "random":
            if seed is None:
                raise StatsInputError(f"{context}: m_order='random' needs a seed for reproducibility")
            t_order = np.random.default_rng(seed).permutation(len(t_pos))
        else:
            t_order = np.arange(len(t_pos))
        slots = _greedy_without_replacement(d_c, block_lo, block_hi, ins, d_t, t_order, ratio, width)

    w_t, w_c = _matching_weights(slots, len(ctrl_sorted))
    if not (w_t > 0).any():
        where = f" within a caliper of {width:.4g}" if width is not None else ""
        raise StatsInputError(f"{context}: no treated patient found a control{where}; treated and "
                              "control patients do not overlap")
    weights = np.zeros(n)
    weights[t_pos] = w_t
    weights[ctrl_sorted] = w_c

    index = df.index
    subclass = pd.Series(pd.array([pd.NA] * n, dtype="Int64"), index=index, name="subclass")
    if not replace:
        ids = np.zeros(len(t_pos), dtype=np.int64)
        got = w_t > 0
        ids[got] = np.arange(1, got.sum() + 1)
        sub = np.zeros(n, dtype=np.int64)
        sub[t_pos] = ids
        rows, cols = np.nonzero(slots >= 0)
        sub[ctrl_sorted[slots[rows, cols]]] = ids[rows]
        subclass = pd.Series(pd.array(np.where(sub > 0, sub, 0), dtype="Int64"), index=index,
                             name="subclass").mask(sub == 0)

    labels = np.asarray(index, dtype=object)
    mm = np.full(slots.shape, None, dtype=object)
    ok = slots >= 0
    mm[ok] = labels[ctrl_sorted[slots[ok]]]
    match_matrix = pd.DataFrame(mm, index=index[t_pos], columns=range(1, ratio + 1))

    weights_s = pd.Series(weights, index=index, name="weights")
    dist_s = pd.Series(dist, index=index, name="distance")
    data = df.loc[weights > 0].copy()
    data["distance"] = dist_s[weights > 0]
    data["weights"] = weights_s[weights > 0]
    data["subclass"] = subclass[weights > 0]

    n_all = [int((z == 0).sum()), int((z == 1).sum())]
    n_m = [int((w_c > 0).sum()), int((w_t > 0).sum())]
    summary = pd.DataFrame(
        {"control": [n_all[0], _ess(w_c), n_m[0], n_all[0] - n_m[0]],
         "treated": [n_all[1], _ess(w_t), n_m[1], n_all[1] - n_m[1]]},
        index=["All", "Matched (ESS)", "Matched", "Unmatched"])
    cal_txt = ("no caliper" if caliper is None else
               f"caliper {caliper:g} {'SD of the ' if std_caliper else ''}{scale} PS"
               f" (width {width:.4g})")
    method = (f"{ratio}:1 greedy nearest-neighbour matching on the {scale} propensity score "
              f"{'with' if replace else 'without'} replacement, {cal_txt}, m.order {m_order}"
              + (f", exact on {', '.join(exact_cols)}" if exact_cols else "")
              + " (MatchIt method='nearest' conventions; ATT weights)")
    return MatchResult(data=data, weights=weights_s, subclass=subclass, distance=dist_s,
                       match_matrix=match_matrix, summary=summary, caliper_width=width,
                       method=method, treatment=z, distance_scale=scale,
                       caliper=None if caliper is None else float(caliper), std_caliper=bool(std_caliper))
