"""The report as data: sections holding figures, tables and notes (rendered by templates).

Section builders (``_strobe``, ``_quality``, ``_clinical``, ``_outcomes``, ``_methods``) return
:class:`Section` objects; ``_build`` saves the figures, renders HTML/PDF and writes the XLSX.
Nothing here draws or computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["ReportFigure", "ReportTable", "Section"]


@dataclass
class ReportFigure:
    """One figure: a stable ``key`` (file stem under ``figures/``), its title and caption."""

    key: str
    title: str
    figure: Figure | None
    caption: str = ""
    number: int = 0
    src: str = ""            # data URI set when saved
    files: list[str] = field(default_factory=list)
    svg: bytes | None = None  # the files' bytes once drawn (the drawing itself is then let go)
    png: bytes | None = None

    @property
    def file_names(self) -> list[str]:
        """The files written, as the report names them (``figures/km_os.svg``, …)."""
        return [f"figures/{PurePath(x).name}" for x in self.files]

    @property
    def no_data(self) -> str | None:
        """The reason when the figure only says "No data: …" (``latc.plot.no_data_figure``)."""
        return getattr(self.figure, "no_data_reason", None)


@dataclass
class ReportTable:
    """One table: the raw data (for tables.xlsx) and its display form (for HTML/PDF)."""

    key: str
    title: str
    data: pd.DataFrame
    display: pd.DataFrame
    caption: str = ""
    number: int = 0
    source: str = ""          # e.g. "analysis/response/objective_response.csv"


@dataclass
class Section:
    """A report section (one Jinja partial ``sections/<key>.html.j2``)."""

    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # why something is not shown
    extra: dict[str, Any] = field(default_factory=dict)

    def note(self, what: str, reason: str) -> None:
        self.notes.append(f"{what}: not shown — {reason}")
