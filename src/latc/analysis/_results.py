"""Result containers of the analysis plan: named tables that carry their method and parameters.

Every table the plan produces is a :class:`ResultTable`: the DataFrame plus the title, the
statistical method (in words, naming the R function it agrees with), its parameters (caliper,
estimand, ties, conf_type, robust, …), the analysis population and its size. A section (or a single
table) that cannot be computed records a reason instead (:class:`SectionSkipped`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from latc.errors import LatcError

__all__ = ["AnalysisInputError", "AnalysisResults", "PrimaryEstimate", "ResultTable", "SectionResult", "SectionSkipped"]


class AnalysisInputError(LatcError, ValueError):
    """The derived datasets cannot be analysed at all (missing dataset or column, identifiable data)."""


class SectionSkipped(Exception):
    """Raised inside a section (or a table builder) with the reason it cannot be computed."""


@dataclass
class ResultTable:
    """One result table: the data and what produced it."""

    name: str
    title: str
    data: pd.DataFrame
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    population: str = ""
    n: int | None = None
    note: str = ""
    #: model tables: how each term and the event are coded (``_coding.coding``)
    coding: dict[str, Any] = field(default_factory=dict)
    #: row blocks whose patients are not the table's population ``n``: ``{"rows", "n", "reason"}``
    row_populations: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description (everything except the data)."""
        out = {"name": self.name, "title": self.title, "method": self.method,
               "parameters": _plain(self.parameters), "population": self.population,
               "n": None if self.n is None else int(self.n), "rows": int(len(self.data)),
               "columns": [str(c) for c in self.data.columns], "note": self.note}
        if self.row_populations:
            out["row_populations"] = _plain(self.row_populations)
        if self.coding:
            out["coding"] = _plain(self.coding)
        return out


@dataclass
class SectionResult:
    """The tables of one SAP section, the tables it could not produce, or why it was skipped."""

    name: str
    title: str
    tables: dict[str, ResultTable] = field(default_factory=dict)
    skipped_tables: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # the whole section was skipped
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        return self.reason is not None

    def add(self, table: ResultTable) -> ResultTable:
        self.tables[table.name] = table
        return table


@dataclass(frozen=True)
class PrimaryEstimate:
    """The protocol's primary comparison, as the analysis estimated it: recurrence, neoadjuvant vs
    upfront surgery, Cox HR with stabilized IPTW (ATE) — one row of ``comparative/hazard_ratios``
    (docs/analysis_plan.md). ``estimate`` is NaN with the reason in ``note`` when it could not be
    estimated. Written to ``results.json`` as ``primary``, so the CLI and the report read the
    number the analysis computed instead of picking it out of a table."""

    endpoint: str
    analysis: str
    estimand: str
    measure: str
    estimate: float
    lower: float
    upper: float
    p: float
    label: str = "recurrence HR, neoadjuvant vs upfront surgery (IPTW, ATE)"
    note: str = ""

    @property
    def estimable(self) -> bool:
        return bool(pd.notna(self.estimate))

    def __str__(self) -> str:
        if not self.estimable:
            return f"{self.label}: not estimable — {self.note}"
        return f"{self.label} {self.estimate:.2f} (95% CI {self.lower:.2f}–{self.upper:.2f}), p = {self.p:.3g}"

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not pd.notna(v) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PrimaryEstimate":
        nan = float("nan")
        return cls(**{k: (nan if v is None and k in ("estimate", "lower", "upper", "p") else v) for k, v in d.items()
                      if k in cls.__dataclass_fields__})


@dataclass
class AnalysisResults:
    """Every section of the analysis plan, in plan order (``latc.analysis.run_analysis``)."""

    sections: dict[str, SectionResult]
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)

    def table(self, section: str, name: str) -> pd.DataFrame:
        """The DataFrame of one table (``KeyError`` naming what exists when absent)."""
        sec = self.sections[section]
        if name not in sec.tables:
            why = sec.reason or sec.skipped_tables.get(name)
            raise KeyError(f"{section}/{name} not produced" + (f": {why}" if why else f"; tables: {sorted(sec.tables)}"))
        return sec.tables[name].data

    def primary(self) -> PrimaryEstimate:
        """The primary comparison (:class:`PrimaryEstimate`); ``KeyError`` with the reason when the
        comparative section did not run or produced no primary row."""
        hr = self.table("comparative", "hazard_ratios")
        rows = hr[hr["primary"].fillna(False).astype(bool)] if "primary" in hr else hr.iloc[0:0]
        if not len(rows):
            raise KeyError("comparative/hazard_ratios has no primary row")
        r = rows.iloc[0]

        def num(c: str) -> float:
            v = r.get(c)
            return float(v) if v is not None and pd.notna(v) else float("nan")

        return PrimaryEstimate(endpoint=str(r["endpoint"]), analysis=str(r["analysis"]), estimand=str(r.get("estimand", "")),
                               measure="HR", estimate=num("hr"), lower=num("lower"), upper=num("upper"), p=num("p"),
                               note=str(r.get("note") or ""))

    def tables(self) -> dict[str, ResultTable]:
        """``"section/name"`` → :class:`ResultTable` for every produced table."""
        return {f"{s}/{n}": t for s, sec in self.sections.items() for n, t in sec.tables.items()}

    def skipped(self) -> dict[str, str]:
        """``"section"`` or ``"section/table"`` → reason, for everything that was not computed."""
        out = {s: sec.reason for s, sec in self.sections.items() if sec.reason}
        out.update({f"{s}/{n}": r for s, sec in self.sections.items() for n, r in sec.skipped_tables.items()})
        return out

    def summary(self) -> str:
        n_tab = sum(len(s.tables) for s in self.sections.values())
        skipped = self.skipped()
        return (f"{n_tab} tables in {len(self.sections)} sections"
                + (f"; {len(skipped)} not computed (reasons in results.json)" if skipped else ""))


def _plain(value: Any) -> Any:
    """Parameters as plain JSON types."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
