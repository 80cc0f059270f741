"""Bilingual forms (issue #13 item 3): the Simplified Chinese translation of the dictionary is
complete and exact, the UI strings are translated, a zh-hans user sees Chinese, an English user
English, dates are ISO in both, and switching language is audited and CSRF-protected."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from _capture_web import DIAGNOSIS, ROLES, seed_web  # noqa: E402

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


# -- the UI catalog ----------------------------------------------------------------------------------

SRC = Path(__file__).resolve().parents[1] / "src" / "latc" / "capture"
_TPL_T = re.compile(r'"((?:[^"\\]|\\.)+)"\|t\b')
_TPL_TR = re.compile(r'\{% tr "((?:[^"\\]|\\.)+)"')
_TPL_TRN = re.compile(r'\{% trn "(?:[^"\\]|\\.)+" "((?:[^"\\]|\\.)+)"')
_CALLS = {"tr": 0, "t": 0, "msg": 0, "tr_lazy": 0, "trn": 1}


def _python_keys(path: Path) -> set[str]:
    """Literal first arguments of tr/t/msg/tr_lazy calls and the plural of trn calls (ast: implicit
    string concatenation is one constant)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        i = _CALLS.get(name)
        if i is not None and len(node.args) > i and isinstance(node.args[i], ast.Constant) \
                and isinstance(node.args[i].value, str):
            out.add(node.args[i].value)
    return out


def ui_keys() -> set[str]:
    """Every UI text the capture application shows through the catalog: literals in the templates and
    the code, and the texts passed as values (status and role names, the dictionary's grains and
    the dashboard's form heads)."""
    from latc.capture.models import QueryMessage, QueryStatus, RecordStatus, Role
    from latc.capture.web.views import STATUSES
    from latc.dictionary import load_dictionary

    keys = set()
    for p in (SRC / "web" / "templates" / "capture").glob("*.html"):
        text = p.read_text(encoding="utf-8")
        for rx in (_TPL_T, _TPL_TR, _TPL_TRN):
            keys |= set(rx.findall(text))
    for p in SRC.rglob("*.py"):
        if "migrations" not in p.parts:
            keys |= _python_keys(p)
    for choices in (QueryMessage.Action, QueryStatus, RecordStatus, Role):
        keys |= {str(label) for _, label in choices.choices}
    keys |= set(STATUSES) | {"verified"}
    d = load_dictionary()
    keys |= {f.grain for f in d.forms.values() if f.repeating}
    keys |= {n.replace("_", " ").capitalize() for n in d.forms}
    return keys


def _catalog_raw():
    from latc.capture.web.i18n import CATALOG_DIR

    return yaml.safe_load((CATALOG_DIR / "ui.zh-hans.yaml").read_text(encoding="utf-8"))


def test_every_ui_text_has_chinese_and_the_catalog_has_no_stale_key():
    from latc.capture.web.i18n import check_catalog, load_catalog

    keys = ui_keys()
    assert len(keys) > 250, len(keys)  # the extraction finds the texts (templates, views, services, forms)
    assert {"Save", "Queries", "Casebook signed.", "{n} open queries", "Sign the casebook of {patient}",
            "patient {patient} is locked; no edits until unlocked", "drug course"} <= keys
    cat = load_catalog("zh-hans")
    missing = sorted(keys - set(cat.messages))
    assert not missing, f"UI texts without Chinese ({len(missing)}): {missing}"
    stale = sorted(set(cat.messages) - keys)
    assert not stale, f"catalog keys no code uses: {stale}"
    assert check_catalog(_catalog_raw(), "zh") == []
    # a text left as it is on purpose (a code, a product name) is rare
    same = [k for k, v in cat.messages.items() if v == k and any(c.isalpha() for c in k)]
    assert len(same) <= 5, same


def test_catalog_check_names_blank_texts_and_wrong_placeholders():
    from latc.capture.web.i18n import check_catalog

    raw = {"language": "zh-hans", "messages": {"Patient {patient} created.": "已创建患者 {pid}。", "Save": " "},
           "rules": {"range": "超出范围：{detail}", "type": "{value} 不对"}}
    text = "\n".join(check_catalog(raw, "zh"))
    assert "'Patient {patient} created.': placeholders ['pid'] instead of ['patient']" in text
    assert "messages.'Save': missing or blank" in text
    assert "rules.'type': placeholders ['value']" in text
    assert "'range'" not in text


