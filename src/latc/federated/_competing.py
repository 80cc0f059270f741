"""Cumulative incidence with competing risks and Gray's test, from per-site counts.

The Aalen–Johansen estimate and Gray's K-sample test (R ``cmprsk::cuminc``) are functions of the
counts of events of each cause and of censorings per group at each distinct time (and, for the
stratified test, per stratum) — nothing else of the patients enters them. Each site sends those
counts on the coordinator's time grid; the coordinator pools them and evaluates
:func:`latc.stats.cumulative_incidence` and :func:`latc.stats.gray_test` on the pooled counts
(expanded to one record per count: time, cause, group and, for the test stratified by center, the
site), so the results are those of the pooled rows by construction, to the last bit.

Cells: each group's patients and its events of every cause at the site (the minimum cell count).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from latc.stats import CIFResult, cumulative_incidence, gray_test

from ._disclosure import DisclosurePolicy, FederatedInputError, check_messages
from ._messages import Message
from ._site import as_text, site_rows
from ._survival import _grid_index

__all__ = ["combine_cif", "combine_gray", "site_cif_counts"]

_DEFAULT = DisclosurePolicy()
ANALYSIS = "cif"


def site_cif_counts(df: pd.DataFrame, time: str, event_type: str, group: str, grid: Sequence[float], *,
                    causes: Sequence[int] = (1, 2), site: str, policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Per group, per code (0 = censored, then ``causes``) and grid time: the number of patients.

    Payload: time, event_type, group, groups, codes, grid_size, counts[group][code][grid]."""
    site_rows(df, site, policy, ANALYSIS, [time, event_type, group])
    t = pd.to_numeric(df[time]).to_numpy(dtype=float)
    k = pd.to_numeric(df[event_type]).to_numpy(dtype=float)
    codes = [0, *[int(c) for c in causes]]
    if np.isnan(t).any() or np.isnan(k).any() or not np.isin(k, codes).all() or df[group].isna().any():
        raise FederatedInputError(f"site {site!r}, {ANALYSIS}: '{time}', '{event_type}' (codes {codes}) and "
                                  f"'{group}' must be complete")
    idx = _grid_index(t, np.asarray(grid, dtype=float), site)
    g = as_text(df[group])
    groups = sorted(set(g))
    m = len(grid)
    counts, cells = [], {}
    for lev in groups:
        sel = g == lev
        counts.append([np.bincount(idx[sel & (k == c)], minlength=m) for c in codes])
        cells[f"patients | {group}={lev}"] = int(sel.sum())
        for c in codes[1:]:
            cells[f"events of cause {c} | {group}={lev}"] = int((sel & (k == c)).sum())
    bad = policy.small_cells(ANALYSIS, cells)
    base = {"time": time, "event_type": event_type, "group": group}
    if bad:
        return Message(ANALYSIS, site, "cif_counts", base, bad)
    return Message(ANALYSIS, site, "cif_counts", {**base, "groups": groups, "codes": codes, "grid_size": m,
                                                  "counts": counts})


def _records(messages: Sequence[Message], grid: Sequence[float]) -> pd.DataFrame:
    """The pooled counts as one record per count (time, code, group, site)."""
    msgs = check_messages(messages, ANALYSIS)
    grid = np.asarray(grid, dtype=float)
    parts = []
    for m in msgs:
        if m.payload["grid_size"] != len(grid):
            raise FederatedInputError(f"site {m.site!r} counted on a grid of another size")
        for lev, per_code in zip(m.payload["groups"], m.payload["counts"]):
            for code, n in zip(m.payload["codes"], per_code):
                n = np.asarray(n, dtype=np.int64)
                if n.sum():
                    t = np.repeat(grid, n)
                    parts.append(pd.DataFrame({"time": t, "code": code, "group": lev, "site": m.site}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["time", "group"], kind="stable").reset_index(drop=True)


def combine_cif(messages: Sequence[Message], grid: Sequence[float], *, conf_level: float = 0.95,
                times: Sequence[float] | None = None) -> CIFResult:
    """Pooled cumulative incidence by group and cause, as :func:`latc.stats.cumulative_incidence`."""
    rec = _records(messages, grid)
    return cumulative_incidence(rec, "time", "code", group="group", conf_level=conf_level, times=times)


def combine_gray(messages: Sequence[Message], grid: Sequence[float], *, by_site: bool = False) -> pd.DataFrame:
    """Gray's test by group (per cause), as :func:`latc.stats.gray_test`; ``by_site``: stratified
    by site (= by center when every center is a site)."""
    rec = _records(messages, grid)
    return gray_test(rec, "time", "code", "group", strata="site" if by_site else None)
