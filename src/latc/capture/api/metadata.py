"""The project's structure: ``metadata`` (data dictionary), ``instrument``, ``exportFieldNames``,
``repeatingFormsEvents``, ``event``, ``arm`` and ``formEventMapping``.

Everything comes from the dictionary in use (``services.dictionary()``) through the same REDCap
data dictionary :func:`latc.dictionary.redcap.redcap_data_dictionary` writes, so the API's
metadata and ``latc capture export``'s ``redcap_data_dictionary.csv`` are one thing. Any active
account may read the structure (it holds no patient data), as in REDCap.

A project is *longitudinal* when records carry REDCap event names (imported from a longitudinal
REDCap project, ``Record.event``); events and arms are then those names (``<event>_arm_<n>``).
For a classic project REDCap refuses ``event``, ``arm`` and ``formEventMapping`` with an error; so
does this API.
"""

from __future__ import annotations

import re

from django.http import HttpResponse

from latc.capture.api.dispatch import ApiError, ApiRequest, handler
from latc.capture.api.project import respond

#: REDCap data dictionary CSV header → the API's metadata key (REDCap API documentation, "Export Metadata")
API_KEYS = ("field_name", "form_name", "section_header", "field_type", "field_label",
            "select_choices_or_calculations", "field_note", "text_validation_type_or_show_slider_number",
            "text_validation_min", "text_validation_max", "identifier", "branching_logic", "required_field",
            "custom_alignment", "question_number", "matrix_group_name", "matrix_ranking", "field_annotation")
_EVENT = re.compile(r"^(?P<event>.+)_arm_(?P<arm>\d+)$")


def _dictionary():
    from latc.capture.services import dictionary

    return dictionary()


@handler("metadata")
def metadata(req: ApiRequest) -> HttpResponse:
    from latc.dictionary.redcap import REDCAP_COLUMNS, redcap_data_dictionary

    d = _dictionary()
    dd = redcap_data_dictionary(d).fillna("")
    rows = [dict(zip(API_KEYS, (str(r[c]) for c in REDCAP_COLUMNS))) for _, r in dd.iterrows()]
    fields, forms = req.list("fields"), req.list("forms")
    known = {r["field_name"] for r in rows}
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise ApiError(f"parameter 'fields': not fields of this project: {', '.join(x[:40] for x in unknown[:5])}")
    bad = [f for f in forms if f not in d.forms]
    if bad:
        raise ApiError(f"parameter 'forms': not instruments of this project: {', '.join(x[:40] for x in bad[:5])}")
    if fields or forms:
        rows = [r for r in rows if r["field_name"] in fields or r["form_name"] in forms]
    return respond(req, rows)


@handler("instrument")
def instruments(req: ApiRequest) -> HttpResponse:
    return respond(req, [{"instrument_name": n, "instrument_label": f.label} for n, f in _dictionary().forms.items()])


@handler("exportFieldNames")
def field_names(req: ApiRequest) -> HttpResponse:
    """Each field's export column(s): one per field, ``<var>___<code>`` per option of a checkbox."""
    from latc.dictionary.redcap import redcap_data_dictionary

    dd = redcap_data_dictionary(_dictionary()).fillna("")
    field = req.get("field")
    rows = []
    for _, r in dd.iterrows():
        var, ftype = r.iloc[0], r.iloc[3]
        if field and var != field:
            continue
        if ftype == "descriptive":
            continue
        if ftype == "checkbox":
            from latc.dictionary.redcap import parse_choices

            for code in parse_choices(r.iloc[5]):
                rows.append({"original_field_name": var, "choice_value": code,
                             "export_field_name": f"{var}___{code.lower()}"})
        else:
            rows.append({"original_field_name": var, "choice_value": "", "export_field_name": var})
    if field and not rows:
        raise ApiError(f"parameter 'field': {field[:40]!r} is not a field of this project")
    return respond(req, rows)


def _events() -> list[str]:
    from latc.capture.models import Record

    return sorted(set(Record.objects.exclude(event="").values_list("event", flat=True).distinct()))


@handler("repeatingFormsEvents")
def repeating(req: ApiRequest) -> HttpResponse:
    d = _dictionary()
    forms = [n for n, f in d.forms.items() if f.repeating]
    events = _events()
    if events:
        rows = [{"event_name": e, "form_name": f, "custom_form_label": ""} for e in events for f in forms]
    else:
        rows = [{"form_name": f, "custom_form_label": ""} for f in forms]
    return respond(req, rows)


def _longitudinal_only(what: str) -> list[str]:
    events = _events()
    if not events:
        raise ApiError(f"You cannot export {what} for classic projects (this project has no events: its records "
                       "carry no REDCap event names)")
    return events


@handler("event")
def events(req: ApiRequest) -> HttpResponse:
    rows = []
    for e in _longitudinal_only("events"):
        m = _EVENT.match(e)
        label = (m.group("event") if m else e).replace("_", " ").title()
        rows.append({"event_name": label, "arm_num": int(m.group("arm")) if m else 1, "unique_event_name": e,
                     "custom_event_label": "", "event_id": ""})
    return respond(req, rows)


@handler("arm")
def arms(req: ApiRequest) -> HttpResponse:
    nums = sorted({int(m.group("arm")) if (m := _EVENT.match(e)) else 1 for e in _longitudinal_only("arms")})
    return respond(req, [{"arm_num": n, "name": f"Arm {n}"} for n in nums])


@handler("formEventMapping")
def form_event_mapping(req: ApiRequest) -> HttpResponse:
    from latc.capture.models import Record

    _longitudinal_only("the form-event mapping")
    pairs = sorted(set(Record.objects.exclude(event="").values_list("event", "form").distinct()))
    rows = []
    for e, f in pairs:
        m = _EVENT.match(e)
        rows.append({"arm_num": int(m.group("arm")) if m else 1, "unique_event_name": e, "form": f})
    return respond(req, rows)
