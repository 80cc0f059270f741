"""A study as a folder of CSV files, one ``<form>.csv`` per form.

Writing: UTF-8 without byte-order mark, ``,`` delimiter, ``\\n`` line ends, minimal quoting (only
values holding a delimiter, quote or line break are quoted), canonical text values, empty cell for
missing. The whole file is assembled with pyarrow compute (no per-cell Python).

Reading: see :func:`read_csv_form`; every cell is read as text, nothing is type-inferred.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from latc.io._study import StudyReadError, read_issue

_NEEDS_QUOTES = r'[,"\r\n]'


def _quoted(values: pa.Array) -> pa.Array:
    """Quote (CSV style, doubling inner quotes) only the values that need it."""
    values = pc.cast(values, pa.large_string())
    data = values.buffers()[2]
    if data is None:
        return values
    raw = np.frombuffer(data, dtype=np.uint8)
    # fast path: no byte of the values buffer is a delimiter, quote or line break
    if not ((raw == 44) | (raw == 34) | (raw == 10) | (raw == 13)).any():
        return values
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


# --------------------------------------------------------------------------------------- reading

_DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


@dataclass
class RawForm:
    """What a format reader found for one form, before normalisation (see ``_read.py``).

    ``names``: the header as found; ``columns``: one column of strings per header cell (missing
    allowed); ``rows``: the source row number (:data:`ROW`) of every data row.
    """

    names: list[str]
    columns: list[pd.Series]
    rows: np.ndarray
    issues: list[dict] = field(default_factory=list)


def decode_csv(data: bytes, source: str) -> tuple[bytes, str | None]:
    """The file content as UTF-8 bytes without byte-order mark, and the encoding used when it was
    not UTF-8 (None for UTF-8). Raises :class:`StudyReadError` for a file that is not text."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").encode("utf-8"), "UTF-16"
        except UnicodeDecodeError as exc:
            raise StudyReadError(f"{source}: cannot decode this UTF-16 file ({exc.reason})") from None
    if b"\x00" in data[:65536]:
        raise StudyReadError(f"{source}: not a text CSV file (binary content)")
    try:
        data.decode("utf-8")
        return data, None
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252").encode("utf-8"), "Windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8"), "Latin-1"


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV file, from its header line: the most frequent of ``,`` ``;`` tab
    outside quotes (``,`` when none occurs)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _header_line(text: bytes) -> str:
    end = text.find(b"\n")
    line = text[: end if end >= 0 else len(text)].decode("utf-8")
    return line.rstrip("\r")


def _parse(body: bytes, n_columns: int, delimiter: str, threads: bool) -> tuple[pa.Table, list[tuple]]:
    invalid: list[tuple] = []

    def handler(row) -> str:  # noqa: ANN001 - pyarrow's InvalidRow
        invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    names = [f"c{j}" for j in range(n_columns)]
    table = pcsv.read_csv(
        pa.BufferReader(body),
        read_options=pcsv.ReadOptions(use_threads=threads, skip_rows=1, column_names=names, block_size=1 << 24),
        parse_options=pcsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=handler
        ),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, invalid


def _record_numbers(n_parsed: int, invalid: list[tuple]) -> tuple[np.ndarray, list[int]]:
    """Source row numbers of the parsed rows and of the skipped (invalid) rows.

    pyarrow numbers a skipped row by its record (header = 1), as a spreadsheet shows rows — a
    quoted value with a line break does not shift later rows; parsed rows fill the other numbers.
    """
    skipped = sorted(int(r[0]) for r in invalid)
    every = np.arange(2, n_parsed + len(skipped) + 2, dtype=np.int64)
    return np.setdiff1d(every, np.asarray(skipped, dtype=np.int64), assume_unique=True), skipped


