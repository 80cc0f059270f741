"""``content=log``: the audit trail as REDCap's "Export Logging" (timestamp, username, action,
details, record), for the roles that may read the audit trail (administrator, data manager:
:func:`latc.capture.scoping.audit_for`). Filters: ``beginTime``/``endTime`` (UTC,
``YYYY-MM-DD HH:MM[:SS]``), ``user``, ``record``, ``logtype`` (REDCap's names mapped onto latc's
audit actions). Streamed in chunks: the whole trail of a large study never sits in memory.

``details`` names the form, instance and field of an entry and its reason; old and new values
are not in it (they are in the audit trail page and ``verify-audit``'s chain), so the log export
carries no data values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.http import HttpResponse, StreamingHttpResponse

from latc.capture.api.dispatch import ApiError, ApiRequest, handler
from latc.capture.api.records import _parse_when

CHUNK = 5000
#: REDCap logtype → latc audit actions
LOGTYPES: dict[str, tuple[str, ...]] = {
    "export": ("export",),
    "manage": ("permission_change", "center_create", "user_create"),
    "user": ("permission_change", "user_create"),
    "record": ("patient_create", "create", "update", "delete", "import", "import_file"),
    "record_add": ("patient_create", "create", "import"),
    "record_edit": ("update",),
    "record_delete": ("delete",),
    "lock_record": ("lock", "unlock", "sign", "signature_void"),
    "page_view": ("login", "logout", "login_failed"),
}
COLUMNS = ("timestamp", "username", "action", "details", "record")


def _rows(qs) -> Iterator[dict]:
    last = 0
    while True:
        batch = list(qs.filter(seq__gt=last).order_by("seq")[:CHUNK])
        if not batch:
            return
        for e in batch:
            where = "/".join(str(x) for x in (e.form, e.instance, e.field) if x not in ("", None))
            details = "; ".join(x for x in (where, e.reason) if x)
            yield {"timestamp": e.at.strftime("%Y-%m-%d %H:%M"), "username": e.username, "action": e.action,
                   "details": details, "record": e.patient_id}
        last = batch[-1].seq


def _csv_chunk(rows: list[dict]) -> bytes:
    """CSV lines of log rows; text a spreadsheet would run as a formula gets a leading ``'`` by the
    project's one rule (:func:`latc.io._spreadsheet.neutralise_formulas`)."""
    import pandas as pd

    from latc.io._spreadsheet import neutralise_formulas

    if not rows:
        return b""
    frame = pd.DataFrame(rows, columns=list(COLUMNS)).astype("str")
    return neutralise_formulas(frame).to_csv(index=False, header=False, lineterminator="\n").encode("utf-8")


@handler("log")
def export_log(req: ApiRequest) -> HttpResponse:
    from latc.capture import services
    from latc.capture.errors import Forbidden
    from latc.capture.scoping import audit_for, can

    if not can(req.user, "view_audit"):
        raise Forbidden("your role may not read the audit trail (administrator and data manager only)")
    qs = audit_for(req.user)
    begin, end = _parse_when("beginTime", req.get("beginTime")), _parse_when("endTime", req.get("endTime"))
    if begin:
        qs = qs.filter(at__gte=begin)
    if end:
        qs = qs.filter(at__lte=end)
    if req.get("user"):
        qs = qs.filter(username=req.get("user"))
    if req.get("record"):
        qs = qs.filter(patient_id=req.get("record"))
    if req.get("logtype"):
        lt = req.get("logtype")
        if lt not in LOGTYPES:
            raise ApiError(f"parameter 'logtype': {lt[:30]!r} is not one of {', '.join(LOGTYPES)}")
        qs = qs.filter(action__in=LOGTYPES[lt])
    services._entry(req.user, "export", new_value=f"API log export ({req.format})", reason="audit trail",
                    client_addr=req.client_addr)

    def stream() -> Iterator[bytes]:
        if req.format == "json":
            yield b"["
            first = True
            for r in _rows(qs):
                yield (("" if first else ",") + json.dumps(r, ensure_ascii=False)).encode()
                first = False
            yield b"]"
        elif req.format == "csv":
            yield (",".join(COLUMNS) + "\n").encode()
            batch: list[dict] = []
            for r in _rows(qs):
                batch.append(r)
                if len(batch) == 1000:
                    yield _csv_chunk(batch)
                    batch = []
            yield _csv_chunk(batch)
        else:
            from xml.sax.saxutils import escape

            yield b'<?xml version="1.0" encoding="UTF-8" ?>\n<records>'
            for r in _rows(qs):
                yield ("<item>" + "".join(f"<{k}><![CDATA[{escape(str(v))}]]></{k}>" for k, v in r.items())
                       + "</item>").encode()
            yield b"</records>"

    ctype = {"json": "application/json", "csv": "text/csv", "xml": "application/xml"}[req.format]
    return StreamingHttpResponse(stream(), content_type=f"{ctype}; charset=utf-8")
