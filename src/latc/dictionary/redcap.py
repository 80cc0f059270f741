"""The data dictionary in REDCap's data dictionary CSV, both directions.

REDCap (https://projectredcap.org) describes a project by a data dictionary CSV with 18 fixed
columns (:data:`REDCAP_COLUMNS`, header text exactly as REDCap writes it). This module

* names every dictionary field as a REDCap variable (:func:`redcap_naming`, the single naming rule
  used by the dictionary export and by the record export/import in :mod:`latc.io.redcap`);
* builds the REDCap data dictionary of the study (:func:`redcap_data_dictionary`);
* reads a REDCap data dictionary CSV back into a :class:`~latc.dictionary.Dictionary`
  (:func:`read_redcap_dictionary`) — losslessly for one written here, best effort for any other.

Naming rule (REDCap variable names are unique in the whole project, lowercase, start with a
letter):

* ``patient_id`` is the record id: variable ``record_id``, the first row, in the first form
  (``patients``). Other forms do not repeat it — their rows belong to the record.
* ``center_id`` appears once, in the first form; in a record export the center is also the data
  access group (see :mod:`latc.io.redcap`).
* a field name used by more than one form (``start_date``, ``course_id``, ``histology``, ...) gets
  the form's ``redcap_prefix`` (``tx_start_date``, ``ae_start_date``); other names stay as they are.

What REDCap cannot express is kept in the "Field Annotation" column as ``@LATC-...`` tags (REDCap
ignores unknown tags): ``@LATC-NAME=<field>`` on every row, ``@LATC-FIELD={json}`` (soft range,
pattern, allowed_by, unit, note and the dictionary's own ``show_if`` source), ``@LATC-FORM={json}``
on a form's first row (label, grain, repeating, key, note, prefix, and where the form's copies of
``patient_id`` / ``center_id`` sit) and ``@LATC-STUDY={json}`` on the record id row (study, title,
version, patterns, cross-form rules). REDCap's own columns stay authoritative when they were
edited in REDCap after the export (a changed label, choice list, range or branching logic wins).

Reading a REDCap dictionary not written here (field types REDCap has and LATC has not):

* ``checkbox`` → one ``yesno`` field per option, named like REDCap's export column
  ``<variable>___<code>`` and labelled ``<label>: <option label>``;
* ``calc`` → ``number`` (the formula is kept in the field's note);
* ``descriptive`` → skipped (it holds no data);
* ``slider`` → ``integer`` 0–100; ``truefalse`` → ``choice`` 1 = True, 0 = False;
  ``sql``, ``file``, ``signature`` and text validations other than numbers/dates → ``text``;
* branching logic in the LATC grammar's reach (``=``, ``<>``, ``and``, ``or``, parentheses) becomes
  ``show_if``; anything else is kept as text in the note;
* every form is given a copy of the record id field as its first field (as LATC forms carry
  ``patient_id``), the record id is the key, and no form is marked repeating.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import pandas as pd

from latc.dictionary._model import (
    YESNO_CHOICES,
    Condition,
    Dictionary,
    DictionaryError,
    Field,
    Form,
    parse_condition,
)
from latc.errors import LatcError

#: REDCap's data dictionary columns, header text exactly as REDCap writes it.
REDCAP_COLUMNS: tuple[str, ...] = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
(
    C_VAR, C_FORM, C_SECTION, C_TYPE, C_LABEL, C_CHOICES, C_NOTE, C_VALIDATION, C_MIN, C_MAX,
    C_IDENTIFIER, C_BRANCHING, C_REQUIRED, C_ALIGN, C_QNUM, C_MATRIX, C_RANKING, C_ANNOTATION,
) = REDCAP_COLUMNS

#: the record id variable; the dictionary field it holds
RECORD_ID = "record_id"
RECORD_FIELD = "patient_id"
#: kept once, in the first form (and as the data access group of a record export)
CENTER_FIELD = "center_id"
#: a choice field with at most this many codes is a radio button list, else a dropdown
RADIO_MAX_CHOICES = 8
#: separator of the options of a checkbox column in REDCap's export (``field___code``)
CHECKBOX_SEP = "___"

_VAR_RE = re.compile(r"^[a-z][a-z0-9_]*$")
#: names REDCap reserves for its own export columns or forbids as variables
RESERVED_VARIABLES = frozenset(
    {
        "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
        "redcap_data_access_group", "redcap_survey_identifier", "redcap_csrf_token",
        "record", "event", "arm", "instance", "event_id", "form", "action", "submit",
    }
)


class RedcapDictionaryError(LatcError, ValueError):
    """A REDCap data dictionary CSV that cannot be read at all (one-line message)."""


# ----------------------------------------------------------------------------------------------
# naming


@dataclass(frozen=True)
class RedcapNaming:
    """REDCap variable names of a dictionary's fields, both directions.

    ``variable[(form, field)]`` is the REDCap variable holding a field (for ``patient_id`` in every
    form: :data:`RECORD_ID`; for ``center_id`` in every form: the first form's variable);
    ``fields[variable]`` lists the (form, field) pairs a variable fills; ``owner[variable]`` is
    the form whose rows hold the variable in REDCap.
    """

    variable: dict[tuple[str, str], str]
    fields: dict[str, list[tuple[str, str]]]
    owner: dict[str, str]
    base_form: str
    record_id: str = RECORD_ID

    def form_variables(self, form: Form) -> list[str]:
        """The variables a form holds in REDCap, in field order (shared fields only in the base form)."""
        return [v for f in form.fields if self.owner[(v := self.variable[(form.name, f.name)])] == form.name]

    @property
    def center_variable(self) -> str | None:
        return self.variable.get((self.base_form, CENTER_FIELD))


def redcap_naming(d: Dictionary) -> RedcapNaming:
    """The REDCap variable of every field (rule in the module docstring). Raises
    :class:`DictionaryError` when the dictionary cannot be named in REDCap's rules."""
    forms = list(d.forms.values())
    if not forms:
        raise DictionaryError("the dictionary has no forms")
    base = forms[0]
    if RECORD_FIELD not in base.field_names:
        raise DictionaryError(f"the first form ({base.name}) must hold {RECORD_FIELD} (REDCap's record id)")
    shared = {RECORD_FIELD} | ({CENTER_FIELD} if CENTER_FIELD in base.field_names else set())
    used = Counter(f.name for form in forms for f in form.fields if f.name not in shared)
    variable: dict[tuple[str, str], str] = {}
    fields: dict[str, list[tuple[str, str]]] = {}
    owner: dict[str, str] = {}
    for form in forms:
        prefix = (form.redcap_prefix or form.name).lower()
        for f in form.fields:
            if f.name == RECORD_FIELD:
                var = RECORD_ID
            elif f.name in shared:
                var = f.name
            elif used[f.name] > 1:
                var = f"{prefix}_{f.name}".lower()
            else:
                var = f.name.lower()
            if not _VAR_RE.match(var) or var in RESERVED_VARIABLES or var.endswith("_complete") or CHECKBOX_SEP in var:
                raise DictionaryError(f"{form.name}.{f.name}: {var!r} is not a valid REDCap variable name")
            if var in owner and f.name not in shared:
                raise DictionaryError(f"{form.name}.{f.name}: REDCap variable {var!r} already used by {fields[var]}")
            variable[(form.name, f.name)] = var
            fields.setdefault(var, []).append((form.name, f.name))
            owner.setdefault(var, form.name)
    return RedcapNaming(variable=variable, fields=fields, owner=owner, base_form=base.name)


# ----------------------------------------------------------------------------------------------
# annotation tags

_TAG_RE = re.compile(r"@LATC-([A-Z]+)=")
_JSON = json.JSONDecoder()


def parse_annotation(text: str) -> dict[str, Any]:
    """The ``@LATC-<TAG>=value`` tags of a Field Annotation cell: tag → value (JSON decoded for
    ``{...}`` / ``[...]`` values, else the text up to the next blank). Other text is ignored."""
    out: dict[str, Any] = {}
    pos = 0
    while (m := _TAG_RE.search(text, pos)) is not None:
        start = m.end()
        if start < len(text) and text[start] in "{[":
            try:
                value, pos = _JSON.raw_decode(text, start)
            except json.JSONDecodeError:
                pos = start
                continue
        else:
            end = re.compile(r"\S*").match(text, start).end()  # type: ignore[union-attr]
            value, pos = text[start:end], end
        out[m.group(1)] = value
    return out


def _tag(name: str, value: Any) -> str:
    if isinstance(value, str):
        return f"@LATC-{name}={value}"
    return f"@LATC-{name}=" + json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _num(x: float | int | None) -> str:
    """A range limit as REDCap text: whole numbers without decimals."""
    if x is None:
        return ""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return repr(x) if isinstance(x, float) else str(x)


def _parse_num(text: str) -> float | int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def field_note(unit: str | None, note: str | None) -> str:
    """The REDCap Field Note shown under a field: the unit, then the dictionary's note."""
    parts = ([f"Unit: {unit}"] if unit else []) + ([note] if note else [])
    return ". ".join(parts)


# ----------------------------------------------------------------------------------------------
# dictionary → REDCap


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(id=self.names.get(node.id, node.id), ctx=node.ctx), node)