def read_csv_form(path: Path, form_name: str) -> RawForm | None:
    """Read one form's CSV file as text (no type inference).

    Handles a UTF-8 byte-order mark silently; Windows-1252/Latin-1 and UTF-16 files, a ``;`` or
    tab delimiter and rows with too few or too many cells become read issues. Returns None for an
    empty (0-byte) file. Raises :class:`StudyReadError` only for a file that cannot be decoded.
    """
    source = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StudyReadError(f"{path}: cannot read ({exc.strerror})") from None
    body, encoding = decode_csv(raw, source)
    if not body.strip():
        return None
    issues: list[dict] = []
    if encoding:
        issues.append(
            read_issue(form_name, None, None, encoding, "file_encoding", "warning",
                       f"{source}: not UTF-8; read as {encoding} — check accented letters, and save as UTF-8")
        )
    header_text = _header_line(body)
    delimiter = sniff_delimiter(header_text)
    if delimiter != ",":
        issues.append(
            read_issue(form_name, None, None, _DELIMITER_NAMES[delimiter], "csv_delimiter", "warning",
                       f"{source}: cells separated by {_DELIMITER_NAMES[delimiter]}s, not commas — read as such; "
                       "numbers with a decimal comma will be queried")
        )
    names = next(csv.reader([header_text], delimiter=delimiter))
    n_cols = len(names)
    try:
        table, invalid = _parse(body, n_cols, delimiter, threads=True)
        if invalid:  # row numbers of skipped rows are only known to a single-threaded parse
            table, invalid = _parse(body, n_cols, delimiter, threads=False)
    except pa.ArrowInvalid as exc:
        raise StudyReadError(f"{path}: cannot parse as CSV ({str(exc).splitlines()[0]})") from None
    parsed_rows, skipped_rows = _record_numbers(table.num_rows, invalid)
    columns = [table.column(j).to_pandas() for j in range(n_cols)]
    rows = parsed_rows
    extra_rows: list[list[str | None]] = []
    kept_rows: list[int] = []
    for (line, text, actual), row in zip(sorted(invalid, key=lambda r: r[0]), skipped_rows):
        cells = next(csv.reader([text], delimiter=delimiter), [])
        if not "".join(cells).strip():
            continue  # a line of blanks: a blank row (reported with the others)
        if len(cells) < n_cols:
            issues.append(
                read_issue(form_name, row, None, text, "ragged_row", "warning",
                           f"{source} row {row}: {len(cells)} cells where the header has {n_cols}; "
                           "the missing cells at the end are read as blank")
            )
            cells = cells + [None] * (n_cols - len(cells))
        else:
            extra = [c for c in cells[n_cols:] if c.strip()]
            issues.append(
                read_issue(form_name, row, None, delimiter.join(cells[n_cols:]), "ragged_row", "error",
                           f"{source} row {row}: {len(cells)} cells where the header has {n_cols} — values "
                           f"may be shifted (an unquoted {_DELIMITER_NAMES[delimiter]} in a value?); "
                           f"{len(extra)} extra non-blank value(s) ignored")
            )
            cells = cells[:n_cols]
        extra_rows.append(cells)
        kept_rows.append(row)
    if extra_rows:
        order = np.argsort(np.concatenate([parsed_rows, kept_rows]), kind="stable")
        columns = [
            pd.concat([col, pd.Series([r[j] for r in extra_rows], dtype="str")], ignore_index=True).iloc[order].reset_index(drop=True)
            for j, col in enumerate(columns)
        ]
        rows = np.concatenate([parsed_rows, kept_rows])[order]
    if body.count(b'"') % 2 and len(rows):
        # an opened quote that never closes swallows the rest of the file into the last row
        last = int(np.max(rows))
        issues.append(
            read_issue(form_name, last, None, None, "unclosed_quote", "error",
                       f"{source} row {last}: a quote (\") opened in this row is never closed, so the rest of the "
                       "file was read as part of this row — close the quote")
        )
    return RawForm(names=names, columns=columns, rows=np.asarray(rows, dtype=np.int64), issues=issues)
