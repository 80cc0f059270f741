"""Writing cBioPortal files: meta files, clinical files with their header, tab-separated tables.

cBioPortal's file formats (docs/File-Formats.md of cBioPortal, "Introduction"): every data file is
tab-separated text with an associated meta file of ``key: value`` lines. This module holds the rules
every writer shares:

* **Cells** (:func:`cell`): a missing value is written as ``NA`` (the clinical validator's null
  value, "Clinical Data" → "Data files"; ``NA`` in expression and generic-assay matrices, "Expression
  Data" → "Data file", "Generic Assay data file"); numbers without a trailing ``.0`` for whole
  values; booleans ``TRUE`` / ``FALSE`` (datatype BOOLEAN). Text never holds a tab, a line break or
  a leading ``#`` (the reader would split the row, or take it for a header line); such characters
  become spaces and the change is counted in :class:`Notes`. Text that a spreadsheet would run as a
  formula (``= + - @``) gets latc's leading ``'`` (docs/spreadsheet_safety.md).
* **Identifiers** (:func:`check_id`): PATIENT_ID and SAMPLE_ID "can only contain numbers, letters,
  points, underscores and hyphens" ("Clinical patient columns", "Clinical sample columns"); a
  SAMPLE_ID is at most 63 characters (the validator's limit).
* **Clinical files** (:func:`write_clinical`): the four ``#`` lines (display names, descriptions,
  datatypes STRING / NUMBER / BOOLEAN, priorities) above the row of attribute ids in upper case
  ("Clinical Data" → "Data files").
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from latc.errors import LatcError
from latc.io._spreadsheet import neutralise_series

__all__ = ["Attribute", "CbioportalExportError", "Notes", "cell", "check_id", "format_column", "write_clinical", "write_meta",
           "write_table", "ID_PATTERN", "MAX_SAMPLE_ID_LENGTH", "DATATYPES"]

#: PATIENT_ID / SAMPLE_ID characters (File-Formats.md, "Clinical patient columns")
ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
#: the validator's MAX_SAMPLE_STABLE_ID_LENGTH
MAX_SAMPLE_ID_LENGTH = 63
#: clinical attribute datatypes ("Clinical Data" → "Data files", row 3)
DATATYPES = ("STRING", "NUMBER", "BOOLEAN")
_ATTRIBUTE_ID = re.compile(r"^[A-Z][A-Z0-9_]*$")
_BREAKS = re.compile(r"[\t\r\n\x0b\x0c\x85\u2028\u2029]+")
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")


class CbioportalExportError(LatcError, ValueError):
    """The export cannot be written: a missing input table or column, an unusable option, an id the
    portal cannot take. The message names the file and field."""


@dataclass
class Notes:
    """What the export changed or left out, for the report (never silent): ``counts`` of cells by
    reason, and ``messages`` — one line each."""

    counts: Counter = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        if message not in self.messages:
            self.messages.append(message)

    def count(self, reason: str, n: int = 1) -> None:
        self.counts[reason] += n

    def lines(self) -> list[str]:
        out = list(self.messages)
        for reason, n in sorted(self.counts.items()):
            out.append(f"{n} cell(s): {reason}")
        return out


@dataclass(frozen=True)
class Attribute:
    """One clinical attribute: its id (upper case, the database name), display name, description,
    datatype (STRING / NUMBER / BOOLEAN) and priority ("Clinical Data" → "Data files")."""

    id: str
    name: str
    description: str
    datatype: str = "STRING"
    priority: int = 1

    def __post_init__(self) -> None:
        if not _ATTRIBUTE_ID.match(self.id):
            raise CbioportalExportError(f"clinical attribute id {self.id!r} is not upper case letters, digits and _")
        if self.datatype not in DATATYPES:
            raise CbioportalExportError(f"clinical attribute {self.id}: datatype {self.datatype!r} is not one of "
                                        f"{', '.join(DATATYPES)}")
        if self.priority < -1:
            raise CbioportalExportError(f"clinical attribute {self.id}: priority must be an integer >= -1")


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return value != value
    if isinstance(value, str):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _number(value: Any) -> str:
    x = float(value)
    if math.isnan(x):
        return "NA"
    if math.isinf(x):
        raise ValueError("infinite")
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(round(x, 6)) if abs(x) >= 1e-4 else f"{x:.6g}"


def cell(value: Any, notes: Notes | None = None, *, what: str = "", na: str = "NA") -> str:
    """``value`` as the text of one cBioPortal cell (module docstring): ``NA`` when missing,
    ``TRUE``/``FALSE``, a number without a trailing ``.0``, or text without tabs, line breaks, a
    leading ``#`` or a live formula. An infinite number becomes ``NA`` and is counted in ``notes``."""
    if _is_missing(value):
        return na
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, numbers.Number):
        try:
            return _number(value)
        except (TypeError, ValueError):
            if notes is not None:
                notes.count(f"{what or 'a number'} is infinite; written as missing")
            return na
    text = str(value)
    clean = _BREAKS.sub(" ", text).strip()
    if clean.startswith("#"):
        clean = clean.lstrip("#").strip()
    if notes is not None and (_BREAKS.search(text) or text.lstrip().startswith("#")):
        notes.count(f"{what or 'text'}: tab, line break or leading '#' replaced (they would break the file)")
    if not clean:
        return na
    if clean[0] in "=+-@\uff1d\uff0b\uff0d\uff20":
        clean = str(neutralise_series(pd.Series([clean], dtype=object)).iloc[0])
    return clean


