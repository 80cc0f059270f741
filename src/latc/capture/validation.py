"""The bridge to ``latc validate``: a save is checked by the SAME rule code as a batch validation.

``validate_casebook`` builds a one-patient :class:`latc.io.Study` from the patient's records (the
edited one in place), runs :func:`latc.validate.validate_study` and maps its queries back to
(form, instance, field). Which problems block a save is decided by rule (:data:`BLOCKING_RULES`):
a value that is not of the field's kind (type, date range, value set, pattern, pseudonym, cell
size, identifier, a unit not allowed for the test) cannot be stored; every other problem (range,
plausibility, date order, references, required, branching, future date, after death, duplicate
key, eligibility contradiction …) is saved and becomes an open query on the field.

Speed: only the forms a change can affect are validated (:func:`affected_forms`: the form itself,
``patients``, ``follow_up`` and the forms linked to it by the dictionary's cross-form rules); the
other forms cannot gain or lose a problem through this edit. ``tests/test_capture_core.py`` checks
that the problems found this way equal those of a whole-casebook validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping

#: rules whose problems block a save (and keep an imported row out, in import_quarantine/)
BLOCKING_RULES = frozenset({
    "type", "date_range", "value_set", "pattern", "pseudonym", "cell_size", "identifier", "allowed_by",
})
#: rules of the batch validator that describe the input file or a consequence, not a value:
#: never turned into capture queries
IGNORED_RULES = frozenset({
    "parent_quarantined", "missing_column", "unknown_column", "missing_form", "unknown_form", "ragged_row",
    "unclosed_quote", "blank_rows", "file_encoding", "csv_delimiter", "duplicate_column", "xlsx_formula",
    "redcap_event", "redcap_instance", "redcap_checkbox",
})
#: forms whose every change can touch any form: the patient row (references, center match, date
#: order from the diagnosis date) and follow-up (dates after death)
_GLOBAL_FORMS = ("patients", "follow_up")
#: the forms evaluate_eligibility reads (latc.validate._eligibility.criteria)
_ELIGIBILITY_INPUTS = ("patients", "eligibility", "diagnosis", "lesions")
#: key in a row dict of ``validate_casebook``'s input giving the record's instance
INSTANCE = "_instance"


@dataclass(frozen=True)
class FieldProblem:
    """One problem of one field of one record, as latc.validate found it."""

    form: str
    instance: int | None
    field: str
    rule: str
    severity: str
    message: str
    blocking: bool
    query_id: str = ""
    value: str | None = None


def affected_forms(dictionary, form: str) -> list[str]:
    """The forms whose problems a change of ``form`` may change (dictionary order)."""
    names = list(dictionary.forms)
    if form in _GLOBAL_FORMS or form not in dictionary.forms:
        return names
    out = {form, *_GLOBAL_FORMS}
    rules = dictionary.rules
    for pair in rules.get("date_order", []):
        ef, lf = pair["earlier"].split(".")[0], pair["later"].split(".")[0]
        if form in (ef, lf):
            out.update((ef, lf))
    for ref in rules.get("references", []):
        src, tgt = ref.get("form"), ref["refers_to"]
        if src == form or src == "*":
            out.add(tgt)
        if tgt == form:
            out.update(names if src == "*" else [src])
    if form in _ELIGIBILITY_INPUTS:
        out.update(_ELIGIBILITY_INPUTS)
    return [n for n in names if n in out]


def form_fields(dictionary, form: str) -> list[str]:
    return dictionary.forms[form].field_names


def _table(dictionary, form: str, rows: Iterable[Mapping[str, str]]):
    import numpy as np
    import pandas as pd

    from latc.io import ROW

    fields = dictionary.forms[form].field_names
    rows = list(rows)
    # one DataFrame construction for all columns (a Series per column cost 3x as much)
    t = pd.DataFrame({f: [_cell(r.get(f)) for r in rows] for f in fields}, index=pd.RangeIndex(len(rows)), dtype="str")
    t[ROW] = np.array([int(r[INSTANCE]) for r in rows], dtype="int64")
    return t


_EMPTY: dict = {}


def _empty(dictionary, form: str):
    """An empty raw table of the form (built once per dictionary; validate_study copies, never mutates)."""
    key = (id(dictionary), form)
    t = _EMPTY.get(key)
    if t is None:
        t = _EMPTY[key] = _table(dictionary, form, ())
    return t


def _cell(v) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def validate_casebook(dictionary, patient_rows: Mapping[str, list[Mapping[str, str]]], *,
                      changed: tuple[str, int] | None = None, today: date | None = None,
                      data_cut: date | None = None) -> list[FieldProblem]:
    """Validate one patient's casebook with latc.validate; problems per (form, instance, field).

    ``patient_rows[form]``: that form's records, each a dict ``{field: text}`` with the record's
    instance under :data:`INSTANCE` (the edited record already holding its new values).
    ``changed``: the (form, instance) just edited — only forms it can affect are validated;
    None validates every form. Form-level and file-level rules (:data:`IGNORED_RULES`) are dropped.
    """
    from latc.io import Study
    from latc.validate import validate_study

    forms = affected_forms(dictionary, changed[0]) if changed else list(dictionary.forms)
    tables = {f: _table(dictionary, f, patient_rows.get(f, ())) for f in forms}
    for f in dictionary.forms:  # forms a change cannot affect: empty (check_form skips them cheaply)
        if f not in tables:
            tables[f] = _empty(dictionary, f)
    study = Study(tables=tables, sources={f: f for f in dictionary.forms}, format="capture")
    result = validate_study(study, dictionary, data_cut=data_cut, today=today, queries_only=True)
    return problems_from_queries(result.queries)


def problems_from_queries(queries) -> list[FieldProblem]:
    """latc.validate's query log (rows numbered by instance, sources named by form) → problems."""
    out: list[FieldProblem] = []
    if not len(queries):
        return out
    for q in queries.to_dict("records"):
        rule = str(q["rule"])
        if rule in IGNORED_RULES:
            continue
        form, field = str(q["form"]), _str(q.get("field"))
        row = q.get("row")
        instance = None if row is None or _isna(row) or int(row) < 0 else int(row)
        msg = str(q["message"])
        head = f"{form} row {instance}, field {field}: " if instance is not None else f"{form}, column {field}: "
        if msg.startswith(head):
            msg = msg[len(head):]
        sev = str(q["severity"])
        out.append(FieldProblem(form=form, instance=instance, field=field, rule=rule, severity=sev, message=msg,
                                blocking=rule in BLOCKING_RULES, query_id=_str(q.get("query_id")),
                                value=None if _isna(q.get("value")) else str(q.get("value"))))
    return out


def _isna(v) -> bool:
    import pandas as pd

    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _str(v) -> str:
    return "" if _isna(v) else str(v)
