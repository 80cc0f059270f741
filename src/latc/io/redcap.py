"""Study records as a REDCap flat "raw" export (``redcap_export.csv``), both directions.

REDCap exports a project with repeating instruments as one CSV ("CSV / Microsoft Excel (raw
data)"): columns ``record_id``, [``redcap_event_name``,] ``redcap_repeat_instrument``,
``redcap_repeat_instance``, ``redcap_data_access_group``, then every form's variables followed by
``<form>_complete``. A record's non-repeating forms share one row with blank repeat columns; each
instance of a repeating instrument is a row of its own carrying the instrument name and instance
1..n. Variable names follow :func:`latc.dictionary.redcap.redcap_naming` (``patient_id`` is the
record id; ``center_id`` lives in the first form; clashing names carry the form prefix).

Writing (:func:`write_redcap_export`) produces ``redcap_export.csv`` and the project's
``redcap_data_dictionary.csv``. The center is also written as the data access group (lowercase,
as REDCap's unique group names are). A form with several rows for one patient although REDCap
holds it once per record (a duplicate, which REDCap itself never exports) is written as an extra
record row, so the reader hands the duplicate on to validation.

Reading (:func:`read_redcap_export`) returns the raw :class:`~latc.io.Study` of the contract —
the same tables as reading a CSV folder of the same study — with ``_row`` the line of the record
in the export (header = line 1). Documented representations:

* ``patient_id`` of every form is the record id; ``center_id`` of the forms other than the first
  is the record's center from the first form; a blank center is taken from the data access group
  (upper-cased: REDCap's unique group names are lowercase);
* longitudinal projects (``redcap_event_name``): a non-repeating form in several events gives one
  row per event; repeating instruments within events one row per instance; the event name itself
  is not kept (the dictionary's dates carry the timing);
* checkbox columns ``<variable>___<code>`` of a dictionary field become that field's value: the
  ticked code, several ticked codes joined by ``;`` (which validation then queries), none ticked →
  missing; checkbox columns of unknown variables are kept as extra columns;
* ``<form>_complete`` and survey columns are ignored; columns the dictionary does not know are kept
  as extra columns of the form they stand in (the form whose ``_complete`` column follows them);
  columns of instruments the dictionary does not know are dropped with a read issue; *rows* of a
  repeating instrument the dictionary does not know (a typo such as ``lab``) become a table of
  their own that validation quarantines row by row (rule ``unknown_form``), never dropped;
* REDCap's own columns are checked (each bad line's rows are quarantined): event names must be
  unique event names (``<event>_arm_<n>``, and events of ``redcap_event_mapping.csv`` when that
  instrument–event mapping export lies beside the export; rule ``redcap_event``), repeat
  instances positive whole numbers (``redcap_instance``), checkbox cells 0/1 (``redcap_checkbox``);
  an export whose first column is not the record id is refused (it would misattribute every row);
* yes/no fields: ``yes``/``true`` → 1 and ``no``/``false`` → 0 (case-insensitive), as every reader.

A file that is not a REDCap raw export (unreadable, no record id, a "labels" export whose headers
or values are labels instead of variable names and raw codes) raises
:class:`~latc.io.StudyReadError` with a one-line message naming the file.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from latc.dictionary import Dictionary, Form, load_dictionary
from latc.dictionary.redcap import (
    C_ANNOTATION,
    C_FORM,
    C_TYPE,
    C_VAR,
    CENTER_FIELD,
    CHECKBOX_SEP,
    RECORD_FIELD,
    RECORD_ID,
    RedcapDictionaryError,
    _read_dictionary_frame,
    parse_annotation,
    redcap_naming,
    write_redcap_data_dictionary,
)
from latc.io._canonical import to_canonical_text
from latc.io._study import ROW, Study, StudyReadError, read_issue

EXPORT_FILE = "redcap_export.csv"
DICTIONARY_FILE = "redcap_data_dictionary.csv"
EVENT = "redcap_event_name"
REPEAT_INSTRUMENT = "redcap_repeat_instrument"
REPEAT_INSTANCE = "redcap_repeat_instance"
DAG = "redcap_data_access_group"
COMPLETE_SUFFIX = "_complete"
#: separator of several ticked checkbox codes in one value
MULTI_CODE_SEP = ";"
_CONTROL = (EVENT, REPEAT_INSTRUMENT, REPEAT_INSTANCE, DAG, "redcap_survey_identifier")
#: column headers of REDCap's "labels" export
_LABEL_HEADERS = {"record id", "event name", "repeat instrument", "repeat instance", "data access group", "complete?"}
_STATUS_LABELS = {"Incomplete", "Unverified", "Complete"}
_VAR_RE = re.compile(r"^[a-z][a-z0-9_]*$")


# ----------------------------------------------------------------------------------------------
# writing


def _form_table(table: pd.DataFrame | None, form: Form) -> pd.DataFrame:
    """A form's rows in canonical text, every dictionary field present (NA when absent)."""
    if table is None:
        table = pd.DataFrame(columns=form.field_names)
    text = to_canonical_text(table.drop(columns=[ROW], errors="ignore"), form)
    for name in form.field_names:
        if name not in text.columns:
            text[name] = pd.Series(pd.NA, index=text.index, dtype="str")
    return text.reset_index(drop=True)


