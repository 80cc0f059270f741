"""Records in REDCap's layout into capture: ``content=record&action=import`` and the core of
``latc capture import-redcap`` (:mod:`latc.capture.redcap_import`).

Rows are REDCap's flat layout (``record_id``, [``redcap_event_name``], ``redcap_repeat_instrument``,
``redcap_repeat_instance``, [``redcap_data_access_group``], variables, ``<form>_complete``) or its
EAV layout (``record``, ``field_name``, ``value`` …, turned into flat rows first). Variables are
named by :func:`latc.dictionary.redcap.redcap_naming`, the rule of the REDCap data dictionary and
export latc writes. Each row becomes one write per form it fills:

* a new record (patient) is created in the center of its ``center_id`` (or its data access group)
  by :func:`latc.capture.services.create_patient`: the caller's role and centers decide, exactly as
  on the web forms; a record of a center the caller may not see is refused with the same message
  whether it exists or not (no existence oracle);
* every value goes through :func:`latc.capture.services.save_record`: the same validation, rule
  queries, reason-for-change rule and audit entries as a form saved in the browser. A repeating
  instance keeps its number (``create_instance``); an event name is kept on the record
  (``Record.event``);
* ``<form>_complete``: ``2`` → complete, ``0``/``1`` → incomplete (latc has no "unverified";
  source verification is the monitor's separate mark);
* ``overwriteBehavior=normal`` (REDCap's default) leaves stored values where the row is blank;
  ``overwrite`` clears them;
* changing a value that is already stored needs a reason (ICH E6(R3) §4.2.4): REDCap's API has no
  such parameter, so the request must carry the latc extension ``reason=…``; without it such
  changes are refused, naming record and field.

All or nothing (REDCap API documentation, "Import Records": when there are errors, no records are
imported): the request is checked and written in one transaction, rolled back on the first
problem list, and answered 400 with every problem (record, form, instance, field, rule and the
rule's message, which quotes the offending value as the web form does — the answer goes only to
the caller who sent it; nothing of it is logged).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from django.http import HttpResponse

from latc.capture.api.dispatch import ApiError, ApiRequest, handler

MAX_ROWS = 100_000  # rows per request; larger imports: split them (REDCap recommends batches too)


@dataclass
class Problem:
    record: str
    form: str
    instance: int | None
    field: str
    rule: str
    message: str

    def text(self) -> str:
        where = "/".join(str(x) for x in (self.record, self.form, self.instance, self.field) if x not in ("", None))
        return f"{where}: {self.message} [{self.rule}]"


@dataclass
class Write:
    """One form record of one REDCap row."""

    record: str
    form: str
    instance: int
    values: dict[str, str]
    status: str | None
    event: str = ""
    center: str = ""
    line: int = 0


@dataclass
class RecordPlan:
    record: str
    center: str = ""
    writes: list[Write] = field(default_factory=list)


# -- parsing ---------------------------------------------------------------------------------------

def parse_rows(data: str, fmt: str, *, eav: bool = False, source: str = "data") -> list[dict[str, str]]:
    """The posted records as flat rows of text (``ApiError`` naming the problem when unreadable)."""
    if fmt == "json":
        try:
            rows = json.loads(data)
        except ValueError as e:
            raise ApiError(f"{source}: not valid JSON ({e.msg} at character {e.pos})") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ApiError(f"{source}: JSON records must be a list of objects")
        out = [{str(k): "" if v is None else str(v) for k, v in r.items()} for r in rows]
    elif fmt == "csv":
        try:
            reader = csv.DictReader(io.StringIO(data.lstrip("\ufeff")))
            out = []
            for r in reader:
                if None in r:
                    raise ApiError(f"{source}: line {reader.line_num} has more cells than the header")
                out.append({k: (v or "") for k, v in r.items()})
        except csv.Error as e:
            raise ApiError(f"{source}: not readable CSV ({e})") from None
    else:
        raise ApiError("parameter 'format': records can be imported as json or csv")
    if len(out) > MAX_ROWS:
        raise ApiError(f"{source}: {len(out):,} rows; at most {MAX_ROWS:,} per request")
    return eav_to_flat(out, source) if eav else out


def eav_to_flat(rows: list[dict[str, str]], source: str = "data") -> list[dict[str, str]]:
    """REDCap's EAV rows (record, [redcap_event_name], redcap_repeat_instrument,
    redcap_repeat_instance, field_name, value) as flat rows."""
    from latc.dictionary.redcap import RECORD_ID

    flat: dict[tuple, dict[str, str]] = {}
    for i, r in enumerate(rows, start=1):
        if "record" not in r or "field_name" not in r:
            raise ApiError(f"{source}: EAV row {i} lacks 'record' or 'field_name'")
        key = (r["record"], r.get("redcap_event_name", ""), r.get("redcap_repeat_instrument", ""),
               r.get("redcap_repeat_instance", ""))
        row = flat.setdefault(key, {RECORD_ID: key[0], "redcap_event_name": key[1],
                                    "redcap_repeat_instrument": key[2], "redcap_repeat_instance": key[3]})
        row[r["field_name"]] = r.get("value", "")
    return list(flat.values())


def plan(rows: list[dict[str, str]], *, overwrite: bool = False) -> tuple[list[RecordPlan], list[Problem]]:
    """The writes of each record, in row order; problems of the layout itself (unknown fields or
    instruments, bad instance numbers) as :class:`Problem` rows."""
    from latc.capture.services import dictionary
    from latc.dictionary.redcap import RECORD_ID, redcap_naming

    d = dictionary()
    naming = redcap_naming(d)
    center_var = naming.center_variable
    problems: list[Problem] = []
    plans: dict[str, RecordPlan] = {}
    control = {RECORD_ID, "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
               "redcap_data_access_group"}
    complete = {f"{n}_complete": n for n in d.forms}
    for line, r in enumerate(rows, start=2):
        rec = (r.get(RECORD_ID) or "").strip()
        if not rec:
            problems.append(Problem("", "", None, RECORD_ID, "required", f"row {line - 1} has no record_id"))
            continue
        p = plans.setdefault(rec, RecordPlan(rec))
        unknown = [k for k in r if k not in control and k not in complete and k not in naming.fields]
        for k in unknown:
            problems.append(Problem(rec, "", None, k[:64], "unknown_field", "not a field of this project"))
        instrument = (r.get("redcap_repeat_instrument") or "").strip()
        event = (r.get("redcap_event_name") or "").strip()
        dag = (r.get("redcap_data_access_group") or "").strip()
        if center_var and r.get(center_var, "").strip():
            p.center = r[center_var].strip()
        elif dag and not p.center:
            p.center = dag.upper()
        instance = 1
        if instrument:
            if instrument not in d.forms or not d.forms[instrument].repeating:
                problems.append(Problem(rec, instrument[:64], None, "redcap_repeat_instrument", "unknown_form",
                                        "not a repeating instrument of this project"))
                continue
            raw = (r.get("redcap_repeat_instance") or "").strip()
            if not raw.isdigit() or int(raw) < 1:
                problems.append(Problem(rec, instrument, None, "redcap_repeat_instance", "redcap_instance",
                                        "a repeat instance must be a whole number ≥ 1"))
                continue
            instance = int(raw)
        by_form: dict[str, dict[str, str]] = {}
        for var, value in r.items():
            if var in control or var in complete or var not in naming.fields:
                continue
            for form, fld in naming.fields[var]:
                if fld == "patient_id" or (fld == "center_id" and form != naming.base_form):
                    continue
                f = d.forms[form]
                if bool(instrument) != f.repeating or (instrument and form != instrument):
                    continue
                if value.strip() == "" and not overwrite:
                    continue
                by_form.setdefault(form, {})[fld] = value
        for col, form in complete.items():
            v = (r.get(col) or "").strip()
            if v and ((instrument and form == instrument) or (not instrument and not d.forms[form].repeating)):
                if v not in ("0", "1", "2"):
                    problems.append(Problem(rec, form, instance, col, "redcap_status", "form status must be 0, 1 or 2"))
                    continue
                by_form.setdefault(form, {})
        for form, values in by_form.items():
            st = (r.get(f"{form}_complete") or "").strip()
            status = "complete" if st == "2" else ("incomplete" if st in ("0", "1") else None)
            if form == naming.base_form:
                values.pop("center_id", None)
            p.writes.append(Write(rec, form, instance, values, status, event, p.center, line))
    return list(plans.values()), problems


# -- writing ---------------------------------------------------------------------------------------

def apply(user, record: RecordPlan, *, reason: str | None, client_addr: str = "") -> tuple[bool, list[Problem]]:
    """Write one record's rows (inside the caller's transaction). Returns (created?, problems);
    the caller rolls back when there are problems."""
    from latc.capture import services
    from latc.capture.errors import CaptureError, ConflictError, Forbidden, Locked, ReasonRequired
    from latc.capture.models import Patient, Record
    from latc.capture.scoping import patients_for

    rec = record.record
    refused = Problem(rec, "", None, "record_id", "scope",
                      "this record cannot be created or changed with this account (not a record of its centers)")
    visible = Patient.objects.all() if user is None else patients_for(user)
    patient = visible.select_related("center").filter(patient_id=rec).first()
    created = False
    if patient is None:
        if Patient.objects.filter(patient_id=rec).exists() and user is not None:
            return False, [refused]
        if not record.center:
            return False, [Problem(rec, "patients", 1, "center_id", "required",
                                   "a new record needs its center (center_id or redcap_data_access_group)")]
        try:
            patient = services.create_patient(user, rec, record.center, client_addr=client_addr)
        except Forbidden:
            return False, [refused]
        except CaptureError as e:
            return False, [Problem(rec, "patients", 1, "record_id", "create", str(e))]
        created = True
    elif record.center and record.center != patient.center.code:
        return False, [Problem(rec, "patients", 1, "center_id", "center_change",
                               "a record's center cannot be changed by an import")]
    problems: list[Problem] = []
    order = {n: i for i, n in enumerate(services.dictionary().forms)}
    for w in sorted(record.writes, key=lambda w: (order.get(w.form, 999), w.instance)):
        existing = Record.objects.filter(patient=patient, form=w.form, instance=w.instance).first()
        try:
            res = services.save_record(user, patient, w.form, w.instance, w.values,
                                       base_version=existing.version if existing else None, reason=reason,
                                       status=w.status, client_addr=client_addr, create_instance=True)
        except ReasonRequired as e:
            problems += [Problem(rec, w.form, w.instance, f, "reason_required",
                                 "changes a stored value: give a reason (parameter reason=…)") for f in e.fields]
            continue
        except Forbidden:
            return created, [refused]
        except (Locked, ConflictError, CaptureError) as e:
            problems.append(Problem(rec, w.form, w.instance, "", type(e).__name__.lower(), str(e)))
            continue
        if res.errors:
            problems += [Problem(rec, w.form, w.instance, p.field, p.rule, p.message) for p in res.errors]
            continue
        if w.event and res.record is not None and res.record.event != w.event:
            Record.objects.filter(pk=res.record.pk).update(event=w.event[:100])
    return created, problems


class _Rollback(Exception):
    pass


@handler("record", "import")
def import_records(req: ApiRequest) -> HttpResponse:
    from latc.capture import audit
    from latc.capture.errors import Forbidden
    from latc.capture.scoping import can

    if not can(req.user, "edit"):
        raise Forbidden("your role may not enter data (site data entry and site investigators import records)")
    if req.flag("forceAutoNumber"):
        raise ApiError("parameter 'forceAutoNumber': record ids are pseudonyms given by the site; automatic "
                       "numbering is not supported")
    if req.get("dateFormat", "YMD").upper() != "YMD":
        raise ApiError("parameter 'dateFormat': dates are imported as YYYY-MM-DD (YMD) only")
    ob = req.get("overwriteBehavior", "normal").lower() or "normal"
    if ob not in ("normal", "overwrite"):
        raise ApiError(f"parameter 'overwriteBehavior': {ob[:20]!r} is not normal or overwrite")
    rtype = req.get("type", "flat").lower() or "flat"
    if rtype not in ("flat", "eav"):
        raise ApiError(f"parameter 'type': {rtype[:20]!r} is not flat or eav")
    rc = req.get("returnContent", "count").lower() or "count"
    if rc not in ("count", "ids", "auto_ids", "nothing"):
        raise ApiError(f"parameter 'returnContent': {rc[:20]!r} is not count or ids")
    data = req.get("data")
    if not data.strip():
        raise ApiError("parameter 'data': no records given")
    rows = parse_rows(data, req.format, eav=rtype == "eav")
    plans, problems = plan(rows, overwrite=ob == "overwrite")
    reason = req.get("reason").strip() or None
    if not problems:
        try:
            with audit.atomic():
                for p in plans:
                    problems += apply(req.user, p, reason=reason, client_addr=req.client_addr)[1]
                if problems:
                    raise _Rollback
        except _Rollback:
            pass
    if problems:
        shown = "; ".join(p.text() for p in problems[:50])
        more = f" (and {len(problems) - 50} more)" if len(problems) > 50 else ""
        raise ApiError(f"nothing was imported: {len(problems)} problem(s): {shown}{more}")
    ids = [p.record for p in plans]
    if rc == "nothing":
        return HttpResponse("", content_type="text/plain; charset=utf-8")
    if rc in ("ids", "auto_ids"):
        body = ids if req.return_format == "json" else "\n".join(["id"] + ids)
    else:
        body = {"count": len(ids)} if req.return_format == "json" else f"count\n{len(ids)}"
    if isinstance(body, str):
        return HttpResponse(body, content_type="text/csv; charset=utf-8")
    return HttpResponse(json.dumps(body), content_type="application/json; charset=utf-8")