def _documented_rules() -> set[str]:
    """The rule codes of docs/validation.md's rule table."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "validation.md").read_text(encoding="utf-8")
    a = doc.index("| `type` |")
    rows = doc[a:doc.index("\n\n", a)].splitlines()
    return {m.group(1) for r in rows if (m := re.match(r"\| `([a-z_]+)` \|", r))}


def test_every_rule_a_capture_user_can_meet_has_a_chinese_message():
    from latc.capture.validation import IGNORED_RULES
    from latc.capture.web.i18n import load_catalog

    rules = _documented_rules()
    assert {"type", "value_set", "range", "required", "date_order", "after_death"} <= rules
    shown = (rules - IGNORED_RULES) | {"direction_control"}
    cat = load_catalog("zh-hans")
    assert not sorted(shown - set(cat.rules)), sorted(shown - set(cat.rules))
    assert not sorted(set(cat.rules) - shown), "rule texts for codes no one meets"
    assert all(CJK.search(v) for v in cat.rules.values())


def test_rule_message_keeps_the_details_and_falls_back_to_english_with_its_code():
    from latc.capture.web import i18n

    tok = i18n.set_current("zh-hans")
    try:
        out = i18n.rule_message("range", "is outside 1–250 (mm)")
        assert CJK.search(out) and "1–250" in out
        assert i18n.rule_message("no_such_rule", "English text") == "English text [no_such_rule]"
        assert i18n.rule_message(None, "English text") == "English text"
    finally:
        i18n._LANG.reset(tok)
    assert i18n.rule_message("range", "is outside 1–250 (mm)") == "is outside 1–250 (mm)"


def test_a_service_refusal_is_english_text_and_chinese_when_shown():
    import pickle

    from latc.capture.errors import Locked
    from latc.capture.texts import msg
    from latc.capture.web import i18n

    exc = Locked(msg("patient {patient} is locked; no edits until unlocked", patient="C01-0001"))
    assert str(exc) == "patient C01-0001 is locked; no edits until unlocked"
    again = pickle.loads(pickle.dumps(exc.args[0]))
    assert again == str(exc) and again.params == {"patient": "C01-0001"}
    tok = i18n.set_current("zh-hans")
    try:
        shown = i18n.localize(exc)
        assert "C01-0001" in shown and CJK.search(shown)
        one, two = (i18n.trn("{n} open query", "{n} open queries", n) for n in (1, 2))
        assert CJK.search(one) and one.replace("1", "2") == two
    finally:
        i18n._LANG.reset(tok)
    assert i18n.localize(exc) == str(exc)
    assert i18n.trn("{n} open query", "{n} open queries", 1) == "1 open query"
    assert i18n.trn("{n} open query", "{n} open queries", 3) == "3 open queries"


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


# -- every page, every role ----------------------------------------------------------------------------

_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S)


def _visible(html: str) -> str:
    """The page's text as a reader sees it (tags dropped; attribute texts such as titles are not read)."""
    import html as h

    return h.unescape(_TAGS.sub(" ", html))


def _english_sentences() -> list[str]:
    """The catalog's English keys of three words or more, placeholders cut out: none of these may be
    read on a page shown in Chinese."""
    from latc.capture.web.i18n import load_catalog

    out = []
    for key in load_catalog("zh-hans").messages:
        for part in re.split(r"\{[a-z_]+\}", key):
            part = part.strip(" .:;,()“”")
            if len(part.split()) >= 3:
                out.append(part)
    return out


# route → the roles that open it (GET) with data of their own center
_PAGES = {
    "home": ROLES, "queries": ("site_entry", "site_investigator", "monitor", "data_manager"),
    "query": ("site_entry", "data_manager"), "patient": ("site_investigator", "data_manager"),
    "record": ("site_entry", "monitor", "data_manager"), "record_new": ("site_entry",),
    "field_history": ("site_entry",), "sign": ("site_investigator",), "lock": ("data_manager",),
    "export": ("statistician", "data_manager"), "audit": ("admin",), "users": ("admin",),
    "user_edit": ("admin",), "user_new": ("admin",), "patient_new": ("site_entry",), "otp_setup": ("monitor",),
}


