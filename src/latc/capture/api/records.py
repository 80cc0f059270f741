"""``content=record`` export: the study's records in REDCap's flat or EAV layout, streamed.

The flat layout is the one :mod:`latc.io.redcap` writes (so the API, ``latc capture export``'s
``redcap/redcap_export.csv`` and a REDCap project's own export agree): ``record_id``,
[``redcap_event_name``], ``redcap_repeat_instrument``, ``redcap_repeat_instance``,
[``redcap_data_access_group``], each form's variables, ``<form>_complete`` (``0`` incomplete,
``2`` complete, REDCap's codes). Repeat instances are the stored ``Record.instance`` (an instance
imported from REDCap keeps its number). EAV: one row per non-blank value (``record``,
[``redcap_event_name``], ``redcap_repeat_instrument``, ``redcap_repeat_instance``, ``field_name``,
``value``).

Who sees what (:func:`scope`): site roles and monitors their centers' records, the data manager
every center's, the statistician every center's **de-identified** (keyed pseudonyms and blanked
identifier fields, exactly as ``latc capture export --deidentified``); an administrator nothing.

Streaming: patients are read from the database in chunks of :data:`CHUNK` (in export order: the
order of their ``patients`` record), each chunk laid out and written before the next is read, so
memory stays flat however large the study (benchmarks/bench_capture_api.py: 100,000 patients).
CSV cells a spreadsheet would run as a formula get a leading ``'`` (docs/spreadsheet_safety.md),
as in ``latc capture export``; JSON and XML carry the values as stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timezone as dt_timezone
from xml.sax.saxutils import escape

from django.http import HttpResponse, StreamingHttpResponse

from latc.capture.api.dispatch import ApiError, ApiRequest, handler

#: patients per database read and layout step of a streamed export
CHUNK = 500
EVENT_COL = "redcap_event_name"


# -- who sees what ---------------------------------------------------------------------------------

def scope(user):
    """(patients queryset, de-identified?) of ``user``'s record export; Forbidden for a role
    without any (:mod:`latc.capture.scoping`)."""
    from latc.capture.errors import Forbidden
    from latc.capture.models import Patient
    from latc.capture.scoping import can, patients_for

    if can(user, "view"):
        return patients_for(user), False
    if can(user, "export_deidentified"):
        return Patient.objects.all(), True
    raise Forbidden("your role may not export records (no patient pages and no de-identified export)")


def _ordered_patients(patients) -> list[tuple[int, str, str]]:
    """(pk, patient_id, center code) in export order: by the patients record's source order
    (imported rows first, in file order), then creation."""
    from django.db.models import F

    from latc.capture.models import Record

    rows = (Record.objects.filter(form="patients", instance=1, patient__in=patients)
            .order_by(F("source_order").asc(nulls_last=True), "pk")
            .values_list("patient_id", "patient__patient_id", "patient__center__code"))
    out = list(rows)
    seen = {pk for pk, _, _ in out}
    out += [p for p in patients.order_by("pk").values_list("pk", "patient_id", "center__code") if p[0] not in seen]
    return out


# -- parameters ------------------------------------------------------------------------------------

def _parse_when(name: str, text: str) -> datetime | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=dt_timezone.utc)
        except ValueError:
            continue
    raise ApiError(f"parameter {name!r}: {text[:40]!r} is not a date-time YYYY-MM-DD HH:MM:SS (UTC)")


class _ComparisonFilter:
    """``filterLogic`` with numeric comparisons (``<``, ``>``, ``<=``, ``>=``) beside ``=``/``<>``,
    ``and``, ``or`` and parentheses: the dictionary's REDCap logic reader
    (:func:`latc.dictionary.redcap.redcap_logic_source`), the structure parsed by Python's ``ast`` as the
    dictionary's conditions are. A blank or non-numeric value never satisfies a numeric comparison."""

    def __init__(self, tree, fields: set[str]):
        self.tree, self.fields = tree, fields

    @classmethod
    def parse(cls, logic: str, variables: dict[str, str]) -> "_ComparisonFilter | None":
        import ast

        from latc.dictionary.redcap import COMPARISON_OPS, redcap_logic_source

        parsed = redcap_logic_source(logic, variables, ops=COMPARISON_OPS, options=False)
        if parsed is None:
            return None
        source, fields = parsed
        try:
            tree = ast.parse(source, mode="eval").body
        except SyntaxError:
            return None
        f = cls(tree, fields)
        import pandas as pd

        try:
            f.evaluate(pd.DataFrame({n: pd.Series([], dtype="string") for n in fields}))
        except (ValueError, TypeError, KeyError):
            return None
        return f

    def evaluate(self, table):
        return self._eval(self.tree, table)

    def _eval(self, node, table):
        import ast

        import pandas as pd

        if isinstance(node, ast.BoolOp):
            parts = [self._eval(v, table) for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return out
        if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name)
                and isinstance(node.comparators[0], ast.Constant)):
            col = table[node.left.id].astype("string").str.strip()
            op, value = node.ops[0], str(node.comparators[0].value)
            if isinstance(op, ast.Eq):
                return (col == value).fillna(False).astype(bool)
            if isinstance(op, ast.NotEq):
                return (col != value).fillna(False).astype(bool)
            num = pd.to_numeric(col, errors="coerce")
            try:
                v = float(value)
            except ValueError:
                raise ValueError("a numeric comparison with a non-number") from None
            res = {ast.Lt: num < v, ast.Gt: num > v, ast.LtE: num <= v, ast.GtE: num >= v}.get(type(op))
            if res is not None:
                return res.fillna(False).astype(bool)
        raise ValueError("unsupported filter logic")