def branching_logic(condition: Condition | None, form: str, naming: RedcapNaming) -> str:
    """``show_if`` as REDCap branching logic on REDCap variable names (``[tx_stop_date] = '1'``)."""
    if condition is None:
        return ""
    names = {n: naming.variable[(form, n)] for n in condition.fields}
    tree = _Rename(names).visit(copy.deepcopy(condition.tree))
    return Condition(condition.source, tree).to_redcap()


def _redcap_type(f: Field) -> tuple[str, str]:
    """(REDCap field type, text validation) of a dictionary field."""
    if f.type == "choice":
        return ("radio" if len(f.choices) <= RADIO_MAX_CHOICES else "dropdown"), ""
    return {
        "text": ("text", ""),
        "notes": ("notes", ""),
        "integer": ("text", "integer"),
        "number": ("text", "number"),
        "date": ("text", "date_ymd"),
        "yesno": ("yesno", ""),
    }[f.type]


def choices_text(choices: dict[str, str]) -> str:
    """REDCap's choice list: ``code, label | code, label``."""
    for code, label in choices.items():
        if "|" in label or "|" in code:
            raise DictionaryError(f"choice {code!r}: '|' cannot be written in a REDCap choice list")
    return " | ".join(f"{code}, {label}" for code, label in choices.items())


