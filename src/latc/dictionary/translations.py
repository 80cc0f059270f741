"""Translations of the data dictionary, one file per language next to it.

``latc_dictionary.<lang>.yaml`` mirrors the dictionary's forms, fields, notes and choice codes.
English is the dictionary's own text (no ``en`` file: a second copy could drift).  A translation
with a missing or an extra key is refused with a message naming every offending key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from latc.dictionary._model import Dictionary, DictionaryError, Field, Form, load_dictionary

LANGUAGES = ("en", "zh-hans")


@dataclass(frozen=True)
class Translation:
    language: str
    forms: dict[str, dict[str, Any]]

    def form_label(self, form: Form) -> str:
        return self.forms[form.name]["label"]

    def form_note(self, form: Form) -> str | None:
        return self.forms[form.name].get("note")

    def _field(self, f: Field) -> dict[str, Any]:
        return self.forms[f.form]["fields"][f.name]

    def label(self, f: Field) -> str:
        return self._field(f)["label"]

    def note(self, f: Field) -> str | None:
        return self._field(f).get("note")

    def choices(self, f: Field) -> dict[str, str]:
        return {str(k): v for k, v in (self._field(f).get("choices") or {}).items()}


def translation_path(language: str, dictionary: Dictionary | None = None) -> Path:
    d = dictionary or load_dictionary()
    return Path(d.source).with_name(f"{Path(d.source).stem}.{language}.yaml")


def check_translation(raw: dict[str, Any], dictionary: Dictionary, where: str) -> list[str]:
    """Every problem of a raw translation against the dictionary (empty = complete and exact)."""
    problems: list[str] = []
    forms = raw.get("forms") or {}

    def text(v: Any, key: str) -> None:
        if not isinstance(v, str) or not v.strip():
            problems.append(f"{key}: missing or blank")

    def entry(t: dict, key: str, note: Any, what: str, nested: str) -> None:
        """A form's or a field's own keys: label, note exactly when the English has one, ``nested``."""
        text(t.get("label"), f"{key}.label")
        if note:
            text(t.get("note"), f"{key}.note")
        elif "note" in t:
            problems.append(f"{key}.note: extra key (the {what} has no note)")
        for k in set(t) - {"label", "note", nested}:
            problems.append(f"{key}.{k}: extra key")

    for name in set(forms) - set(dictionary.forms):
        problems.append(f"forms.{name}: extra key (no such form)")
    for form in dictionary.forms.values():
        tf = forms.get(form.name)
        if not isinstance(tf, dict):
            problems.append(f"forms.{form.name}: missing")
            continue
        entry(tf, f"forms.{form.name}", form.note, "form", "fields")
        tfields = tf.get("fields") or {}
        for name in set(tfields) - set(form.field_names):
            problems.append(f"forms.{form.name}.fields.{name}: extra key (no such field)")
        for f in form.fields:
            key = f"forms.{form.name}.fields.{f.name}"
            t = tfields.get(f.name)
            if not isinstance(t, dict):
                problems.append(f"{key}: missing")
                continue
            entry(t, key, f.note, "field", "choices")
            tc = {str(k): v for k, v in (t.get("choices") or {}).items()}
            for code in f.choices:
                text(tc.get(code), f"{key}.choices.{code}")
            for code in set(tc) - set(f.choices):
                problems.append(f"{key}.choices.{code}: extra key (not a code of the value set)")
    return [f"{where}: {p}" for p in sorted(problems)]


@lru_cache(maxsize=8)
def _load(language: str, path: str) -> Translation:
    dictionary = load_dictionary()
    p = Path(path)
    if not p.is_file():
        raise DictionaryError(f"no translation file for language {language!r}: {p}")
    raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    if raw.get("language") != language:
        raise DictionaryError(f"{p}: 'language' is {raw.get('language')!r}, expected {language!r}")
    problems = check_translation(raw, dictionary, str(p.name))
    if problems:
        raise DictionaryError("incomplete translation:\n  " + "\n  ".join(problems))
    return Translation(language, raw["forms"])


def load_translation(language: str) -> Translation | None:
    """The dictionary's translation into ``language``; None for English (the dictionary's own text)."""
    if language in ("en", "", None):
        return None
    if language not in LANGUAGES:
        raise DictionaryError(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")
    return _load(language, str(translation_path(language)))