def check_id(value: Any, *, what: str, source: str) -> str:
    """``value`` as a PATIENT_ID / SAMPLE_ID, or :class:`CbioportalExportError` naming ``source`` when
    the portal cannot take it (letters, digits, ``.``, ``_``, ``-``; a sample id ≤ 63 characters)."""
    text = "" if _is_missing(value) else str(value)
    if not ID_PATTERN.match(text):
        raise CbioportalExportError(f"{source}: {what} {text!r} has characters cBioPortal does not accept in ids "
                                    "(letters, digits, '.', '_' and '-' only)")
    if what.startswith("sample") and len(text) > MAX_SAMPLE_ID_LENGTH:
        raise CbioportalExportError(f"{source}: {what} {text!r} is longer than cBioPortal's "
                                    f"{MAX_SAMPLE_ID_LENGTH} characters")
    return text


def write_meta(path: Path, fields: dict[str, Any]) -> Path:
    """A meta file: one ``key: value`` line per field, in the given order (values on one line; tabs
    are kept, as a case list's ``case_list_ids`` is tab-separated)."""
    lines = []
    for key, value in fields.items():
        if value is None:
            continue
        text = _LINE_BREAKS.sub(" ", str(value)).strip()
        lines.append(f"{key}: {text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def format_column(values: pd.Series, notes: Notes | None = None, *, what: str = "", na: str = "NA") -> list[str]:
    """Every value of a column through :func:`cell` — once per distinct value (labels repeat)."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    text = np.array([cell(u, notes, what=what, na=na) for u in uniques] + [na], dtype=object)
    return text[codes].tolist()


def _write_rows(fh: Any, table: pd.DataFrame, notes: Notes | None, what: str, na: str) -> None:
    columns = [format_column(table.iloc[:, j], notes, what=what, na=na) for j in range(table.shape[1])]
    for row in zip(*columns):
        fh.write("\t".join(row) + "\n")


def write_table(path: Path, table: pd.DataFrame, notes: Notes | None = None, *, na: str = "NA") -> Path:
    """A tab-separated file: the header row (``table``'s columns), then one row per row of ``table``,
    each cell through :func:`cell` (a missing value written as ``na``)."""
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write("\t".join(str(c) for c in table.columns) + "\n")
        _write_rows(fh, table, notes, path.name, na)
    return path


def write_clinical(path: Path, attributes: list[Attribute], table: pd.DataFrame, notes: Notes | None = None) -> Path:
    """A clinical data file: the four ``#`` header lines (display name, description, datatype,
    priority) and the attribute ids, then one row per row of ``table`` whose columns are the
    attribute ids ("Clinical Data" → "Data files")."""
    ids = [a.id for a in attributes]
    missing = [i for i in ids if i not in table.columns]
    if missing:
        raise CbioportalExportError(f"{path.name}: no values for attribute(s) {', '.join(missing)}")
    if len(set(ids)) != len(ids):
        raise CbioportalExportError(f"{path.name}: attribute ids repeat")
    header = [
        "#" + "\t".join(cell(a.name) for a in attributes),
        "#" + "\t".join(cell(a.description) for a in attributes),
        "#" + "\t".join(a.datatype for a in attributes),
        "#" + "\t".join(str(a.priority) for a in attributes),
        "\t".join(ids),
    ]
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(header) + "\n")
        _write_rows(fh, table[ids], notes, path.name, "NA")
    return path