#: Field attributes REDCap has no column for; kept in @LATC-FIELD
_FIELD_EXTRAS = ("soft_min", "soft_max", "pattern", "allowed_by", "unit", "note")
#: attributes compared when describing a form's copy of a shared field
_COPY_ATTRS = tuple(a.name for a in dc_fields(Field) if a.name not in ("name", "form"))


def _field_json(f: Field) -> dict[str, Any]:
    out = {k: getattr(f, k) for k in _COPY_ATTRS}
    out["show_if"] = f.show_if.source if f.show_if else None
    return out


def _row(var: str, form: str, ftype: str, label: str, **cols: str) -> dict[str, str]:
    row = dict.fromkeys(REDCAP_COLUMNS, "")
    row.update({C_VAR: var, C_FORM: form, C_TYPE: ftype, C_LABEL: label})
    row.update(cols)
    return row


def redcap_data_dictionary(d: Dictionary) -> pd.DataFrame:
    """The study's REDCap data dictionary: one row per REDCap variable, :data:`REDCAP_COLUMNS`
    as columns (strings, empty where unset), record id first."""
    naming = redcap_naming(d)
    base = d.forms[naming.base_form]
    rows: list[dict[str, str]] = []
    for form in d.forms.values():
        first = True
        for f in form.fields:
            var = naming.variable[(form.name, f.name)]
            if naming.owner[var] != form.name:
                continue  # a copy of patient_id / center_id: described on the form's first row
            ftype, validation = _redcap_type(f)
            extras = {k: getattr(f, k) for k in _FIELD_EXTRAS if getattr(f, k) is not None}
            if f.show_if is not None:
                extras["show_if"] = f.show_if.source
            tags = [_tag("NAME", f.name)]
            if extras:
                tags.append(_tag("FIELD", extras))
            if first:
                shared = [
                    {"name": c.name, "position": i}
                    | {k: v for k, v in _field_json(c).items() if v != _field_json(base[c.name])[k]}
                    for i, c in enumerate(form.fields)
                    if naming.owner[naming.variable[(form.name, c.name)]] != form.name
                ]
                tags.append(
                    _tag(
                        "FORM",
                        {
                            "label": form.label,
                            "grain": form.grain,
                            "repeating": form.repeating,
                            "key": form.key,
                            "note": form.note,
                            "redcap_prefix": form.redcap_prefix,
                            "record_date": form.record_date,
                            "shared": shared,
                        },
                    )
                )
                first = False
            if var == RECORD_ID:
                tags.append(
                    _tag(
                        "STUDY",
                        {"study": d.study, "title": d.title, "version": d.version, "patterns": d.patterns, "rules": d.rules},
                    )
                )
            numeric = f.type in ("integer", "number")
            rows.append(
                _row(
                    var,
                    form.name,
                    ftype,
                    f.label,
                    **{
                        C_CHOICES: choices_text(f.choices) if f.type == "choice" else "",
                        C_NOTE: field_note(f.unit, f.note),
                        C_VALIDATION: validation,
                        C_MIN: _num(f.min) if numeric else "",
                        C_MAX: _num(f.max) if numeric else "",
                        C_IDENTIFIER: "y" if f.identifier else "",
                        C_BRANCHING: branching_logic(f.show_if, form.name, naming),
                        C_REQUIRED: "y" if f.required else "",
                        C_ANNOTATION: " ".join(tags),
                    },
                )
            )
        if first:
            raise DictionaryError(f"{form.name}: a form needs a field of its own to appear in REDCap")
    return pd.DataFrame(rows, columns=list(REDCAP_COLUMNS), dtype="str")