def test_every_page_of_every_role_reads_in_chinese(capture_sqlite_db, capture_sqlite_users):
    from django.urls import reverse

    data = seed_web(capture_sqlite_users)
    english = _english_sentences()
    assert len(english) > 100
    seen = 0
    for role in ROLES:
        _set_lang(capture_sqlite_users[role], "zh-hans")
    for name, roles in _PAGES.items():
        url = reverse(name, kwargs=_route_kwargs(name, data))
        for role in roles:
            resp = _client(capture_sqlite_users[role]).get(url)
            assert resp.status_code == 200, (name, role, resp.status_code)
            assert resp["Content-Language"] == "zh-hans"
            text = _visible(resp.content.decode())
            left = [s for s in english if s in text]
            assert not left, f"{name} as {role}: English left: {left}"
            assert CJK.search(text)
            seen += 1
    assert seen >= 25
    # an error page (another center's patient) and Django's own form errors are in Chinese too
    se = _client(capture_sqlite_users["site_entry"])
    text = _visible(se.get(f"/patients/{data['other']['pid']}/").content.decode())
    assert "此页面不存在，或不属于您的中心。" in text
    text = _visible(_client(capture_sqlite_users["admin"]).post("/users/new/", {"username": ""}).content.decode())
    assert "这个字段是必填项。" in text  # Django's own zh_Hans catalogue ("This field is required.")


def _route_kwargs(name, data):
    from _capture_web import route_kwargs

    return route_kwargs(name, "own", data)


def test_a_refusal_of_the_services_reads_in_chinese(capture_sqlite_db, capture_sqlite_users):
    from latc.capture import services

    data = seed_web(capture_sqlite_users)
    services.lock_patient(capture_sqlite_users["data_manager"], data["own"]["patient"], "database lock for analysis")
    user = capture_sqlite_users["site_entry"]
    _set_lang(user, "zh-hans")
    url = f"/patients/{data['own']['pid']}/diagnosis/1/"
    form = {f"f-{k}": v for k, v in {**DIAGNOSIS, "primary_size_mm": "43"}.items()}
    resp = _client(user).post(url, {"base_version": "1", "reason": "转录错误", **form})
    text = _visible(resp.content.decode())
    assert resp.status_code in (403, 409)
    assert "已锁定" in text and "is locked" not in text


def test_branching_conditions_read_in_the_users_language(capture_sqlite_db, capture_sqlite_users):
    data = seed_web(capture_sqlite_users)
    user = capture_sqlite_users["site_entry"]
    url = f"/patients/{data['own']['pid']}/diagnosis/1/"
    en = _client(user).get(url).content.decode()
    assert re.search(r"Asked when</?\w*[^>]*>? ?\S", en) or "Asked when" in en
    _set_lang(user, "zh-hans")
    zh = _client(user).get(url).content.decode()
    branches = re.findall(r'<span class="branch">(.*?)</span>', zh, re.S)
    assert branches and all(CJK.search(b) and " is " not in b for b in branches), branches


def test_the_log_in_page_follows_the_browser_and_the_switch_before_log_in(capture_sqlite_db):
    from django.test import Client

    c = Client()
    assert "Log in" in _visible(c.get("/login/").content.decode())
    zh = _visible(Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").get("/login/").content.decode())
    assert "登录" in zh and "Log in" not in zh.replace("LATC capture", "")
    c = Client(enforce_csrf_checks=True)
    assert c.post("/language/", {"language": "zh-hans"}).status_code == 403  # CSRF holds before log-in too
    c = Client()
    resp = c.post("/language/", {"language": "zh-hans", "next": "/login/"})
    assert resp.status_code == 302 and resp["Location"] == "/login/"
    cookie = resp.cookies["django_language"]
    assert cookie.value == "zh-hans" and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert "登录" in _visible(c.get("/login/").content.decode())
    resp = c.post("/language/", {"language": "klingon", "next": "https://evil.example/"})
    assert resp["Location"] == "/" and "django_language" not in resp.cookies
