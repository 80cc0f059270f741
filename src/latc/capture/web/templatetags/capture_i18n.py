"""``{% load capture_i18n %}`` then ``{{ "Save"|t }}``: the UI string in the request's language."""

from django import template

from latc.capture.web.i18n import get_language, tr

register = template.Library()


@register.filter(name="t")
def t(text):
    return tr(str(text))


@register.simple_tag
def html_lang():
    return "zh-Hans" if get_language() == "zh-hans" else "en"
