"""ISO dates as a study record may hold them: one parser for every reader and check.

A study date lies between :data:`DATE_MIN` and :data:`DATE_MAX` (docs/validation.md "Dates").
Earlier or later values are placeholders (``9999-12-31``, ``0001-01-01``, ``1900-01-01`` from an
empty Excel date cell) or typing errors: they are reported, never parsed — pandas'
``datetime64[ns]`` ends on 2262-04-11, and converting a year such as 9999 raises instead of
giving a missing value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATE_MIN = "1900-01-02"
DATE_MAX = "2199-12-31"
#: an ISO date's shape (zero-padded month and day)
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"


def parse_iso_dates(text: pd.Series, shaped: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``YYYY-MM-DD`` text into ``datetime64[ns]`` (NaT where not a date).

    ``shaped``: where the text already has the date's shape (computed here when None).
    Returns the values and the mask of shaped values outside :data:`DATE_MIN` … :data:`DATE_MAX`
    (NaT in the values). ISO text compares as the date it names, so the range is checked on the
    text before anything is converted.
    """
    s = text.astype("str")
    if shaped is None:
        shaped = s.str.fullmatch(DATE_RE[1:-1]).fillna(False).to_numpy(dtype=bool)
    in_range = shaped & (s >= DATE_MIN).fillna(False).to_numpy(dtype=bool) & (s <= DATE_MAX).fillna(False).to_numpy(dtype=bool)
    values = pd.to_datetime(s.where(in_range), format="%Y-%m-%d", errors="coerce")
    return np.asarray(values.to_numpy(), dtype="datetime64[ns]"), shaped & ~in_range
