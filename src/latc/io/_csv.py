"""A study as a folder of CSV files, one ``<form>.csv`` per form.

Writing: UTF-8 without byte-order mark, ``,`` delimiter, ``\\n`` line ends, minimal quoting (only
values holding a delimiter, quote or line break are quoted), canonical text values, empty cell for
missing. The whole file is assembled with pyarrow compute (no per-cell Python).

Reading: see :func:`read_csv_form`; every cell is read as text, nothing is type-inferred.
"""

from __future__ import annotations

import codecs
import csv
import re
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
#: column holding the cells of a row beyond the header's width (the row is quarantined with them)
EXTRA_CELLS = "_extra_cells"
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


#: what a reader accepts as text encodings, in the order they are tried (docs/validation.md)
ACCEPTED_ENCODINGS = "UTF-8 (with or without byte-order mark), UTF-16 (with or without byte-order mark), GB18030/GBK, Windows-1252"


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when the file looks like UTF-16 text without a byte-order mark
    (mostly-ASCII text then has a NUL in every other byte), else None."""
    head = data[:65536]
    if len(head) < 4 or len(head) % 2:
        head = head[: len(head) - len(head) % 2]
    even, odd = head[0::2], head[1::2]
    n = max(len(even), 1)
    if odd.count(0) > 0.3 * n and even.count(0) < 0.05 * n:
        return "utf-16-le"
    if even.count(0) > 0.3 * n and odd.count(0) < 0.05 * n:
        return "utf-16-be"
    return None


def _is_chinese(data: bytes) -> bool:
    """The bytes decode as GB18030 and read as Chinese: at least 80 % of the non-ASCII characters
    are in GB2312 (the 6,763 common Hanzi and CJK punctuation). Western Windows-1252 text — a
    single accented letter between ASCII letters — does not pass: ``ü`` + ``r`` is no GB2312 pair."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return False
    wide = [ch for ch in text if ord(ch) > 127]
    if not wide:
        return False
    common = 0
    for ch in wide:
        try:
            ch.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common >= 0.8 * len(wide)


