"""The codebook: the data dictionary as one Markdown document (``docs/codebook.md``).

Generated, never edited by hand: ``latc dictionary export --format markdown --out docs/codebook.md``
(a test fails when the file no longer matches the dictionary). One section per form (grain, key,
repeating, REDCap instrument) with a table of its fields, then the cross-form rules.
"""

from __future__ import annotations

from typing import Any

from latc.dictionary._model import Dictionary, Field, Form
from latc.dictionary.redcap import RedcapNaming, redcap_naming

REGENERATE = "latc dictionary export --format markdown --out docs/codebook.md"

_TYPE_TEXT = {
    "text": "text",
    "notes": "free text",
    "integer": "integer",
    "number": "number",
    "date": "date (YYYY-MM-DD)",
    "choice": "choice",
    "yesno": "yes/no (1/0)",
}


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: Any) -> str:
    return f"`{_cell(text)}`"


def _num(x: float | int) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{_num(lo)}–{_num(hi)}"
    if lo is not None:
        return f"≥ {_num(lo)}"
    if hi is not None:
        return f"≤ {_num(hi)}"
    return ""


def _field_row(f: Field, form: Form, naming: RedcapNaming) -> str:
    codes = "<br>".join(f"{_code(c)} {_cell(label)}" for c, label in f.choices.items())
    hard = _range(f.min, f.max)
    soft = _range(f.soft_min, f.soft_max)
    rng = "<br>".join(x for x in (hard, f"plausible {soft}" if soft else "") if x)
    notes = []
    if f.note:
        notes.append(_cell(f.note))
    if f.pattern:
        notes.append(f"pattern {_code(f.pattern)}")
    if f.allowed_by:
        by = f.allowed_by.get("field", "?")
        allowed = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in (f.allowed_by.get("values") or {}).items())
        notes.append(f"codes allowed by {_code(by)} — {_cell(allowed)}")
    if f.identifier:
        notes.append("**identifier**")
    var = naming.variable[(form.name, f.name)]
    cells = [
        _code(f.name),
        _code(var) if naming.owner[var] == form.name else f"{_code(var)} (on {naming.owner[var]})",
        _cell(f.label),
        _TYPE_TEXT.get(f.type, f.type),
        _cell(f.unit or ""),
        codes,
        rng,
        "yes" if f.required else "",
        _code(f.show_if.source) if f.show_if else "",
        "<br>".join(notes),
    ]
    return "| " + " | ".join(cells) + " |"


def _form_section(form: Form, naming: RedcapNaming) -> list[str]:
    lines = [
        f"### {form.name} — {form.label}",
        "",
        f"- **Grain:** one row per {form.grain or 'record'}",
        f"- **Key:** {', '.join(_code(k) for k in form.key)}",
        f"- **Repeating:** {'yes (REDCap repeating instrument)' if form.repeating else 'no'}",
        f"- **REDCap instrument:** {_code(form.name)}"
        + (f"; prefix {_code(form.redcap_prefix)} for field names other forms use too" if form.redcap_prefix else ""),
    ]
    if form.note:
        lines.append(f"- **Note:** {form.note}")
    lines += [
        "",
        "| Field | REDCap variable | Label | Type | Unit | Codes | Range | Required | Shown only if | Notes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_field_row(f, form, naming) for f in form.fields]
    return lines + [""]


def _rule_item(group: str, item: Any) -> str:
    if not isinstance(item, dict):
        return f"- {_inline(item)}"
    item = dict(item)
    note = item.pop("note", None)
    tail = f" — {note}" if note else ""
    if group == "references" and {"form", "fields", "refers_to"} <= set(item):
        where = "every form" if item["form"] == "*" else _code(item["form"])
        text = f"in {where}, ({', '.join(_code(x) for x in item['fields'])}) must exist in {_code(item['refers_to'])}"
        if item.get("unless"):
            text += f", unless {_code(item['unless'])}"
        return f"- {text}{tail}"
    if group == "date_order" and {"earlier", "later"} <= set(item):
        text = f"{_code(item['earlier'])} ≤ {_code(item['later'])}"
        if item.get("by"):
            text += f" (matched by {', '.join(_code(x) for x in item['by'])})"
        return f"- {text}{tail}"
    if group == "plausibility":
        where = ".".join(str(item[k]) for k in ("form", "field") if k in item)
        sev = f" (*{item['severity']}*)" if item.get("severity") else ""
        return f"- {_code(where)}: {item.get('rule', '')}{sev}{tail}"
    return "- " + ", ".join(f"{k}: {_inline(v)}" for k, v in item.items()) + tail


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_inline(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_inline(v)}" for k, v in value.items())
    return str(value)


def _rules_section(rules: dict[str, Any]) -> list[str]:
    titles = {
        "references": "References between forms",
        "date_order": "Date order (earlier ≤ later; within a row, or from the patient's row to every row of another form)",
        "no_future_dates": "No future dates",
        "after_death": "Nothing after death",
        "duplicates": "Duplicates",
        "plausibility": "Plausibility",
    }
    lines = ["## Cross-form rules", "", "Checked by `latc validate`; each violation becomes a query.", ""]
    if not rules:
        return lines + ["(none)", ""]
    for group, body in rules.items():
        lines += [f"### {titles.get(group, group.replace('_', ' ').capitalize())}", ""]
        if isinstance(body, list):
            lines += [_rule_item(group, item) for item in body]
        elif isinstance(body, dict):
            note = body.get("note")
            rest = {k: v for k, v in body.items() if k != "note"}
            lines.append(f"- {note}" if note else f"- {_inline(rest)}")
            if note and rest:
                lines.append(f"- {_inline(rest)}")
        else:
            lines.append(f"- {_inline(body)}")
        lines.append("")
    return lines


def render_codebook(d: Dictionary) -> str:
    """The Markdown codebook of a dictionary (deterministic: same dictionary, same text)."""
    naming = redcap_naming(d)
    n_fields = sum(len(f.fields) for f in d.forms.values())
    lines = [
        f"# Codebook — {d.study} data dictionary {d.version}".rstrip(),
        "",
        f"{d.title}",
        "",
        f"<!-- Generated from the data dictionary by `{REGENERATE}`. Do not edit by hand. -->",
        "",
        f"{len(d.forms)} forms, {n_fields} fields. Conventions: codes are stored as shown in the *Codes* column "
        "(yes/no fields as 1/0); dates as YYYY-MM-DD; a field with *Shown only if* must be blank when the "
        "condition is false and, if required, present when it is true; *Range* is the hard range (error) "
        "and the plausible range (warning). *REDCap variable* is the field's name in the REDCap project "
        "(`latc dictionary export --format redcap`); `patient_id` is REDCap's `record_id`.",
        "",
        "## Forms",
        "",
        "| Form | Label | Grain | Key | Repeating | Fields |",
        "|---|---|---|---|---|---|",
    ]
    for form in d.forms.values():
        lines.append(
            f"| {_code(form.name)} | {_cell(form.label)} | {_cell(form.grain)} | "
            f"{', '.join(_code(k) for k in form.key)} | {'yes' if form.repeating else 'no'} | {len(form.fields)} |"
        )
    lines.append("")
    for form in d.forms.values():
        lines += _form_section(form, naming)
    lines += _rules_section(d.rules)
    return "\n".join(lines).rstrip("\n") + "\n"
