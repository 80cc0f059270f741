"""The study data dictionary as typed objects.

The YAML file ``latc_dictionary.yaml`` is the single source of truth; this module only reads it.
Validation schemas, the REDCap data dictionary and the codebook are generated from these objects.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from latc.errors import LatcError

#: libyaml's safe loader when PyYAML was built with it (the same documents, ~8× faster), else PyYAML's own.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FieldType = Literal["text", "notes", "integer", "number", "date", "choice", "yesno"]
FIELD_TYPES: tuple[str, ...] = ("text", "notes", "integer", "number", "date", "choice", "yesno")
YESNO_CHOICES: dict[str, str] = {"1": "Yes", "0": "No"}
_CODE_RE = re.compile(r"^[A-Za-z0-9_]+$")


class DictionaryError(LatcError, ValueError):
    """The data dictionary itself is malformed (a developer error, not a data problem)."""


@dataclass(frozen=True)
class Condition:
    """A branching condition (``show_if``) parsed from the dictionary's small expression language.

    Grammar: ``field == 'code'``, ``field != 'code'``, ``field in ['a', 'b']``, ``field == 1``,
    combined with ``and`` / ``or`` and parentheses.  Values compare as the raw codes.
    """

    source: str
    tree: ast.expr

    @property
    def fields(self) -> set[str]:
        return {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)}

    def evaluate(self, table: pd.DataFrame) -> pd.Series:
        """Vectorised truth of the condition on a table of raw (string) codes; missing → False."""
        return _eval(self.tree, table).fillna(False).astype(bool)

    def to_redcap(self) -> str:
        """The same condition in REDCap branching-logic syntax, e.g. ``[vital_status] = 'dead'``."""
        return _redcap(self.tree)

    def describe(self, form: "Form") -> str:
        """The condition in the clinic's words, from the form's labels: ``vital_status == 'dead'``
        → ``Vital status is "Dead"``; ``resolved == 0`` → ``Resolved is "No"``."""
        return _words(self.tree, form)


def _const(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    raise DictionaryError(f"unsupported value in condition: {ast.dump(node)}")


def _eval(node: ast.expr, table: pd.DataFrame) -> pd.Series:
    if isinstance(node, ast.BoolOp):
        parts = [_eval(v, table) for v in node.values]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if isinstance(node.op, ast.And) else (out | p)
        return out
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name):
        col = table[node.left.id].astype("string").str.strip()
        op, right = node.ops[0], node.comparators[0]
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.List, ast.Tuple)):
            res = col.isin([_const(v) for v in right.elts])
            res = res.where(col.notna(), False)
            return ~res if isinstance(op, ast.NotIn) else res
        if isinstance(op, ast.Eq):
            return (col == _const(right)).fillna(False)
        if isinstance(op, ast.NotEq):
            return (col != _const(right)).fillna(False)
    raise DictionaryError(f"unsupported condition: {ast.unparse(node)}")


def _redcap(node: ast.expr) -> str:
    if isinstance(node, ast.BoolOp):
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return "(" + joiner.join(_redcap(v) for v in node.values) + ")"
    assert isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)
    name, op, right = node.left.id, node.ops[0], node.comparators[0]
    if isinstance(op, (ast.In, ast.NotIn)):
        sym, join = ("=", " or ") if isinstance(op, ast.In) else ("<>", " and ")
        return "(" + join.join(f"[{name}] {sym} '{_const(v)}'" for v in right.elts) + ")"  # type: ignore[attr-defined]
    sym = "=" if isinstance(op, ast.Eq) else "<>"
    return f"[{name}] {sym} '{_const(right)}'"


def _words(node: ast.expr, form: "Form") -> str:
    if isinstance(node, ast.BoolOp):
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return joiner.join(_words(v, form) for v in node.values)
    assert isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)
    name, op, right = node.left.id, node.ops[0], node.comparators[0]
    try:
        f = form[name]
        label, labels = f.label, f.choices
    except KeyError:
        label, labels = name, {}

    def value(v: ast.expr) -> str:
        code = _const(v)
        return f'"{labels.get(code, code)}"'

    if isinstance(op, (ast.In, ast.NotIn)):
        vals = [value(v) for v in right.elts]  # type: ignore[attr-defined]
        listed = ", ".join(vals[:-1]) + " or " + vals[-1] if len(vals) > 1 else vals[0]
        return f"{label} is {'not ' if isinstance(op, ast.NotIn) else ''}{listed}"
    return f"{label} is {'not ' if isinstance(op, ast.NotEq) else ''}{value(right)}"


def parse_condition(source: str) -> Condition:
    """Parse a ``show_if`` expression; raises :class:`DictionaryError` on anything outside the grammar."""
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:  # pragma: no cover - dictionary authoring error
        raise DictionaryError(f"cannot parse condition {source!r}: {exc}") from exc
    cond = Condition(source, tree)
    _eval(tree, pd.DataFrame({n: pd.Series([], dtype="string") for n in cond.fields}))  # grammar check
    return cond


@dataclass(frozen=True)
class Field:
    """One variable of a form."""

    name: str
    label: str
    type: FieldType
    form: str
    required: bool = False
    unit: str | None = None
    choices: dict[str, str] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    soft_min: float | None = None
    soft_max: float | None = None
    pattern: str | None = None
    show_if: Condition | None = None
    allowed_by: dict[str, Any] | None = None
    note: str | None = None
    identifier: bool = False

    @property
    def codes(self) -> list[str]:
        """Allowed codes for choice and yesno fields (empty for other types)."""
        return list(self.choices)


@dataclass(frozen=True)
class Form:
    """One case-report form (one study table)."""

    name: str
    label: str
    grain: str
    repeating: bool
    key: list[str]
    fields: list[Field]
    note: str | None = None
    #: prefix for REDCap variable names of this form's fields that clash with another form's
    redcap_prefix: str | None = None
    #: the date field that places a row in time (a row dated after the data cut was not known at
    #: the cut: latc.derive.data_cut); None for forms without one
    record_date: str | None = None

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name}.{name}")


@dataclass(frozen=True)
class Dictionary:
    """The whole study data dictionary."""

    study: str
    title: str
    version: str
    forms: dict[str, Form]
    rules: dict[str, Any]
    patterns: dict[str, str]
    source: Path

    def __getitem__(self, form: str) -> Form:
        return self.forms[form]

    @property
    def form_names(self) -> list[str]:
        return list(self.forms)

    def fields(self) -> list[Field]:
        return [f for form in self.forms.values() for f in form.fields]


def default_dictionary_path() -> Path:
    return Path(str(resources.files("latc.dictionary") / "latc_dictionary.yaml"))


def _field(raw: dict[str, Any], form: str, value_sets: dict[str, dict], patterns: dict[str, str]) -> Field:
    name = raw["name"]
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        raise DictionaryError(f"{form}.{name}: unknown type {ftype!r}")
    if ftype == "yesno":
        choices = dict(YESNO_CHOICES)
    elif ftype == "choice":
        src = raw.get("choices") or value_sets.get(raw.get("value_set", ""), None)
        if not src:
            raise DictionaryError(f"{form}.{name}: choice field without choices/value_set")
        choices = {str(k): str(v) for k, v in src.items()}
        bad = [c for c in choices if not _CODE_RE.match(c)]
        if bad:
            raise DictionaryError(f"{form}.{name}: codes not REDCap-safe: {bad}")
    else:
        choices = {}
    if "pattern_ref" in raw and raw["pattern_ref"] not in patterns:
        raise DictionaryError(f"{form}.{name}: pattern_ref {raw['pattern_ref']!r} is not a *_pattern entry of the file")
    pattern = raw.get("pattern") or (patterns[raw["pattern_ref"]] if "pattern_ref" in raw else None)
    return Field(
        name=name,
        label=raw.get("label", name),
        type=ftype,
        form=form,
        required=bool(raw.get("required", False)),
        unit=raw.get("unit"),
        choices=choices,
        min=raw.get("min"),
        max=raw.get("max"),
        soft_min=raw.get("soft_min"),
        soft_max=raw.get("soft_max"),
        pattern=pattern,
        show_if=parse_condition(raw["show_if"]) if raw.get("show_if") else None,
        allowed_by=raw.get("allowed_by"),
        note=raw.get("note"),
        identifier=bool(raw.get("identifier", False)),
    )


@lru_cache(maxsize=8)
def _load(path: str) -> Dictionary:
    """The dictionary file at ``path``; any problem with it is a DictionaryError naming the file
    (and the YAML line, the form or the missing entry), never a traceback from yaml or a KeyError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DictionaryError(f"{path}: cannot read the data dictionary ({exc.__class__.__name__}: "
                              f"{getattr(exc, 'strerror', None) or exc})") from None
    try:
        raw = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise DictionaryError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("forms"), dict) or "study" not in raw:
        raise DictionaryError(f"{path}: not a data dictionary (a YAML mapping with 'study' and a mapping 'forms')")
    try:
        return _build(raw, path)
    except DictionaryError as exc:
        raise DictionaryError(f"{path}: {exc}") from None