class Selection:
    """The columns and rows a request asks for (``fields``, ``forms``, ``records``, ``events``,
    ``filterLogic``, date range), checked against the dictionary: unknown names are a 400."""

    def __init__(self, req: ApiRequest):
        from latc.capture.services import dictionary
        from latc.dictionary.redcap import RECORD_ID, condition_from_redcap, redcap_naming

        self.d = d = dictionary()
        self.naming = naming = redcap_naming(d)
        self.var_form = {var: owner for var, owner in naming.owner.items()}
        fields, forms = req.list("fields"), req.list("forms")
        unknown = [f for f in fields if f not in self.var_form and not f.endswith("_complete")]
        if unknown:
            raise ApiError(f"parameter 'fields': not fields of this project: {', '.join(x[:40] for x in unknown[:5])}")
        bad_forms = [f for f in forms if f not in d.forms]
        if bad_forms:
            raise ApiError(f"parameter 'forms': not instruments of this project: {', '.join(x[:40] for x in bad_forms[:5])}")
        self.fields, self.forms = fields, forms
        self.records = req.list("records")
        self.events = req.list("events")
        self.begin = _parse_when("dateRangeBegin", req.get("dateRangeBegin"))
        self.end = _parse_when("dateRangeEnd", req.get("dateRangeEnd"))
        logic = req.get("filterLogic").strip()
        self.filter = None
        if logic:
            variables = {v: v for v in self.var_form}
            self.filter = condition_from_redcap(logic, variables) or _ComparisonFilter.parse(logic, variables)
            if self.filter is None:
                raise ApiError("parameter 'filterLogic': only [field] = 'value', [field] <> 'value', numeric "
                               "comparisons (<, >, <=, >=), and, or and parentheses on this project's fields are "
                               "supported")
        self.record_id = RECORD_ID
        self.label = req.get("rawOrLabel", "raw").lower() == "label"
        self.label_headers = req.get("rawOrLabelHeaders", "raw").lower() == "label"
        self.dag = req.flag("exportDataAccessGroups")
        self.pseudo = None  # set for a de-identified export: one pseudonymiser for the whole answer

    def deidentify(self) -> None:
        from django.conf import settings as dj

        from latc.capture.interchange import _pseudonymiser

        self.pseudo = _pseudonymiser(dj.SECRET_KEY, self.d.patterns["patient_id_pattern"])

    def columns(self, all_columns: list[str]) -> list[str]:
        """The export columns kept, in REDCap's order."""
        from latc.io.redcap import DAG, REPEAT_INSTANCE, REPEAT_INSTRUMENT

        control = {self.record_id, EVENT_COL, REPEAT_INSTRUMENT, REPEAT_INSTANCE, DAG}
        keep_forms = set(self.forms)
        keep_fields = set(self.fields)
        out = []
        for c in all_columns:
            if c in control:
                if c == DAG and not self.dag:
                    continue
                out.append(c)
                continue
            form = c[: -len("_complete")] if c.endswith("_complete") and c[: -len("_complete")] in self.d.forms \
                else self.var_form.get(c)
            if not keep_forms and not keep_fields:
                out.append(c)
            elif form in keep_forms or c in keep_fields:
                out.append(c)
        return out


# -- layout of one chunk ---------------------------------------------------------------------------

