"""The in-memory study: one raw table per form, as read from any source format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from latc.errors import LatcError

#: Column added by every reader: the row number a person sees in the source (the header is row 1,
#: so the first data row is 2; for a REDCap export, the line of the record in the export file).
ROW = "_row"

#: Keys of one read issue (``Study.read_issues``); ``severity`` is ``error`` or ``warning``.
READ_ISSUE_KEYS = ("form", "row", "field", "value", "rule", "severity", "message")


def read_issue(
    form: str, row: int | None, field: str | None, value: str | None, rule: str, severity: str, message: str
) -> dict:
    """One entry of ``Study.read_issues`` (``message`` names the file or sheet and the row)."""
    return dict(zip(READ_ISSUE_KEYS, (form, row, field, value, rule, severity, message)))


class StudyReadError(LatcError):
    """The input as a whole cannot be read (missing folder, not a workbook, ...).

    The only error that stops a run; its message is one line naming the input.
    Problems inside readable data become queries instead.
    """


@dataclass
class Study:
    """Raw study tables as read, before validation.

    ``tables[form]`` holds every dictionary field of the form as a column of strings (pandas
    ``str`` dtype; blank cells are missing; surrounding whitespace stripped), the extra columns
    found in the source (kept so validation can query them), and :data:`ROW`.
    Every form of the dictionary is present (empty when the source lacks it).
    """

    tables: dict[str, pd.DataFrame]
    #: form → where it came from, e.g. ``study/patients.csv`` or ``study.xlsx#patients``
    sources: dict[str, str] = field(default_factory=dict)
    #: the input path as given, and its format: ``csv`` / ``xlsx`` / ``redcap``
    path: Path | None = None
    format: str = ""
    #: forms the source did not contain at all
    missing_forms: list[str] = field(default_factory=list)
    #: problems met while reading that did not stop the read (unknown or missing columns, ragged
    #: rows, a Latin-1 file, ...): dicts with the keys of :data:`READ_ISSUE_KEYS`; validation turns
    #: them into queries. ``row`` is the source row (:data:`ROW`) or None for a whole file/sheet.
    read_issues: list[dict] = field(default_factory=list)

    def __getitem__(self, form: str) -> pd.DataFrame:
        return self.tables[form]

    @property
    def n_rows(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.tables.items()}