def decode_csv(data: bytes, source: str) -> tuple[bytes, str | None]:
    """The file content as UTF-8 bytes without byte-order mark, and the encoding used when it was
    not UTF-8 (None for UTF-8). Raises :class:`StudyReadError` for a file that is not text.

    Tried in order: UTF-8 / UTF-16 byte-order marks; UTF-16 without a mark (NUL bytes in every
    other position); valid UTF-8; GB18030 when the bytes read as Chinese (:func:`_is_chinese`,
    what Excel writes on a Chinese Windows); Windows-1252 (Excel on a Western Windows). A file
    that is none of these is refused with a message naming the encodings to save it in.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").encode("utf-8"), "UTF-16"
        except UnicodeDecodeError as exc:
            raise StudyReadError(f"{source}: cannot decode this UTF-16 file ({exc.reason}); save it as UTF-8") from None
    if b"\x00" in data[:65536]:
        utf16 = _utf16_without_bom(data)
        if utf16 is None:
            raise StudyReadError(f"{source}: not a text CSV file (binary content)")
        try:
            return data.decode(utf16).encode("utf-8"), "UTF-16"
        except UnicodeDecodeError as exc:
            raise StudyReadError(f"{source}: cannot decode this UTF-16 file ({exc.reason}); save it as UTF-8") from None
    try:
        data.decode("utf-8")
        return data, None
    except UnicodeDecodeError:
        pass
    if _is_chinese(data):
        return data.decode("gb18030").encode("utf-8"), "GB18030"
    try:
        return data.decode("cp1252").encode("utf-8"), "Windows-1252"
    except UnicodeDecodeError:
        raise StudyReadError(
            f"{source}: the text encoding is not one latc reads ({ACCEPTED_ENCODINGS}); "
            "save the file as 'CSV UTF-8' and read it again"
        ) from None


def read_text(path: Path) -> tuple[str, str | None]:
    """A small text file (a tool's input CSV) decoded as :func:`decode_csv` does, and the encoding
    when it was not UTF-8. Raises :class:`StudyReadError` (one line) when it cannot be read or decoded."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise StudyReadError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    body, encoding = decode_csv(data, str(path))
    return body.decode("utf-8"), encoding


def encoding_issue(form_name: str, source: str, encoding: str) -> dict:
    """The read issue (warning ``file_encoding``) for a text file that was not UTF-8."""
    what = {
        "GB18030": "Excel's 'CSV' on a Chinese Windows; check that the Chinese text reads correctly",
        "UTF-16": "Excel's 'Unicode text'",
        "Windows-1252": "Excel's 'CSV' on a Western Windows; check accented letters",
    }.get(encoding, "check the text")
    return read_issue(form_name, None, None, encoding, "file_encoding", "warning",
                      f"{source}: not UTF-8; read as {encoding} ({what}) — save as 'CSV UTF-8' to avoid the guess")


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


def _parse(body: bytes, n_columns: int, delimiter: str, threads: bool,
           block_size: int = 1 << 24) -> tuple[pa.Table, list[tuple]]:
    invalid: list[tuple] = []

    def handler(row) -> str:  # noqa: ANN001 - pyarrow's InvalidRow
        invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    names = [f"c{j}" for j in range(n_columns)]
    table = pcsv.read_csv(
        pa.BufferReader(body),
        read_options=pcsv.ReadOptions(use_threads=threads, skip_rows=1, column_names=names, block_size=block_size),
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


def unclosed_quote(body: bytes, delimiter: str) -> bool:
    """Whether a quoted value opens and never closes. A quote opens a quoted value only at the
    start of a cell (RFC 4180 §2.5-2.7); a quote inside an unquoted cell (``2" wide``) is a
    literal character, as pyarrow and Excel read it. Each step is one C-level regex search."""
    d = re.escape(delimiter.encode())
    opening = re.compile(rb'(?:^|(?<=' + d + rb')|(?<=\n)|(?<=\r))"')
    closing = re.compile(rb'[^"]*(?:""[^"]*)*"')
    pos = 0
    while True:
        m = opening.search(body, pos)
        if m is None:
            return False
        c = closing.match(body, m.end())
        if c is None:
            return True
        pos = c.end()


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
        issues.append(encoding_issue(form_name, source, encoding))
    # old Mac line ends (a bare CR, Excel's "CSV (Macintosh)"): read as line breaks
    if b"\r" in body:
        body = re.sub(rb"\r(?!\n)", b"\n", body)
    # blank lines above the header: skipped, and the rows keep the numbers a spreadsheet shows
    offset = 0
    while True:
        end = body.find(b"\n")
        first = body if end < 0 else body[: end + 1]
        if first.strip(b" \t\r\n,;") or end < 0:
            break
        body, offset = body[end + 1 :], offset + 1
    if offset:
        issues.append(read_issue(form_name, 1, None, None, "blank_rows", "warning",
                                 f"{source}: {offset} blank line(s) above the header skipped (the header is row {offset + 1})"))
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
        try:
            table, invalid = _parse(body, n_cols, delimiter, threads=True)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise
            # a row longer than a parse block (a huge cell): one block for the whole file; the
            # cell itself is queried by validation (rule cell_size)
            table, invalid = _parse(body, n_cols, delimiter, threads=False, block_size=len(body) + 1)
        else:
            if invalid:  # row numbers of skipped rows are only known to a single-threaded parse
                table, invalid = _parse(body, n_cols, delimiter, threads=False)
    except pa.ArrowInvalid as exc:
        raise StudyReadError(f"{path}: cannot parse as CSV ({str(exc).splitlines()[0]})") from None
    parsed_rows, skipped_rows = _record_numbers(table.num_rows, invalid)
    parsed_rows = parsed_rows + offset
    skipped_rows = [r + offset for r in skipped_rows]
    columns = [table.column(j).to_pandas() for j in range(n_cols)]
    rows = parsed_rows
    extra_rows: list[list[str | None]] = []
    kept_rows: list[int] = []
    overflow: dict[int, str] = {}  # row → the cells beyond the header, kept for the quarantine
    for (line, text, actual), row in zip(sorted(invalid, key=lambda r: r[0]), skipped_rows):
        cells = next(csv.reader([text], delimiter=delimiter), [])
        if not "".join(cells).strip():
            continue  # a line of blanks: a blank row (reported with the others)
        if len(cells) < n_cols:
            issues.append(
                read_issue(form_name, row, None, None, "ragged_row", "warning",
                           f"{source} row {row}: {len(cells)} cells where the header has {n_cols}; "
                           "the missing cells at the end are read as blank")
            )
            cells = cells + [None] * (n_cols - len(cells))
        else:
            extra = [c for c in cells[n_cols:] if c.strip()]
            issues.append(
                read_issue(form_name, row, EXTRA_CELLS, None, "ragged_row", "error",
                           f"{source} row {row}: {len(cells)} cells where the header has {n_cols} — values "
                           f"may be shifted (an unquoted {_DELIMITER_NAMES[delimiter]} in a value?); "
                           f"{len(extra)} extra non-blank value(s) kept in the quarantine's {EXTRA_CELLS} column")
            )
            overflow[row] = delimiter.join(cells[n_cols:])
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
    if overflow:
        names = [*names, EXTRA_CELLS]
        columns.append(pd.Series(pd.Series(rows).map(overflow).to_numpy(), dtype="str"))
    if body.count(b'"') % 2 and len(rows) and unclosed_quote(body, delimiter):
        # an opened quote that never closes swallows the rest of the file into the last row
        last = int(np.max(rows))
        issues.append(
            read_issue(form_name, last, None, None, "unclosed_quote", "error",
                       f"{source} row {last}: a quote (\") opened in this row is never closed, so the rest of the "
                       "file was read as part of this row — close the quote")
        )
    return RawForm(names=names, columns=columns, rows=np.asarray(rows, dtype=np.int64), issues=issues)
