"""``content=version`` and ``content=project``: what a client asks first."""

from __future__ import annotations

import csv
import io
import json

from django.http import HttpResponse

from latc.capture.api.dispatch import ApiRequest, handler

#: the REDCap API version whose behaviour this API follows (docs/capture_api.md)
REDCAP_VERSION = "14.5.0"


def respond(req: ApiRequest, rows: list[dict], *, xml_root: str = "records", xml_item: str = "item") -> HttpResponse:
    """Rows in the requested ``format`` (JSON list, CSV with a header, REDCap-style XML)."""
    from xml.sax.saxutils import escape

    if req.format == "csv":
        buf = io.StringIO()
        cols = list(rows[0]) if rows else []
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    if req.format == "xml":
        items = "".join(f"<{xml_item}>" + "".join(f"<{k}><![CDATA[{escape(str(v))}]]></{k}>" for k, v in r.items())
                        + f"</{xml_item}>" for r in rows)
        return HttpResponse(f'<?xml version="1.0" encoding="UTF-8" ?>\n<{xml_root}>{items}</{xml_root}>',
                            content_type="application/xml; charset=utf-8")
    return HttpResponse(json.dumps(rows, ensure_ascii=False), content_type="application/json; charset=utf-8")


@handler("version")
def version(req: ApiRequest) -> HttpResponse:
    return HttpResponse(REDCAP_VERSION, content_type="text/plain; charset=utf-8")


def project_info() -> dict:
    from latc.capture.models import Record
    from latc.capture.services import dictionary

    d = dictionary()
    repeating = any(f.repeating for f in d.forms.values())
    longitudinal = Record.objects.exclude(event="").exists()
    return {
        "project_id": 1, "project_title": d.title, "creation_time": "", "production_time": "",
        "in_production": 1, "project_language": "English", "purpose": 2, "purpose_other": "",
        "project_notes": f"latc capture; dictionary {d.study} version {d.version}",
        "custom_record_label": "", "secondary_unique_field": "", "is_longitudinal": int(longitudinal),
        "has_repeating_instruments_or_events": int(repeating), "surveys_enabled": 0,
        "scheduling_enabled": 0, "record_autonumbering_enabled": 0, "randomization_enabled": 0,
        "ddp_enabled": 0, "project_irb_number": "", "project_grant_number": "", "project_pi_firstname": "",
        "project_pi_lastname": "", "display_today_now_button": 1, "missing_data_codes": "",
        "external_modules": "", "bypass_branching_erase_field_prompt": 0,
    }


@handler("project")
def project(req: ApiRequest) -> HttpResponse:
    info = project_info()
    if req.format == "json":
        return HttpResponse(json.dumps(info, ensure_ascii=False), content_type="application/json; charset=utf-8")
    return respond(req, [info], xml_root="item", xml_item="project")
