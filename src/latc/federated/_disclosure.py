"""Disclosure control at a site: an allow-list of analyses and a minimum cell count.

Defaults follow DataSHIELD's ``nfilter.tab = 3``: a count cell of 1 or 2 is not released. The site
then sends a :class:`~latc.federated.Message` whose payload is empty and whose ``suppressed`` list
says why (analysis, cell, count band — never the count itself); the coordinator's ``combine_*``
raises :class:`FederatedDisclosureError` naming site, analysis and cell instead of approximating.

The minimum can be changed per analysis (``min_cell_by_analysis``) as a documented site decision —
e.g. exact quantiles from a fine histogram, or exact unstratified Cox (whose per-time risk-set sums
identify a patient who leaves the risk set alone), need ``1`` there; see docs/federated.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from latc.errors import LatcError

__all__ = ["DEFAULT_ALLOWED", "DisclosurePolicy", "FederatedDisclosureError", "FederatedInputError",
           "check_messages"]

#: analyses a site runs by default (the analysis plan's federated part)
DEFAULT_ALLOWED: frozenset[str] = frozenset({
    "counts", "response_rates", "moments", "quantiles", "design_levels", "km", "logrank",
    "cox_stratified", "cox_webdisco", "logistic", "balance", "km_weighted", "cif"})


class FederatedDisclosureError(LatcError, RuntimeError):
    """A site withheld (part of) a message under its disclosure policy; names site, analysis, cell."""


class FederatedInputError(LatcError, ValueError):
    """A site function got data it must not use (another site's rows, a missing column …)."""


@dataclass(frozen=True)
class DisclosurePolicy:
    """A site's disclosure rules: ``min_cell`` (DataSHIELD nfilter.tab, default 3), the analyses it
    allows, per-analysis minimum overrides, and ``coarsen_months``: a time grid (e.g. 1.0 = whole
    months) to which the site rounds every event and follow-up time up before computing anything
    (``coarsen_derived``) — the results are then exactly the pooled analysis of the same coarsened
    times, never of the original ones."""

    min_cell: int = 3
    allowed: frozenset = DEFAULT_ALLOWED
    min_cell_by_analysis: dict = field(default_factory=dict)
    coarsen_months: float | None = None

    def __post_init__(self) -> None:
        if self.coarsen_months is not None and not float(self.coarsen_months) > 0:
            raise FederatedInputError(f"coarsen_months must be a positive number of months, not {self.coarsen_months!r}")

    def minimum(self, analysis: str) -> int:
        return int(self.min_cell_by_analysis.get(analysis, self.min_cell))

    def require_allowed(self, analysis: str, site: str) -> None:
        if analysis not in self.allowed:
            raise FederatedDisclosureError(
                f"site {site!r} does not run analysis {analysis!r} (not on its allow-list "
                f"{sorted(self.allowed)})")

    def small_cells(self, analysis: str, cells: dict[str, float]) -> list[dict]:
        """Reasons for every count cell in 1..min−1 (cells: name → count)."""
        m = self.minimum(analysis)
        out = []
        for name, c in cells.items():
            c = float(c)
            if 0 < c < m:
                out.append({"analysis": analysis, "cell": str(name),
                            "reason": f"count below the minimum cell size {m} (nfilter.tab)"})
        return out


def check_messages(messages: Iterable, analysis: str | None = None) -> list:
    """Raise :class:`FederatedDisclosureError` if any message carries suppression reasons or
    belongs to another analysis; return the messages as a list."""
    msgs = list(messages)
    if not msgs:
        raise FederatedInputError("combine: no site messages")
    kinds = {(m.analysis, m.kind) for m in msgs}
    if len(kinds) > 1:
        raise FederatedInputError(f"combine: messages of different analyses/steps {sorted(kinds)}")
    problems = []
    for m in msgs:
        if analysis is not None and m.analysis != analysis:
            raise FederatedInputError(f"combine {analysis}: got a {m.analysis!r} message from site {m.site!r}")
        for r in m.suppressed:
            problems.append(f"site {m.site!r}, analysis {r.get('analysis', m.analysis)!r}, cell "
                            f"{r.get('cell')!r}: {r.get('reason')}")
    if problems:
        raise FederatedDisclosureError("suppressed by site disclosure control — no result computed: "
                                       + "; ".join(problems))
    sites = [m.site for m in msgs]
    dup = sorted({s for s in sites if sites.count(s) > 1})
    if dup:
        raise FederatedInputError(f"combine: more than one message from site(s) {dup}")
    return msgs


def as_count_cells(prefix: str, names: Iterable, counts: np.ndarray) -> dict[str, float]:
    return {f"{prefix}{n}": float(c) for n, c in zip(names, np.ravel(counts))}