def write_redcap_data_dictionary(d: Dictionary, out: str | Path) -> Path:
    """Write :func:`redcap_data_dictionary` as a UTF-8 CSV REDCap can upload."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    redcap_data_dictionary(d).to_csv(out, index=False, lineterminator="\n")
    return out


# ----------------------------------------------------------------------------------------------
# REDCap → dictionary

_LOGIC_TOKEN = re.compile(
    r"""\s*(?:
        (?P<evvar>\[[a-z0-9_]+\]\[(?P<ev_var>[a-z][a-z0-9_]*)(?:\((?P<ev_code>[^)]*)\))?\])
      | (?P<var>\[(?P<var_name>[a-z][a-z0-9_]*)(?:\((?P<var_code>[^)]*)\))?\])
      | (?P<op><>|!=|>=|<=|=|>|<)
      | (?P<str>'[^']*'|"[^"]*")
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<bool>\band\b|\bor\b|\bAND\b|\bOR\b)
      | (?P<paren>[()])
    )""",
    re.VERBOSE,
)


#: REDCap logic operators → Python: branching logic (``show_if``) knows equality only; the API's
#: ``filterLogic`` also numeric comparisons
EQUALITY_OPS = {"=": "==", "<>": "!=", "!=": "!="}
COMPARISON_OPS = {**EQUALITY_OPS, "<": "<", ">": ">", "<=": "<=", ">=": ">="}


def redcap_logic_source(logic: str, variables: dict[str, str], *, ops: dict[str, str] = EQUALITY_OPS,
                        options: bool = True) -> tuple[str, set[str]] | None:
    """REDCap logic as the source of a Python expression over field names, with the fields it
    reads; None when it uses anything beyond the grammar of :data:`_LOGIC_TOKEN` (functions, an
    operator not in ``ops``, an unknown variable). ``options=False`` also refuses other events'
    fields (``[event][var]``) and checkbox options (``[var(code)]``).

    ``variables`` maps REDCap variable → field name."""
    out: list[str] = []
    fields: set[str] = set()
    pos = 0
    while pos < len(logic):
        m = _LOGIC_TOKEN.match(logic, pos)
        if m is None or m.end() == pos:
            if logic[pos:].strip() == "":
                break
            return None
        pos = m.end()
        if m.group("evvar") or m.group("var"):
            if not options and (m.group("evvar") or m.group("var_code") is not None):
                return None
            var = m.group("ev_var") or m.group("var_name")
            code = m.group("ev_code") if m.group("evvar") else m.group("var_code")
            if code is not None:
                var = f"{var}{CHECKBOX_SEP}{code.lower()}"
            if var not in variables:
                return None
            fields.add(variables[var])
            out.append(variables[var])
        elif m.group("op"):
            if m.group("op") not in ops:
                return None
            out.append(ops[m.group("op")])
        elif m.group("str"):
            out.append(repr(m.group("str")[1:-1]))
        elif m.group("num"):
            out.append(repr(m.group("num")))
        elif m.group("bool"):
            out.append(m.group("bool").lower())
        else:
            out.append(m.group("paren"))
    return " ".join(out), fields


def condition_from_redcap(logic: str, variables: dict[str, str]) -> Condition | None:
    """REDCap branching logic as a ``show_if`` condition, or None when it uses anything beyond the
    LATC grammar (numeric comparisons, functions, other events' or forms' fields).

    ``variables`` maps REDCap variable → field name of the same form."""
    logic = logic.strip()
    source = redcap_logic_source(logic, variables) if logic else None
    if source is None:
        return None
    try:
        return parse_condition(source[0])
    except (DictionaryError, ValueError, TypeError, AttributeError):
        return None


def parse_choices(text: str) -> dict[str, str]:
    """REDCap's ``code, label | code, label`` as code → label (a bare ``code`` is its own label)."""
    out: dict[str, str] = {}
    for part in text.split("|"):
        if not part.strip():
            continue
        code, sep, label = part.partition(",")
        out[code.strip()] = label.strip() if sep else code.strip()
    return out