def _chunk_frame(patients: list[tuple[int, str, str]], sel: Selection, deidentified: bool, longitudinal: bool):
    """The flat export rows of these patients (a DataFrame of str/NA, REDCap's column order)."""
    import numpy as np
    import pandas as pd
    from django.db.models import F

    from latc.capture.models import Record
    from latc.io.redcap import COMPLETE_SUFFIX, REPEAT_INSTANCE, _export_table

    d = sel.d
    pks = [p[0] for p in patients]
    recs = (Record.objects.filter(patient_id__in=pks)
            .order_by(F("source_order").asc(nulls_last=True), "pk")
            .values_list("patient_id", "form", "instance", "data", "status", "event", "updated_at"))
    by_form: dict[str, list[tuple]] = {f: [] for f in d.forms}
    touched: set[int] = set()
    for pk, form, inst, data, status, event, updated in recs:
        if form in by_form:
            by_form[form].append((pk, inst, data, status, event))
        if (sel.begin is None or updated >= sel.begin) and (sel.end is None or updated <= sel.end):
            touched.add(pk)
    pid_of = {pk: pid for pk, pid, _ in patients}
    if sel.begin is not None or sel.end is not None:
        pid_of = {pk: pid for pk, pid in pid_of.items() if pk in touched}
        for form in by_form:
            by_form[form] = [r for r in by_form[form] if r[0] in pid_of]
    tables = {}
    for name, f in d.forms.items():
        rows = by_form[name]
        cols = {c: pd.Series([r[2].get(c) for r in rows], dtype="str") for c in f.field_names}
        cols["patient_id"] = pd.Series([pid_of[r[0]] for r in rows], dtype="str")
        tables[name] = pd.DataFrame(cols, index=pd.RangeIndex(len(rows)))
    if sel.pseudo is not None:
        from latc.capture.interchange import deidentify_tables

        tables = deidentify_tables(tables, d, sel.pseudo)
    table, lines = _export_table(tables, d)
    frame = pd.DataFrame({c: pd.Series(table.column(c).to_pandas(), dtype="str") for c in table.column_names})
    n = len(frame)
    instance = frame[REPEAT_INSTANCE].to_numpy(dtype=object, na_value=None)
    event = np.full(n, None, dtype=object)
    for name, f in d.forms.items():
        rows = by_form[name]
        if not rows:
            continue
        at = lines[name] - 2
        complete = np.array(["2" if r[3] == "complete" else "0" for r in rows], dtype=object)
        col = frame[f"{name}{COMPLETE_SUFFIX}"].to_numpy(dtype=object, na_value=None)
        col[at] = complete
        frame[f"{name}{COMPLETE_SUFFIX}"] = pd.Series(col, dtype="str")
        if f.repeating:
            instance[at] = [str(r[1]) for r in rows]
        for i, r in zip(at, rows):
            if r[4] and event[i] is None:
                event[i] = r[4]
    frame[REPEAT_INSTANCE] = pd.Series(instance, dtype="str")
    if longitudinal:
        frame.insert(1, EVENT_COL, pd.Series(event, dtype="str"))
    if sel.records:
        frame = frame[frame[sel.record_id].isin(sel.records)]
    if sel.events and longitudinal:
        frame = frame[frame[EVENT_COL].isin(sel.events)]
    if sel.filter is not None and len(frame):
        hit = sel.filter.evaluate(frame.reindex(columns=list(set(frame.columns) | sel.filter.fields)))
        keep = set(frame.loc[hit.to_numpy(), sel.record_id])
        frame = frame[frame[sel.record_id].isin(keep)]
    if sel.label:
        frame = _labels(frame, sel)
    return frame


def _labels(frame, sel: Selection):
    """``rawOrLabel=label``: choice codes as their labels (REDCap's labelled export)."""
    from latc.dictionary.redcap import RECORD_ID

    for (form, field), var in sel.naming.variable.items():
        if var in frame.columns and var != RECORD_ID:
            choices = sel.d.forms[form][field].choices
            if choices:
                frame[var] = frame[var].map(lambda v, c=choices: c.get(v, v) if isinstance(v, str) else v)
    for name in sel.d.forms:
        col = f"{name}_complete"
        if col in frame.columns:
            frame[col] = frame[col].map({"0": "Incomplete", "1": "Unverified", "2": "Complete"})
    return frame


# -- writers ---------------------------------------------------------------------------------------