def _export_table(tables: dict[str, pd.DataFrame], d: Dictionary) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """The flat export as a pyarrow table (string columns, null = blank) and each input row's line.

    Vectorised: the row layout (record, block, instance) is built from key arrays, sorted once,
    and every export column is one ``take`` from its form's column."""
    naming = redcap_naming(d)
    forms = list(d.forms.values())
    text = {f.name: _form_table(tables.get(f.name), f) for f in forms}
    pid = {n: t[RECORD_FIELD].fillna("").astype(str).to_numpy(dtype=object) for n, t in text.items()}

    all_pids = np.concatenate([pid[f.name] for f in forms]) if forms else np.array([], dtype=object)
    order_ids, first = np.unique(all_pids, return_index=True)
    rank_of = pd.Series(np.argsort(np.argsort(first)), index=pd.Index(order_ids, dtype=object))  # first appearance
    centers = pd.concat(
        [pd.DataFrame({"pid": pid[n], "center": t[CENTER_FIELD].to_numpy(dtype=object, na_value=None)}) for n, t in text.items() if CENTER_FIELD in t],
        ignore_index=True,
    ).dropna(subset=["center"])
    record_center = centers.drop_duplicates("pid").set_index("pid")["center"]

    # row layout: non-repeating forms share the record's row (one per occurrence), repeating forms
    # have a row per instance
    key_pid: list[np.ndarray] = []
    key_block: list[np.ndarray] = []
    key_seq: list[np.ndarray] = []
    where: dict[str, np.ndarray] = {}  # form → global layout row of each input row
    base = [f for f in forms if not f.repeating]
    n_rows = 0
    if base:
        keys = [pd.MultiIndex.from_arrays([pid[f.name], pd.Series(pid[f.name]).groupby(pid[f.name]).cumcount().to_numpy()]) for f in base]
        union = keys[0]
        for k in keys[1:]:
            union = union.append(k)
        union = union.drop_duplicates()
        for f, k in zip(base, keys):
            where[f.name] = union.get_indexer(k)
        key_pid.append(union.get_level_values(0).to_numpy(dtype=object))
        key_seq.append(union.get_level_values(1).to_numpy(dtype=np.int64))
        key_block.append(np.zeros(len(union), dtype=np.int64))
        n_rows = len(union)
    for i, f in enumerate((f for f in forms if f.repeating), start=1):
        n = len(pid[f.name])
        where[f.name] = np.arange(n_rows, n_rows + n)
        key_pid.append(pid[f.name])
        key_seq.append(pd.Series(pid[f.name]).groupby(pid[f.name]).cumcount().to_numpy(dtype=np.int64))
        key_block.append(np.full(n, i, dtype=np.int64))
        n_rows += n
    lay_pid = np.concatenate(key_pid) if key_pid else np.array([], dtype=object)
    lay_seq = np.concatenate(key_seq) if key_seq else np.array([], dtype=np.int64)
    lay_block = np.concatenate(key_block) if key_block else np.array([], dtype=np.int64)
    lay_rank = rank_of.reindex(lay_pid).to_numpy(dtype=np.int64) if n_rows else np.array([], dtype=np.int64)
    order = np.lexsort((lay_seq, lay_block, lay_rank))
    line_of = np.empty(n_rows, dtype=np.int64)
    line_of[order] = np.arange(n_rows) + 2
    rows = {f.name: line_of[where[f.name]] if len(where[f.name]) else np.array([], dtype=np.int64) for f in forms}

    def nullable(values: np.ndarray) -> pa.Array:
        return pa.array(values, type=pa.string(), from_pandas=True)

    sorted_pid = lay_pid[order]
    repeating_names = np.array([None] + [f.name for f in forms if f.repeating], dtype=object)
    block_sorted = lay_block[order]
    instance = np.where(block_sorted > 0, (lay_seq[order] + 1).astype(str), None)
    dag = pd.Series(sorted_pid, dtype=object).map(record_center).astype("str").str.lower().to_numpy(dtype=object, na_value=None)
    out: dict[str, pa.Array] = {
        RECORD_ID: nullable(np.where(sorted_pid == "", None, sorted_pid)),
        REPEAT_INSTRUMENT: nullable(repeating_names[block_sorted]),
        REPEAT_INSTANCE: nullable(instance),
        DAG: nullable(dag),
    }
    for form in forms:
        t = text[form.name]
        inverse = np.full(n_rows, -1, dtype=np.int64)
        inverse[where[form.name]] = np.arange(len(t))
        take = inverse[order]
        indices = pa.array(take, type=pa.int64(), mask=take < 0)
        fieldnames = set(form.field_names)
        block: dict[str, str] = {}  # export column → table column
        for f in form.fields:
            var = naming.variable[(form.name, f.name)]
            if naming.owner[var] == form.name and var != RECORD_ID:
                block[var] = f.name
        for extra in (c for c in t.columns if c not in fieldnames):
            name = str(extra).lower()
            while name in block or name in out or name in naming.owner:
                name = f"{form.redcap_prefix or form.name}_{name}"
            block[name] = extra
        for var, col in block.items():
            values = pa.array(t[col].to_numpy(dtype=object, na_value=None), type=pa.string())
            out[var] = values.take(indices)
        out[f"{form.name}{COMPLETE_SUFFIX}"] = nullable(np.where(take >= 0, "0", None))
    return pa.table(out), rows