def _read_dictionary_frame(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RedcapDictionaryError(f"{path}: cannot read as a REDCap data dictionary CSV ({exc})".splitlines()[0]) from exc
    if frame.shape[1] < 5 or "variable" not in str(frame.columns[0]).lower() or "form" not in str(frame.columns[1]).lower():
        raise RedcapDictionaryError(
            f"{path}: not a REDCap data dictionary (expected the columns {', '.join(REDCAP_COLUMNS[:5])}, ...)"
        )
    # REDCap's dictionary is positional; older versions have 16 columns (no Matrix Ranking?, no annotation)
    frame = frame.iloc[:, : len(REDCAP_COLUMNS)].copy()
    frame.columns = list(REDCAP_COLUMNS[: frame.shape[1]])
    for col in REDCAP_COLUMNS[frame.shape[1] :]:
        frame[col] = ""
    frame = frame.apply(lambda s: s.str.strip())
    return frame[frame[C_VAR] != ""].reset_index(drop=True)


def _type_from_redcap(ftype: str, validation: str) -> str | None:
    if ftype in ("text",):
        if validation == "integer":
            return "integer"
        if validation.startswith("number"):
            return "number"
        if validation.startswith("date_"):
            return "date"
        return "text"
    return {
        "notes": "notes",
        "radio": "choice",
        "dropdown": "choice",
        "yesno": "yesno",
        "truefalse": "choice",
        "calc": "number",
        "slider": "integer",
        "sql": "text",
        "file": "text",
        "signature": "text",
    }.get(ftype)


def read_redcap_dictionary(path: str | Path) -> Dictionary:
    """Read a REDCap data dictionary CSV as a :class:`~latc.dictionary.Dictionary`.

    One written by :func:`redcap_data_dictionary` reads back to the same forms and fields; any
    other is read as described in the module docstring. ``rules`` and ``patterns`` are empty
    unless the ``@LATC-STUDY`` tag carries them. Raises :class:`RedcapDictionaryError` for a file
    that is not a REDCap data dictionary.
    """
    path = Path(path)
    frame = _read_dictionary_frame(path)
    if frame.empty:
        raise RedcapDictionaryError(f"{path}: the REDCap data dictionary has no fields")
    records = frame.to_dict("records")
    tags = [parse_annotation(r[C_ANNOTATION]) for r in records]
    study = tags[0].get("STUDY") if isinstance(tags[0].get("STUDY"), dict) else {}
    record_var = records[0][C_VAR]
    # variable → field name, per form (for branching logic); checkbox options count as variables
    names: dict[str, dict[str, str]] = {}
    for r, t in zip(records, tags):
        form_vars = names.setdefault(r[C_FORM], {})
        name = str(t.get("NAME") or r[C_VAR])
        form_vars[r[C_VAR]] = name
        if r[C_TYPE] == "checkbox":
            for code in parse_choices(r[C_CHOICES]):
                opt = f"{r[C_VAR]}{CHECKBOX_SEP}{code.lower()}"
                form_vars[opt] = opt
    record_name = str(tags[0].get("NAME") or record_var)

    forms_fields: dict[str, list[Field]] = {}
    forms_meta: dict[str, dict[str, Any]] = {}
    for r, t in zip(records, tags):
        form = r[C_FORM]
        fields = forms_fields.setdefault(form, [])
        if isinstance(t.get("FORM"), dict):
            forms_meta[form] = t["FORM"]
        fields.extend(_fields_from_row(r, t, names[form], form))

    base_name = records[0][C_FORM]
    forms: dict[str, Form] = {}
    record_field = next((f for f in forms_fields[base_name] if f.name == record_name), None)
    for form, fields in forms_fields.items():
        meta = forms_meta.get(form)
        if meta is not None:
            base_fields = {f.name: f for f in forms_fields[base_name]}
            for copy_spec in sorted(meta.get("shared", []), key=lambda s: s["position"]):
                spec = dict(copy_spec)
                name, position = spec.pop("name"), spec.pop("position")
                src = base_fields.get(name)
                if src is None:
                    continue
                if "show_if" in spec:
                    spec["show_if"] = parse_condition(spec["show_if"]) if spec["show_if"] else None
                fields.insert(position, replace(src, form=form, **spec))
            forms[form] = Form(
                name=form,
                label=meta.get("label", form),
                grain=meta.get("grain", ""),
                repeating=bool(meta.get("repeating", False)),
                key=list(meta.get("key", [record_name])),
                fields=fields,
                note=meta.get("note"),
                redcap_prefix=meta.get("redcap_prefix"),
                record_date=meta.get("record_date"),
            )
        else:
            if form != base_name and record_field is not None and record_name not in {f.name for f in fields}:
                fields.insert(0, replace(record_field, form=form, note=None))
            forms[form] = Form(
                name=form,
                label=form.replace("_", " ").capitalize(),
                grain="record" if form == base_name else "",
                repeating=False,
                key=[record_name],
                fields=fields,
            )
    return Dictionary(
        study=str(study.get("study", path.stem)),
        title=str(study.get("title", path.stem)),
        version=str(study.get("version", "")),
        forms=forms,
        rules=study.get("rules") or {},
        patterns=study.get("patterns") or {},
        source=path,
    )


def _fields_from_row(r: dict[str, str], t: dict[str, Any], variables: dict[str, str], form: str) -> list[Field]:
    """The dictionary field(s) of one REDCap dictionary row (none for a descriptive field)."""
    rtype = r[C_TYPE].lower()
    extras = t.get("FIELD") if isinstance(t.get("FIELD"), dict) else {}
    name = str(t.get("NAME") or r[C_VAR])
    label = r[C_LABEL]
    required = r[C_REQUIRED].lower() in ("y", "yes", "1")
    identifier = r[C_IDENTIFIER].lower() in ("y", "yes", "1")
    cell_note = r[C_NOTE] or None
    unit, note = extras.get("unit"), extras.get("note")
    if (cell_note or "") != field_note(unit, note):
        note = cell_note  # the note was edited in REDCap (or the row was not written by latc)
    if rtype == "checkbox":
        return [
            Field(
                name=f"{r[C_VAR]}{CHECKBOX_SEP}{code.lower()}",
                label=f"{label}: {opt_label}",
                type="yesno",
                form=form,
                required=False,
                choices=dict(YESNO_CHOICES),
                note=note,
                identifier=identifier,
            )
            for code, opt_label in parse_choices(r[C_CHOICES]).items()
        ]
    ftype = _type_from_redcap(rtype, r[C_VALIDATION].lower())
    if ftype is None:  # descriptive (no data) or an unknown type
        return []
    if ftype == "choice":
        choices = {"1": "True", "0": "False"} if rtype == "truefalse" else parse_choices(r[C_CHOICES])
    elif ftype == "yesno":
        choices = dict(YESNO_CHOICES)
    else:
        choices = {}
    if rtype == "calc":
        note = "; ".join(x for x in (note, f"REDCap calculation: {r[C_CHOICES]}") if x)
    fmin, fmax = (_parse_num(r[C_MIN]), _parse_num(r[C_MAX])) if ftype in ("integer", "number") else (None, None)
    if rtype == "slider":
        fmin, fmax = 0, 100
    # branching: the dictionary's own source when REDCap's logic is still what latc wrote
    logic = r[C_BRANCHING]
    show_if = None
    if extras.get("show_if"):
        own = parse_condition(extras["show_if"])
        renamed = {n: v for v, n in variables.items()}
        try:
            unchanged = Condition(own.source, _Rename(renamed).visit(copy.deepcopy(own.tree))).to_redcap() == logic
        except (AssertionError, AttributeError):
            unchanged = False
        show_if = own if unchanged else None
    if show_if is None and logic:
        show_if = condition_from_redcap(logic, variables)
        if show_if is None:
            note = "; ".join(x for x in (note, f"REDCap branching logic: {logic}") if x)
    return [
        Field(
            name=name,
            label=label,
            type=ftype,  # type: ignore[arg-type]
            form=form,
            required=required,
            unit=unit,
            choices=choices,
            min=fmin,
            max=fmax,
            soft_min=extras.get("soft_min"),
            soft_max=extras.get("soft_max"),
            pattern=extras.get("pattern"),
            show_if=show_if,
            allowed_by=extras.get("allowed_by"),
            note=note,
            identifier=identifier,
        )
    ]