def _stream(req: ApiRequest, sel: Selection, patients: list, deidentified: bool, longitudinal: bool) -> Iterator[bytes]:
    eav = req.get("type", "flat").lower() == "eav"
    fmt = req.format
    first = True
    header: list[str] | None = None
    if fmt == "json":
        yield b"["
    elif fmt == "xml":
        yield b'<?xml version="1.0" encoding="UTF-8" ?>\n<records>'
    for start in range(0, max(len(patients), 1), CHUNK):
        frame = _chunk_frame(patients[start:start + CHUNK], sel, deidentified, longitudinal)
        cols = sel.columns(list(frame.columns))
        frame = frame[cols]
        if eav:
            rows = list(_eav_rows(frame, sel, longitudinal))
            cols = ["record"] + ([EVENT_COL] if longitudinal else []) + ["redcap_repeat_instrument",
                                                                         "redcap_repeat_instance", "field_name", "value"]
        else:
            rows = frame.itertuples(index=False, name=None)
        if fmt == "csv":
            yield _csv_bytes(frame if not eav else _eav_frame(rows, cols), cols, sel,
                             header=header is None)
            header = cols
            continue
        buf = io.StringIO()
        if fmt == "json":
            if eav:
                for r in rows:
                    buf.write(("" if first else ",") + json.dumps(dict(zip(cols, r)), ensure_ascii=False))
                    first = False
            elif len(frame):
                body = frame.fillna("").to_json(orient="records", force_ascii=False)
                buf.write(("" if first else ",") + body[1:-1])
                first = False
        else:
            for r in rows:
                buf.write("<item>" + "".join(f"<{c}><![CDATA[{escape(v) if isinstance(v, str) else ''}]]></{c}>"
                                             for c, v in zip(cols, r)) + "</item>")
        yield buf.getvalue().encode("utf-8")
    if fmt == "json":
        yield b"]"
    elif fmt == "xml":
        yield b"</records>"
    elif header is None:
        yield b"\n"


def _eav_frame(rows: list, cols: list[str]):
    import pandas as pd

    return pd.DataFrame(rows, columns=cols, dtype="str") if rows else pd.DataFrame(columns=cols, dtype="str")


def _csv_bytes(frame, cols: list[str], sel: Selection, *, header: bool) -> bytes:
    """One chunk as CSV (pyarrow's writer: no per-cell Python), formula-like text neutralised."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from latc.io._spreadsheet import neutralise_formulas

    out = io.BytesIO()
    if header:
        head = io.StringIO()
        csv.writer(head, lineterminator="\n").writerow(_header_labels(cols, sel) if sel.label_headers else cols)
        out.write(head.getvalue().encode("utf-8"))
    if len(frame):
        safe = neutralise_formulas(frame.reset_index(drop=True))
        table = pa.table({f"c{i}": pa.array(safe.iloc[:, i].to_numpy(dtype=object, na_value=None), type=pa.string())
                          for i in range(safe.shape[1])})
        pcsv.write_csv(table, out, write_options=pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    return out.getvalue()


def _eav_rows(frame, sel: Selection, longitudinal: bool):
    from latc.io.redcap import DAG, REPEAT_INSTANCE, REPEAT_INSTRUMENT

    control = {sel.record_id, EVENT_COL, REPEAT_INSTRUMENT, REPEAT_INSTANCE, DAG}
    data_cols = [c for c in frame.columns if c not in control]
    for rec in frame.to_dict("records"):
        for c in data_cols:
            v = rec[c]
            if isinstance(v, str) and v != "":
                yield ([rec[sel.record_id]] + ([_text(rec.get(EVENT_COL))] if longitudinal else [])
                       + [_text(rec.get(REPEAT_INSTRUMENT)), _text(rec.get(REPEAT_INSTANCE)), c, v])


def _text(v) -> str:
    """A control cell as text: a blank (None, NaN, pd.NA) is "" (NaN is truthy and not JSON)."""
    return v if isinstance(v, str) else ""


def _header_labels(cols: list[str], sel: Selection) -> list[str]:
    label = {var: sel.d.forms[form][field].label for (form, field), var in sel.naming.variable.items()}
    return [label.get(c, c) for c in cols]


@handler("record", "export")
def export_records(req: ApiRequest) -> HttpResponse:
    from latc.capture import services
    from latc.capture.models import Record

    patients, deidentified = scope(req.user)
    sel = Selection(req)
    if deidentified:
        sel.deidentify()
    if req.get("type", "flat").lower() not in ("flat", "eav"):
        raise ApiError(f"parameter 'type': {req.get('type')[:20]!r} is not flat or eav")
    ordered = _ordered_patients(patients)
    if sel.records and not deidentified:
        wanted = set(sel.records)
        ordered = [p for p in ordered if p[1] in wanted]
    longitudinal = Record.objects.exclude(event="").exists()
    services._entry(req.user, "export", new_value=f"API record export ({req.get('type', 'flat') or 'flat'} "
                    f"{req.format}, {len(ordered)} patients in scope)",
                    reason="de-identified" if deidentified else "identified", client_addr=req.client_addr)
    ctype = {"json": "application/json", "csv": "text/csv", "xml": "application/xml"}[req.format]
    return StreamingHttpResponse(_stream(req, sel, ordered, deidentified, longitudinal),
                                 content_type=f"{ctype}; charset=utf-8")
