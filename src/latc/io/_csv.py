"""A study as a folder of CSV files, one ``<form>.csv`` per form.

Writing: UTF-8 without byte-order mark, ``,`` delimiter, ``\\n`` line ends, minimal quoting (only
values holding a delimiter, quote or line break are quoted), canonical text values, empty cell for
missing. The whole file is assembled with pyarrow compute (no per-cell Python).

Reading: see :func:`read_csv_form`; every cell is read as text, nothing is type-inferred.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from latc.io._study import ROW, StudyReadError

_NEEDS_QUOTES = r'[,"\r\n]'


def _quoted(values: pa.Array) -> pa.Array:
    """Quote (CSV style, doubling inner quotes) only the values that need it."""
    values = pc.cast(values, pa.large_string())
    needs = pc.fill_null(pc.match_substring_regex(values, _NEEDS_QUOTES), False)
    if not pc.any(needs).as_py():
        return values
    q, empty = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    escaped = pc.binary_join_element_wise(q, pc.replace_substring(values, '"', '""'), q, empty)
    return pc.if_else(needs, escaped, values)


def _arrow_strings(col: pd.Series) -> pa.Array:
    """A pandas string column as an Arrow large_string array (zero-copy for the ``str`` dtype)."""
    arr = pa.array(col.astype("str"), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.cast(arr, pa.large_string())


def csv_bytes(table: pd.DataFrame) -> bytes:
    """The CSV file content (header + rows) of a table of strings (missing → empty cell)."""
    header = ",".join(_quoted(pa.array([str(c)], pa.large_string()))[0].as_py() for c in table.columns) + "\n"
    if len(table) == 0:
        return header.encode("utf-8")
    cols = [_quoted(_arrow_strings(table[c])) for c in table.columns]
    sep = pa.scalar(",", pa.large_string())
    cols = [pc.fill_null(c, "") for c in cols]
    if len(cols) == 1:
        lines = cols[0]
    else:
        lines = pc.binary_join_element_wise(*cols, sep)
    lines = pc.binary_join_element_wise(lines, pa.scalar("", pa.large_string()), pa.scalar("\n", pa.large_string()))
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    # the values buffer of a string array without nulls is the concatenation of its values
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    body = lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    return header.encode("utf-8") + body


def write_csv_table(table: pd.DataFrame, path: Path) -> None:
    """Write one table of canonical strings as a CSV file."""
    path.write_bytes(csv_bytes(table))