def redcap_export_frame(
    tables: dict[str, pd.DataFrame], dictionary: Dictionary | None = None
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The flat REDCap raw export of study tables, in memory.

    Returns the export (``str`` columns, missing = NA, in REDCap's column order) and, per form,
    the export line (header = line 1) of each input row, aligned with the input table's rows —
    e.g. for a generator that must report the ``_row`` of rows it altered.
    """
    d = dictionary if dictionary is not None else load_dictionary()
    table, rows = _export_table(tables, d)
    frame = pd.DataFrame({c: pd.Series(table.column(c).to_pandas(), dtype="str") for c in table.column_names})
    return frame, rows


def redcap_export_lines(tables: dict[str, pd.DataFrame], dictionary: Dictionary | None = None) -> dict[str, np.ndarray]:
    """Per form, the line of ``redcap_export.csv`` (header = line 1) that :func:`write_redcap_export`
    gives each row of ``tables`` (aligned with the table's rows): the ``_row`` the reader reports,
    for a caller that must name rows of the written export (e.g. injected errors)."""
    d = dictionary if dictionary is not None else load_dictionary()
    return _export_table(tables, d)[1]


def _write_csv(table: pa.Table, path: Path) -> None:
    """CSV with an unquoted header, minimal quoting, empty cells for missing (pyarrow, no per-cell Python)."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(table.column_names)
    body = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
    with open(path, "wb") as fh:
        fh.write(header.getvalue().encode("utf-8"))
        pcsv.write_csv(body, fh, write_options=pcsv.WriteOptions(include_header=False, quoting_style="needed"))


def write_redcap_export(
    tables: dict[str, pd.DataFrame], out_dir: str | Path, dictionary: Dictionary | None = None
) -> Path:
    """Write study tables as REDCap's flat raw export plus the project's data dictionary.

    ``tables``: form → table, in canonical text or typed (datetime64, Int64, Float64, boolean);
    missing forms are simply absent from the export. Writes ``out_dir/redcap_export.csv`` and
    ``out_dir/redcap_data_dictionary.csv``; returns ``out_dir``. Layout: module docstring.
    """
    d = dictionary if dictionary is not None else load_dictionary()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table, _ = _export_table(tables, d)
    _write_csv(table, out_dir / EXPORT_FILE)
    write_redcap_data_dictionary(d, out_dir / DICTIONARY_FILE)
    return out_dir


# ----------------------------------------------------------------------------------------------
# reading


def _read_raw(path: Path) -> tuple[pd.DataFrame, str | None]:
    """Every cell as text, stripped, blank → NA; the index is the record's position (line - 2).
    Also returns the text encoding when it was not UTF-8 (see :func:`latc.io._csv.decode_csv`)."""
    from latc.io._csv import decode_csv

    if not path.is_file():
        raise StudyReadError(f"{path}: REDCap export not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StudyReadError(f"{path}: cannot read ({exc.strerror})") from None
    body, encoding = decode_csv(data, str(path))
    text = body.decode("utf-8")
    try:
        header = next(csv.reader(io.StringIO(text[: text.find("\n") + 1 if "\n" in text else len(text)], newline="")), None)
    except csv.Error as exc:  # e.g. a bare carriage return inside the header
        raise StudyReadError(f"{path}: the header line cannot be read as CSV ({exc}); export the records again") from None
    if not header or not any(h.strip() for h in header):
        raise StudyReadError(f"{path}: empty file, not a REDCap export")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise StudyReadError(f"{path}: repeated column(s) {', '.join(dup)}; not a REDCap export")
    names = [f"c{i}" for i in range(len(header))]
    try:
        table = pcsv.read_csv(
            pa.BufferReader(body),
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=max(1 << 24, len(body) + 1)),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.large_string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StudyReadError(f"{path}: cannot read as a REDCap export ({reason})") from None
    cols = {}
    for name, h in zip(names, header):
        col = pc.utf8_trim_whitespace(table.column(name))
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.large_string()), col)
        if h.startswith("\ufeff"):
            h = h[1:]
        cols[h.strip()] = pd.Series(col.to_pandas(), dtype="str")
    return (pd.DataFrame(cols, index=pd.RangeIndex(table.num_rows)) if cols else pd.DataFrame()), encoding


def _labels_error(path: Path, detail: str) -> StudyReadError:
    return StudyReadError(
        f"{path}: this looks like a REDCap export of labels ({detail}); export the data as "
        "'CSV / Microsoft Excel (raw data)' with variable names as headers"
    )


class _Mapping:
    """Which export column fills which (form, field), and which columns are extras of a form."""

    def __init__(self, d: Dictionary, columns: list[str], dictionary_csv: Path | None, path: Path):
        naming = redcap_naming(d)
        self.d = d
        self.base = naming.base_form
        self.record = columns[0]
        self.field_var: dict[tuple[str, str], str] = dict(naming.variable)
        self.known_forms: set[str] = set(d.forms)
        self.checkbox_vars: set[str] = set()
        dict_form: dict[str, str] = {}
        #: the project's record id variable: the first variable of its REDCap data dictionary
        self.dictionary_record: str | None = None
        if dictionary_csv is not None:
            try:
                frame = _read_dictionary_frame(Path(dictionary_csv))
            except RedcapDictionaryError as exc:
                raise StudyReadError(str(exc)) from exc
            if len(frame):
                self.dictionary_record = str(frame[C_VAR].iloc[0])
            for var, form, ftype, ann in frame[[C_VAR, C_FORM, C_TYPE, C_ANNOTATION]].itertuples(index=False):
                self.known_forms.add(form)
                dict_form[var] = form
                if ftype.lower() == "checkbox":
                    self.checkbox_vars.add(var)
                name = str(parse_annotation(ann).get("NAME") or var)
                if form in d.forms and name in d[form].field_names:
                    targets = [(f, name) for f in d.forms if name in d[f].field_names] if name == CENTER_FIELD else [(form, name)]
                    for t in targets:
                        self.field_var[t] = var
        for f in d.forms:
            if RECORD_FIELD in d[f].field_names:
                self.field_var[(f, RECORD_FIELD)] = self.record
        self.center_var = self.field_var.get((self.base, CENTER_FIELD))
        var_targets: dict[str, list[tuple[str, str]]] = {}
        for key, var in self.field_var.items():
            var_targets.setdefault(var, []).append(key)
        # checkbox groups: <var>___<code> of a known variable
        self.checkbox: dict[str, dict[str, str]] = {}
        plain: list[str] = []
        for c in columns[1:]:
            base_var, sep, code = c.partition(CHECKBOX_SEP)
            if c not in var_targets and sep and base_var in var_targets:
                self.checkbox.setdefault(base_var, {})[code] = c
            else:
                plain.append(c)
        # extras: columns no dictionary field holds, assigned to a form
        self.extras: dict[str, list[str]] = {}
        self.dropped: list[str] = []
        pending: list[str] = []
        self.unassigned: list[str] = []
        for c in plain:
            if c in _CONTROL or c in var_targets:
                continue
            if c.endswith(COMPLETE_SUFFIX):  # a form's status column closes the form's block
                owner = c[: -len(COMPLETE_SUFFIX)]
                for p in pending:
                    if owner in d.forms:
                        self.extras.setdefault(owner, []).append(p)
                    else:
                        self.dropped.append(p)
                pending = []
                continue
            if c.endswith("_timestamp") and c[: -len("_timestamp")] in self.known_forms | set(d.forms):
                continue  # survey completion time
            form = dict_form.get(c)
            if form is not None:
                if form in d.forms:
                    self.extras.setdefault(form, []).append(c)
                else:
                    self.dropped.append(c)
            else:
                pending.append(c)
        self.unassigned = pending
        self.var_targets = var_targets

    def own_columns(self, form: Form, present: set[str]) -> list[str]:
        """Export columns whose values make a non-repeating row hold this form."""
        cols = []
        for f in form.fields:
            var = self.field_var[(form.name, f.name)]
            if f.name == RECORD_FIELD or (f.name == CENTER_FIELD and form.name != self.base):
                continue
            if var in present:
                cols.append(var)
            cols += list(self.checkbox.get(var, {}).values())
        return cols + self.extras.get(form.name, [])


def _collapse_checkbox(raw: pd.DataFrame, options: dict[str, str], codes: list[str]) -> pd.Series:
    """The value of a dictionary field exported as checkbox columns: ticked code(s), else NA."""
    by_lower = {c.lower(): c for c in codes}
    out = pd.Series("", index=raw.index, dtype="str")
    for opt, col in options.items():
        code = by_lower.get(opt.lower(), opt)
        ticked = raw[col].fillna("0").isin(["1", "Checked"])
        out = out.where(~ticked, out.where(out == "", out + MULTI_CODE_SEP) + code)
    return out.mask(out == "")


def _check_labels(path: Path, raw: pd.DataFrame, mapping: _Mapping) -> None:
    d = mapping.d
    for c in raw.columns:
        if c.endswith(COMPLETE_SUFFIX) and raw[c].isin(list(_STATUS_LABELS)).any():
            value = raw[c][raw[c].isin(list(_STATUS_LABELS))].iloc[0]
            raise _labels_error(path, f"{c} = {value!r}")
    if REPEAT_INSTRUMENT in raw.columns:
        values = raw[REPEAT_INSTRUMENT].dropna()
        labels = {form.label.lower(): form.name for form in d.forms.values()}
        # a labels export names instruments by their labels; one odd name is a typo (its rows are
        # quarantined as an unknown instrument), most names odd is the wrong kind of export
        as_label = [v for v in values.unique() if v not in mapping.known_forms and v.lower() in labels]
        not_names = ~values.str.match(_VAR_RE.pattern) & ~values.isin(list(mapping.known_forms))
        if as_label:
            raise _labels_error(path, f"{REPEAT_INSTRUMENT} = {as_label[0]!r}")
        if len(values) and not_names.sum() > 0.5 * len(values):
            raise _labels_error(path, f"{REPEAT_INSTRUMENT} = {values[not_names].iloc[0]!r}")
    n_cells = n_labels = 0
    example = ""
    for var, targets in mapping.var_targets.items():
        if var not in raw.columns or var == mapping.record:
            continue
        f = d[targets[0][0]][targets[0][1]]
        if f.type not in ("choice", "yesno"):
            continue
        values = raw[var].dropna()
        labels = [lab for code, lab in f.choices.items() if lab not in f.choices]
        is_label = values.isin(labels)
        n_cells += len(values)
        n_labels += int(is_label.sum())
        if not example and is_label.any():
            example = f"{var} = {values[is_label].iloc[0]!r}"
    if n_cells and n_labels > 0.5 * n_cells:
        raise _labels_error(path, example)


def _check_record_column(path: Path, columns: list[str], mapping: _Mapping) -> None:
    """REDCap exports start with the record id; refuse an export whose first column is something else.

    Without this an export that lost its record id column would be read with another column as
    the patient id and every row quarantined for reasons that hide the cause."""
    first = columns[0]
    expected = mapping.dictionary_record or RECORD_ID
    if first == expected:
        return
    if first in _CONTROL or first.endswith(COMPLETE_SUFFIX) or first.partition(CHECKBOX_SEP)[1]:
        role = "a REDCap control column" if first in _CONTROL else "not a record id"
    elif any(name != RECORD_FIELD for _, name in mapping.var_targets.get(first, [])):
        form, name = next(t for t in mapping.var_targets[first] if t[1] != RECORD_FIELD)
        role = f"field '{name}' of form '{form}'"
    elif mapping.dictionary_record is None and first not in columns[1:]:
        return  # a project whose record id has another name, and no data dictionary to say otherwise
    else:
        role = "not the project's record id"
    where = f"the record id '{expected}'" + (" (the first variable of redcap_data_dictionary.csv)" if mapping.dictionary_record else "")
    raise StudyReadError(
        f"{path}: no record id column — a REDCap export starts with {where}, but its first column is "
        f"'{first}' ({role}); export the records again with the record id"
    )


#: REDCap's unique event names: the event's name, lowercased, and its arm
_EVENT_RE = re.compile(r"^[a-z0-9][a-z0-9_]*_arm_[0-9]+[a-z]?$")
_INSTANCE_RE = re.compile(r"^[1-9][0-9]{0,5}$")
_CHECKBOX_VALUES = {"0", "1", "Checked", "Unchecked"}
EVENT_MAPPING_FILES = ("redcap_event_mapping.csv", "redcap_instrument_designations.csv")


def read_event_mapping(path: Path) -> dict[str, set[str]] | None:
    """A REDCap instrument–event mapping export (``arm_num, unique_event_name, form``): event →
    forms designated for it; None when the file is absent or not such a mapping."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if not {"unique_event_name", "form"} <= set(frame.columns):
        return None
    out: dict[str, set[str]] = {}
    for ev, form in frame[["unique_event_name", "form"]].itertuples(index=False):
        out.setdefault(ev.strip(), set()).add(form.strip())
    return out


def _line_issues(tables: dict[str, pd.DataFrame], bad: pd.Series, field: str, values: pd.Series, rule: str,
                 message: pd.Series) -> list[dict]:
    """One error read issue per form row coming from a bad export line (a record's shared line
    feeds several forms), so validation quarantines each of them with the line's reason."""
    lines = (bad[bad].index.to_numpy() + 2).astype(np.int64)
    if not len(lines):
        return []
    msg_by_line = pd.Series(message[bad].to_numpy(), index=lines)
    val_by_line = pd.Series(values[bad].to_numpy(), index=lines)
    out = []
    for name, t in tables.items():
        hit = t[ROW].isin(lines).to_numpy()
        for line in t[ROW].to_numpy()[hit]:
            v = val_by_line[line]
            out.append(read_issue(name, int(line), field, None if pd.isna(v) else str(v), rule, "error", str(msg_by_line[line])))
    return out


def _layout_issues(src: str, raw: pd.DataFrame, tables: dict[str, pd.DataFrame], mapping: _Mapping,
                   events: dict[str, set[str]] | None, forms_by_line: dict[int, str]) -> list[dict]:
    """Errors in REDCap's own columns: unknown or malformed event names, repeat instances that are
    not positive whole numbers, checkbox cells that hold neither 0 nor 1."""
    issues: list[dict] = []
    if EVENT in raw.columns:
        ev = raw[EVENT]
        present = ev.notna()
        malformed = present & ~ev.fillna("").str.match(_EVENT_RE.pattern)
        msg = (src + " line " + (raw.index.to_series() + 2).astype(str) + ": event '" + ev.fillna("")
               + "' is not a REDCap unique event name (<event>_arm_<n>) — the record's timing is unknown; "
               "correct the event in REDCap and export again")
        issues += _line_issues(tables, malformed, EVENT, ev, "redcap_event", msg)
        if events is not None:
            unknown = present & ~malformed & ~ev.isin(list(events))
            msg = (src + " line " + (raw.index.to_series() + 2).astype(str) + ": event '" + ev.fillna("")
                   + "' is not an event of the project's instrument–event mapping")
            issues += _line_issues(tables, unknown, EVENT, ev, "redcap_event", msg)
    if REPEAT_INSTANCE in raw.columns:
        inst = raw[REPEAT_INSTANCE]
        instrument = raw[REPEAT_INSTRUMENT] if REPEAT_INSTRUMENT in raw.columns else pd.Series(pd.NA, index=raw.index, dtype="str")
        bad = inst.notna() & ~inst.fillna("").str.match(_INSTANCE_RE.pattern)
        missing = instrument.notna() & inst.isna()
        why = pd.Series(np.where(missing, "has no redcap_repeat_instance", ""), index=raw.index)
        why = why.where(~bad, "redcap_repeat_instance '" + inst.fillna("") + "' is not a positive whole number")
        msg = src + " line " + (raw.index.to_series() + 2).astype(str) + ": " + why + " — instances of a repeating instrument are numbered 1, 2, 3 …"
        issues += _line_issues(tables, bad | missing, REPEAT_INSTANCE, inst, "redcap_instance", msg)
    for var, options in mapping.checkbox.items():
        for code, col in options.items():
            cells = raw[col]
            bad = cells.notna() & ~cells.isin(list(_CHECKBOX_VALUES))
            if bad.any():
                targets = mapping.var_targets.get(var, [])
                owner = {t[0] for t in targets}
                msg = (src + " line " + (raw.index.to_series() + 2).astype(str) + ": checkbox column " + col + " holds '"
                       + cells.fillna("") + "'; a checkbox cell is 0 (not ticked) or 1 (ticked)")
                issues += _line_issues({n: t for n, t in tables.items() if n in owner}, bad, col, cells, "redcap_checkbox", msg)
    return issues


def _unknown_instrument_tables(src: str, raw: pd.DataFrame, mapping: _Mapping, instrument: pd.Series,
                               d: Dictionary, record_center: pd.Series) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """Rows of repeating instruments the dictionary does not know (a typo such as ``lab``): kept as
    tables of their own — validation quarantines every row with the reason — never dropped."""
    import difflib

    tables: dict[str, pd.DataFrame] = {}
    issues: list[dict] = []
    unknown = sorted(set(instrument.dropna().unique()) - set(d.forms))
    for name in unknown:
        rows = raw.loc[(instrument == name).to_numpy()]
        cols = [c for c in rows.columns if c not in _CONTROL and rows[c].notna().any()]
        if mapping.record not in cols:
            cols = [mapping.record] + cols
        t = rows[cols].rename(columns={mapping.record: RECORD_FIELD}).copy()
        if CENTER_FIELD not in t.columns:
            t.insert(1, CENTER_FIELD, t[RECORD_FIELD].map(record_center).astype("str"))
        t[ROW] = (rows.index.to_numpy() + 2).astype(np.int64)
        key = name if name not in tables else f"{name}.2"
        tables[key] = t.reset_index(drop=True)
        close = difflib.get_close_matches(name, list(d.forms), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        for line in t[ROW]:
            issues.append(read_issue(key, int(line), REPEAT_INSTRUMENT, name, "unknown_form", "error",
                                     f"{src} line {line}: instrument '{name}' is not a form of the data dictionary{hint}; "
                                     "row kept in quarantine — correct the instrument name"))
    return tables, issues


def _yesno(values: pd.Series) -> pd.Series:
    low = values.str.lower()
    return values.mask(low.isin(["yes", "true"]), "1").mask(low.isin(["no", "false"]), "0")


def read_redcap_export(
    export_csv: str | Path, dictionary_csv: str | Path | None = None, dictionary: Dictionary | None = None
) -> Study:
    """Read a REDCap flat raw export as the raw study (representation: module docstring).

    ``dictionary_csv``: the project's REDCap data dictionary, when at hand — it maps variables to
    forms and fields by its ``@LATC-NAME`` tags and form names (a project renamed in REDCap still
    reads), and marks checkbox fields; without it the names of
    :func:`~latc.dictionary.redcap.redcap_naming` are expected. ``dictionary``: the study
    dictionary (default: the bundled one).
    """
    d = dictionary if dictionary is not None else load_dictionary()
    path = Path(export_csv)
    raw, encoding = _read_raw(path)
    columns = list(raw.columns)
    lowered = {c.lower() for c in columns}
    if lowered & _LABEL_HEADERS or any(c.endswith("Complete?") for c in columns):
        raise _labels_error(path, f"column header {next(c for c in columns if c.lower() in _LABEL_HEADERS or c.endswith('Complete?'))!r}")
    if not columns or not _VAR_RE.match(columns[0]):
        raise StudyReadError(f"{path}: not a REDCap raw export (the first column {columns[0] if columns else ''!r} is not a record id variable)")
    mapping = _Mapping(d, columns, Path(dictionary_csv) if dictionary_csv else None, path)
    present = set(columns)
    known = [c for c in columns[1:] if c in mapping.var_targets or c.split(CHECKBOX_SEP)[0] in mapping.checkbox]
    if not (present & {REPEAT_INSTRUMENT, EVENT, DAG}) and not any(c.endswith(COMPLETE_SUFFIX) for c in columns) and not known:
        raise StudyReadError(f"{path}: not a REDCap export (no redcap_* columns, no <form>_complete columns, no variables of the dictionary)")
    _check_labels(path, raw, mapping)
    _check_record_column(path, columns, mapping)

    instrument = raw[REPEAT_INSTRUMENT] if REPEAT_INSTRUMENT in present else pd.Series(pd.NA, index=raw.index, dtype="str")
    base_row = instrument.isna()
    dag = raw[DAG].str.upper() if DAG in present else pd.Series(pd.NA, index=raw.index, dtype="str")
    record = raw[mapping.record]
    if mapping.center_var in present:
        has = base_row & raw[mapping.center_var].notna() & record.notna()
        record_center = raw.loc[has, mapping.center_var].groupby(record[has]).first()
    else:
        record_center = pd.Series(dtype="str")
    # fallback for extras no _complete column places: the instrument whose rows hold them
    for c in mapping.unassigned:
        inst = instrument[raw[c].notna()].dropna()
        form = inst.mode().iloc[0] if len(inst) else mapping.base
        if form in d.forms:
            mapping.extras.setdefault(form, []).append(c)
        else:
            mapping.dropped.append(c)

    tables: dict[str, pd.DataFrame] = {}
    missing: list[str] = []
    for form in d.forms.values():
        own = mapping.own_columns(form, present)
        mask = instrument == form.name
        mask = mask.fillna(False).astype(bool)
        if own:
            mask |= base_row & raw[own].notna().any(axis=1)
        if not own and not mask.any():
            missing.append(form.name)
        needed = [mapping.record] + [c for c in dict.fromkeys(
            [mapping.field_var[(form.name, f.name)] for f in form.fields]
            + [c for opts in (mapping.checkbox.get(mapping.field_var[(form.name, f.name)], {}) for f in form.fields) for c in opts.values()]
            + mapping.extras.get(form.name, [])
        ) if c in present and c != mapping.record]
        sub = raw.loc[mask, needed]
        data: dict[str, pd.Series] = {}
        for f in form.fields:
            var = mapping.field_var[(form.name, f.name)]
            if f.name == RECORD_FIELD:
                col = sub[mapping.record]
            elif f.name == CENTER_FIELD:
                if form.name == mapping.base and var in present:
                    col = sub[var]
                else:
                    col = sub[mapping.record].map(record_center).astype("str")
                col = col.fillna(dag[mask])
            elif var in present:
                col = sub[var]
            elif var in mapping.checkbox:
                col = _collapse_checkbox(sub, mapping.checkbox[var], f.codes)
            else:
                col = pd.Series(pd.NA, index=sub.index, dtype="str")
            if f.type == "yesno":
                col = _yesno(col.astype("str"))
            data[f.name] = col.astype("str")
        for c in mapping.extras.get(form.name, []):
            name = c if c not in data else f"redcap_{c}"
            data[name] = sub[c].astype("str")
        table = pd.DataFrame(data, index=sub.index)
        table[ROW] = (sub.index.to_numpy() + 2).astype(np.int64)
        tables[form.name] = table.reset_index(drop=True)

    events = None
    for name in EVENT_MAPPING_FILES:
        events = events or read_event_mapping(path.parent / name)
    layout = _layout_issues(path.name, raw, tables, mapping, events, {})
    extra, extra_issues = _unknown_instrument_tables(path.name, raw, mapping, instrument, d, record_center)
    study = Study(tables={**tables, **extra}, sources={**{f: path.name for f in d.forms}, **{n: path.name for n in extra}},
                  path=path, format="redcap", missing_forms=missing)
    if encoding:
        from latc.io._csv import encoding_issue

        study.read_issues.append(encoding_issue("", path.name, encoding))
    study.read_issues.extend(_read_issues(path, d, mapping, present, instrument, missing))
    study.read_issues.extend(layout)
    study.read_issues.extend(extra_issues)
    return study


def _read_issues(
    path: Path, d: Dictionary, mapping: _Mapping, present: set[str], instrument: pd.Series, missing: list[str]
) -> list[dict]:
    """Non-fatal reading problems (the rules of the CSV reader, for REDCap's layout)."""
    src = path.name
    issues = []
    for name in missing:
        issues.append(read_issue(name, None, None, None, "missing_form", "warning",
                                 f"{src}: no column of form '{name}'; form read as empty"))
    for form in d.forms.values():
        if form.name in missing:
            continue
        for f in form.fields:
            var = mapping.field_var[(form.name, f.name)]
            derived = f.name == RECORD_FIELD or (f.name == CENTER_FIELD and form.name != mapping.base)
            if not derived and var not in present and var not in mapping.checkbox:
                issues.append(read_issue(form.name, None, f.name, None, "missing_column", "warning",
                                         f"{src}: no column '{var}' (field '{f.name}' of form '{form.name}'); read as blank"))
        for c in mapping.extras.get(form.name, []):
            issues.append(read_issue(form.name, None, c, None, "unknown_column", "warning",
                                     f"{src}: column '{c}' is not a field of form '{form.name}'; kept for review"))
    if mapping.dropped:
        issues.append(read_issue("", None, None, None, "unknown_column", "warning",
                                 f"{src}: columns of instruments the dictionary does not know not read: {', '.join(mapping.dropped)}"))
    return issues
