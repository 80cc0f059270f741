"""UI text in the request's language (:mod:`latc.capture.web.i18n`); ``{% load capture_i18n %}``, then

* ``{{ "Save"|t }}`` — a fixed text (also a value: ``{{ record.get_status_display|t }}``);
* ``{% tr "Casebook {id}" id=patient.patient_id %}`` — a text with values (escaped like any output);
* ``{% trn "{n} open query" "{n} open queries" count %}`` — a count.

tests/test_capture_i18n.py reads these three forms out of every template and checks that each
literal has its translation.
"""

from django import template

from latc.capture.web.i18n import get_language, localize, query_text
from latc.capture.web.i18n import tr as _tr
from latc.capture.web.i18n import trn as _trn

register = template.Library()


@register.filter(name="t")
def t(text):
    return _tr(str(text)) if text is not None else ""


@register.filter(name="localize")
def localize_filter(value):
    """A message object (:func:`latc.capture.web.i18n.msg`) in the request's language."""
    return localize(value)


@register.filter(name="query_text")
def query_text_filter(q):
    """A query's question (a rule's in the request's language)."""
    return query_text(q)


@register.simple_tag(name="tr")
def tr_tag(text, **params):
    return _tr(str(text), **params)


@register.simple_tag(name="trn")
def trn_tag(singular, plural, n, **params):
    return _trn(str(singular), str(plural), int(n or 0), **params)


@register.simple_tag
def html_lang():
    return "zh-Hans" if get_language() == "zh-hans" else "en"
