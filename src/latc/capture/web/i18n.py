"""The language of a request and the web UI's string catalog (docs/capture.md "Languages").

Two sources of text, one file per language each, both checked by tests/test_capture_i18n.py:

* dictionary text (form, field, note and choice labels): ``latc_dictionary.<lang>.yaml`` next to the
  dictionary (:mod:`latc.dictionary.translations`);
* the UI's own text (page texts, buttons, flash and error messages, status and role names, rule
  messages): ``locale/ui.<lang>.yaml`` next to this module, keyed by the English text.

English is the source text (no ``en`` file).  A key may carry ``{name}`` placeholders, filled with
:func:`tr`'s keyword arguments after translation; a translation must use exactly the key's
placeholders (:func:`check_catalog`).  Where a text is missing the English is shown, never a blank.

Messages made far from a request (a service refusing an action) are built with :func:`msg`: the
English text as ``str`` (logs, the CLI, ``str(exc)``), which also remembers its key and values so
that :func:`localize` can show it in the reader's language.

The language: the user's ``Membership.language`` once logged in; before that the language cookie
(set by the log-in page's switch), then the browser's ``Accept-Language`` (``zh-CN`` → ``zh-hans``).
Django's own texts (form errors, password rules) follow through :func:`django.utils.translation.activate`.
"""

from __future__ import annotations

import contextvars
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from latc.capture.texts import Msg, msg
from latc.dictionary.translations import LANGUAGES, Translation, load_translation

__all__ = ["Msg", "msg", "tr", "trn", "tr_lazy", "localize", "rule_message", "load_catalog", "check_catalog"]

_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("latc_language", default="en")
CATALOG_DIR = Path(__file__).with_name("locale")
#: cookie remembering the choice made on the log-in page (Django's default name)
COOKIE = "django_language"


@dataclass(frozen=True)
class Catalog:
    """A language's UI texts: ``messages`` (English key → text) and ``rules`` (rule code → text,
    ``{detail}`` standing for the validator's English message)."""

    language: str
    messages: dict[str, str]
    rules: dict[str, str]


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a text (``str.format`` syntax)."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def check_catalog(raw: dict[str, Any], where: str) -> list[str]:
    """Every problem of a raw catalog: blank texts, placeholders that differ from the key's."""
    problems = []
    for section, allowed in (("messages", None), ("rules", {"detail"})):
        for key, text in (raw.get(section) or {}).items():
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{section}.{key!r}: missing or blank")
                continue
            try:
                want, got = (allowed if allowed is not None else placeholders(key)), placeholders(text)
            except ValueError as exc:
                problems.append(f"{section}.{key!r}: {exc}")
                continue
            if (allowed is None and got != want) or (allowed is not None and not got <= want):
                problems.append(f"{section}.{key!r}: placeholders {sorted(got)} instead of {sorted(want)}")
    return [f"{where}: {p}" for p in problems]


@lru_cache(maxsize=8)
def load_catalog(language: str) -> Catalog:
    """The UI catalog of ``language`` (English: empty, the keys are the text)."""
    if language == "en":
        return Catalog("en", {}, {})
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")
    path = CATALOG_DIR / f"ui.{language}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    problems = check_catalog(raw, path.name)
    if raw.get("language") != language:
        problems.append(f"{path.name}: 'language' is {raw.get('language')!r}, expected {language!r}")
    if problems:
        raise ValueError("UI catalog refused:\n  " + "\n  ".join(problems))
    return Catalog(language, dict(raw.get("messages") or {}), dict(raw.get("rules") or {}))


def get_language() -> str:
    return _LANG.get()


def set_current(language: str):
    return _LANG.set(language or "en")


def _fill(template: str, params: dict[str, Any]) -> str:
    return template.format(**{k: localize(v) for k, v in params.items()}) if params else template


def tr(text: str, /, **params: Any) -> str:
    """``text`` in the current language, ``{placeholders}`` filled from ``params``."""
    lang = _LANG.get()
    found = load_catalog(lang).messages.get(text) if lang != "en" and text else None
    return _fill(found or text, params)


def trn(singular: str, plural: str, n: int, /, **params: Any) -> str:
    """A count: English picks ``singular`` for 1; a translation is keyed by ``plural`` (Chinese has one form)."""
    lang = _LANG.get()
    found = load_catalog(lang).messages.get(plural) if lang != "en" else None
    return _fill(found or (singular if n == 1 else plural), {"n": n, **params})


def localize(value: Any) -> str:
    """A :class:`Msg` (or an exception whose message is one) in the current language; other text is
    looked up as a catalog key and shown as it is when it is not one."""
    if isinstance(value, BaseException):
        value = value.args[0] if len(value.args) == 1 else str(value)
    if isinstance(value, Msg):
        return tr(value.template, **value.params)
    return tr(str(value)) if value is not None else ""


def tr_lazy(text: str) -> Any:
    """:func:`tr` evaluated when shown (form labels defined at import time)."""
    from django.utils.functional import lazy

    return lazy(tr, str)(text)


def dictionary_translation() -> Translation | None:
    return load_translation(_LANG.get())


def rule_message(code: str | None, english: str) -> str:
    """A validator message in the current language: the rule's text, ``{detail}`` being the English
    message (values, ranges, codes); a rule without a text shows the English with its code."""
    lang = _LANG.get()
    if lang == "en":
        return english
    t = load_catalog(lang).rules.get(code or "")
    if t:
        return t.format(detail=english)
    return f"{english} [{code}]" if code else english


def query_text(q) -> str:
    """A query's question: a rule's in the reader's language, a person's as written."""
    return q.message if q.opened_by_id else rule_message(q.rule, q.message)


def request_language(request) -> str:
    """The user's membership language; before log-in the cookie, then ``Accept-Language``."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from latc.capture.models import Membership

        m = Membership.objects.filter(user=user).only("language").first()
        if m is not None and m.language:
            return m.language
    from django.utils import translation

    lang = translation.get_language_from_request(request)
    return lang if lang in LANGUAGES else "en"


class LanguageMiddleware:
    """Sets the request's language (after authentication) for latc's texts and Django's own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.utils import translation

        lang = request_language(request)
        token = set_current(lang)
        translation.activate(lang)
        request.LANGUAGE_CODE = lang
        try:
            response = self.get_response(request)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
            response.headers.setdefault("Content-Language", lang)
            return response
        finally:
            translation.deactivate()
            _LANG.reset(token)


def _dictionary_text(get, english):
    """A text of the dictionary's translation (``get(translation)``); English when there is none."""
    t = dictionary_translation()
    try:
        return get(t) if t else english
    except KeyError:  # a form or field the translation lacks (another dictionary): its English
        return english


def form_label(form) -> str:
    """A dictionary form's label in the current language."""
    return _dictionary_text(lambda t: t.form_label(form), form.label)


def field_label(field) -> str:
    """A dictionary field's label in the current language."""
    return _dictionary_text(lambda t: t.label(field), field.label)


def choice_labels(field) -> dict[str, str]:
    """A coded field's ``{code: label}`` in the current language (English where a label is missing)."""
    shown = _dictionary_text(lambda t: t.choices(field), {})
    return {code: shown.get(code) or label for code, label in field.choices.items()}