def _build(raw: dict[str, Any], path: str) -> Dictionary:
    value_sets = raw.get("value_sets", {})
    patterns = {k: v for k, v in raw.items() if k.endswith("_pattern")}
    forms: dict[str, Form] = {}
    for fname, fr in raw["forms"].items():
        if not isinstance(fr, dict) or not isinstance(fr.get("fields"), list) or not isinstance(fr.get("key"), list):
            raise DictionaryError(f"form {fname}: needs 'fields' (a list) and 'key' (a list of field names)")
        for i, f in enumerate(fr["fields"]):
            if not isinstance(f, dict) or not f.get("name"):
                raise DictionaryError(f"form {fname}: field #{i + 1} has no 'name'")
        fields = [_field(f, fname, value_sets, patterns) for f in fr["fields"]]
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise DictionaryError(f"{fname}: duplicate field names")
        for k in fr["key"]:
            if k not in names:
                raise DictionaryError(f"{fname}: key field {k!r} not defined")
        for f in fields:
            if f.show_if and not f.show_if.fields <= set(names):
                raise DictionaryError(f"{fname}.{f.name}: show_if names unknown fields")
        forms[fname] = Form(
            name=fname,
            label=fr.get("label", fname),
            grain=fr.get("grain", ""),
            repeating=bool(fr.get("repeating", False)),
            key=list(fr["key"]),
            fields=fields,
            note=fr.get("note"),
            redcap_prefix=fr.get("redcap_prefix"),
            record_date=fr.get("record_date"),
        )
        rd = fr.get("record_date")
        if rd is not None and (rd not in names or forms[fname][rd].type != "date"):
            raise DictionaryError(f"{fname}: record_date {rd!r} is not a date field of the form")
    return Dictionary(
        study=raw["study"],
        title=raw.get("title", raw["study"]),
        version=str(raw.get("version", "")),
        forms=forms,
        rules=raw.get("rules", {}),
        patterns=patterns,
        source=Path(path),
    )


def load_dictionary(path: str | Path | None = None) -> Dictionary:
    """Load the study data dictionary (the bundled one by default)."""
    return _load(str(Path(path) if path else default_dictionary_path()))
