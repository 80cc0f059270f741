"""Security of the capture web UI: CSRF on every POST, hostile text stored verbatim and rendered
escaped, log-in lockout (audited), expired accounts, session expiry, security headers, and no lost
update through the web forms."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from _capture_web import DIAGNOSIS, named_routes, route_kwargs, seed_web  # noqa: E402
from conftest import CAPTURE_TEST_PASSWORD  # noqa: E402

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x","y")'
TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "latc" / "capture" / "web" / "templates"


@pytest.fixture(autouse=True)
def _web_templates(capture_settings):
    from _capture_web import ensure_web_templates

    ensure_web_templates()


def _client(user=None, **kw):
    from django.test import Client

    c = Client(**kw)
    if user is not None:
        c.force_login(user)
    return c


def test_csrf_enforced_on_every_post_route(capture_db, capture_users):
    """Each route that accepts POST refuses a POST without the CSRF token (403), for a user of a
    role that may use it; the same POST with the token is not refused for CSRF."""
    data = seed_web(capture_users)
    # a user that passes the access rule of each route (so that CSRF, not the rule, is what refuses)
    who = {"patient_new": "site_entry", "sign": "site_investigator", "lock": "data_manager",
           "unlock": "data_manager", "record_new": "site_entry", "record": "site_entry",
           "record_delete": "site_entry", "record_verify": "monitor", "query_open": "data_manager",
           "query": "site_entry", "export": "data_manager", "user_new": "admin", "user_edit": "admin",
           "otp_setup": "site_entry", "otp_verify": "site_entry", "logout": "site_entry", "login": None,
           "set_language": "site_entry"}
    from django.urls import reverse

    posted = 0
    for name, p in sorted(named_routes().items()):
        if "POST" not in p.callback.access.methods:
            continue
        if name == "api":
            # the REDCap-compatible API is csrf_exempt by design: it authenticates by a token in the
            # body, never by the session cookie, so a forged cross-site POST carries no authority —
            # a logged-in browser session without a token gets 403 from the API itself
            resp = _client(capture_users["data_manager"], enforce_csrf_checks=True).post(
                reverse(name), {"content": "record"})
            assert resp.status_code == 403 and b"permissions to use the API" in resp.content
            continue
        assert name in who, f"route {name} accepts POST: add it to this test"
        user = capture_users[who[name]] if who[name] else None
        url = reverse(name, kwargs=route_kwargs(name, "own", data))
        resp = _client(user, enforce_csrf_checks=True).post(url, {})
        assert resp.status_code == 403, f"{name}: POST without CSRF token → {resp.status_code}"
        posted += 1
    assert posted >= 15


def test_csrf_token_in_every_post_form_of_the_pages(capture_db, capture_users):
    data = seed_web(capture_users)
    pages = [("site_entry", f"/patients/{data['own']['pid']}/diagnosis/1/"),
             ("data_manager", f"/patients/{data['own']['pid']}/diagnosis/1/"),
             ("site_entry", f"/queries/{data['own']['query']}/"), ("data_manager", f"/queries/{data['own']['query']}/"),
             ("site_investigator", f"/patients/{data['own']['pid']}/sign/"), ("admin", "/users/new/"),
             ("data_manager", "/export/"), ("site_entry", "/patients/new/")]
    for role, url in pages:
        html = _client(capture_users[role]).get(url).content.decode()
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, flags=re.S)
        assert forms, (role, url)
        for body in forms:
            assert 'name="csrfmiddlewaretoken"' in body, (role, url)


def test_no_template_marks_data_safe():
    """Escaping is Django's: no template turns it off."""
    for t in TEMPLATES.rglob("*.html"):
        text = t.read_text(encoding="utf-8")
        assert "|safe" not in text and "autoescape off" not in text and "mark_safe" not in text, t.name


def _escaped(html: str, raw: str) -> bool:
    from django.utils.html import escape

    return escape(raw) in html and raw not in html


def test_hostile_text_stored_verbatim_and_rendered_escaped(capture_db, capture_users):
    from latc.capture.models import AuditEntry, Query, Record

    data = seed_web(capture_users)
    pid, qpk = data["own"]["pid"], data["own"]["query"]
    site, dm, admin = capture_users["site_entry"], capture_users["data_manager"], capture_users["admin"]
    url = f"/patients/{pid}/diagnosis/1/"
    # a reason for change holding a script, and a value (blocked by the rules) holding a formula
    resp = _client(site).post(url, {"base_version": "1", "f-histology": "ftc", "reason": SCRIPT,
                                    **{f"f-{k}": v for k, v in DIAGNOSIS.items() if k != "histology"}})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert Record.objects.get(patient__patient_id=pid, form="diagnosis").data["histology"] == "ftc"
    assert AuditEntry.objects.filter(patient_id=pid, field="histology", reason=SCRIPT).exists()
    hist = _client(site).get(f"{url}history/histology/").content.decode()
    assert _escaped(hist, SCRIPT)
    # a choice field given a formula: not a code → blocked, shown back escaped, nothing stored
    resp = _client(site).post(url, {"base_version": "2", "f-histology": FORMULA, "reason": "test",
                                    **{f"f-{k}": v for k, v in DIAGNOSIS.items() if k != "histology"}})
    assert resp.status_code == 200
    assert _escaped(resp.content.decode(), FORMULA)
    assert Record.objects.get(patient__patient_id=pid, form="diagnosis").data["histology"] == "ftc"
    # query texts: a message and an answer with a script and a formula
    resp = _client(dm).post(f"{url}query/", {"field": "primary_size_mm", "message": FORMULA})
    assert resp.status_code == 302
    q2 = Query.objects.filter(message=FORMULA).get()
    resp = _client(site).post(f"/queries/{qpk}/", {"action": "answer", "text": SCRIPT + FORMULA, "new_value": ""})
    assert resp.status_code == 302
    assert Query.objects.get(pk=qpk).messages.filter(text=SCRIPT + FORMULA).exists()
    for user, page in ((site, f"/queries/{qpk}/"), (dm, f"/queries/{q2.pk}/"), (site, "/queries/"),
                       (admin, "/audit/")):
        html = _client(user).get(page).content.decode()
        assert SCRIPT not in html and FORMULA not in html, page
    assert _escaped(_client(site).get(f"/queries/{qpk}/").content.decode(), SCRIPT)
    assert _escaped(_client(dm).get(f"/queries/{q2.pk}/").content.decode(), FORMULA)


def test_direction_controls_are_refused_in_values_and_notes(capture_sqlite_db, capture_sqlite_users):
    # "Trojan Source" (CVE-2021-42574): U+202E made a reason for change display reversed in the
    # history and the audit trail ("RTL" read "LTR"); values and notes holding one are refused
    from latc.capture.models import AuditEntry, Query, Record

    users = capture_sqlite_users
    data = seed_web(users)
    pid, qpk = data["own"]["pid"], data["own"]["query"]
    site = users["site_entry"]
    url = f"/patients/{pid}/diagnosis/1/"
    before = AuditEntry.objects.exclude(action="login").count()
    base = {f"f-{k}": v for k, v in DIAGNOSIS.items() if k != "histology"}
    resp = _client(site).post(url, {"base_version": "1", "f-histology": "ftc", "reason": "typo \u202eLTR", **base})
    assert resp.status_code == 400 and "U+202E" in resp.content.decode()  # the form again, with the refusal
    resp = _client(site).post(url, {"base_version": "1", "f-histology": "ftc", "reason": "typo",
                                    **{**base, "f-primary_size_mm": "4\u20662"}})
    page = resp.content.decode()
    assert resp.status_code == 200 and "U+2066" in page and "Nothing was saved" in page
    resp = _client(site).post(f"/queries/{qpk}/", {"action": "answer", "text": "done\u202d", "new_value": ""})
    assert resp.status_code == 200 and "invisible direction control (U+202D)" in resp.content.decode()
    assert not Query.objects.get(pk=qpk).messages.filter(text__contains="\u202d").exists()
    assert Record.objects.get(patient__patient_id=pid, form="diagnosis").data.get("histology") != "ftc"
    assert AuditEntry.objects.exclude(action="login").count() == before  # nothing written (but the logins)
    assert not AuditEntry.objects.filter(reason__regex="[\u202a-\u202e\u2066-\u2069]").exists()


def test_lockout_after_five_failed_logins_is_audited(capture_db, capture_users):
    from latc.capture.models import AuditEntry

    capture_users["site_entry"]  # noqa: B018
    c = _client()
    for i in range(5):
        resp = c.post("/login/", {"username": "site.entry", "password": f"wrong-{i}"})
        assert resp.status_code in (200, 429), resp.status_code
    # locked: even the right password is refused now
    resp = c.post("/login/", {"username": "site.entry", "password": CAPTURE_TEST_PASSWORD})
    assert resp.status_code == 429
    assert "locked" in resp.content.decode().lower()
    assert "_auth_user_id" not in c.session
    failed = AuditEntry.objects.filter(username="site.entry", action="login_failed").count()
    assert failed >= 5
    assert AuditEntry.objects.filter(username="site.entry", action="lockout").exists()
    # another account is not affected
    resp = _client().post("/login/", {"username": "monitor", "password": CAPTURE_TEST_PASSWORD})
    assert resp.status_code == 302


def test_login_works_and_expired_account_is_refused(capture_db, capture_users):
    from datetime import timedelta

    from django.utils import timezone

    c = _client()
    resp = c.post("/login/", {"username": "site.entry", "password": CAPTURE_TEST_PASSWORD})
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert c.get("/").status_code == 200
    m = capture_users["monitor"].membership
    m.expires_at = timezone.now() - timedelta(days=1)
    m.save()
    c2 = _client()
    resp = c2.post("/login/", {"username": "monitor", "password": CAPTURE_TEST_PASSWORD})
    assert resp.status_code == 200
    assert "expired" in resp.content.decode()
    assert "_auth_user_id" not in c2.session


def test_deployed_hasher_is_argon2id_and_upgrades_pbkdf2_at_login(capture_sqlite_db, capture_sqlite_users):
    # ASVS 2.4 / OWASP Password Storage Cheat Sheet: Argon2id. An account hashed with PBKDF2 (what
    # latc stored before) still logs in, and its hash is replaced by an Argon2id one
    from django.contrib.auth.hashers import make_password
    from django.test import override_settings

    from latc.capture.settings import DEPLOYED_PASSWORD_HASHERS

    user = capture_sqlite_users["site_entry"]
    with override_settings(PASSWORD_HASHERS=DEPLOYED_PASSWORD_HASHERS):
        user.password = make_password(CAPTURE_TEST_PASSWORD, hasher="pbkdf2_sha256")
        user.save(update_fields=["password"])
        c = _client()
        resp = c.post("/login/", {"username": "site.entry", "password": CAPTURE_TEST_PASSWORD})
        assert resp.status_code == 302 and resp["Location"] == "/"
        user.refresh_from_db()
        assert user.password.startswith("argon2$argon2id$v=19$"), user.password[:20]
        assert user.check_password(CAPTURE_TEST_PASSWORD) and not user.check_password(CAPTURE_TEST_PASSWORD + "x")


def test_session_expires(capture_db, capture_users):
    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    assert settings.SESSION_COOKIE_AGE <= 30 * 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE and settings.SESSION_SAVE_EVERY_REQUEST
    assert settings.SESSION_COOKIE_HTTPONLY
    c = _client()
    c.post("/login/", {"username": "site.entry", "password": CAPTURE_TEST_PASSWORD})
    assert c.get("/").status_code == 200
    assert c.session.get_expiry_age() <= 30 * 60
    s = Session.objects.get(session_key=c.session.session_key)
    s.expire_date = timezone.now() - timezone.timedelta(seconds=1)
    s.save()
    resp = c.get("/")
    assert resp.status_code == 302 and resp["Location"].startswith("/login/")


def test_security_headers(capture_db, capture_users):
    seed_web(capture_users)
    for user, url in ((None, "/login/"), (capture_users["site_entry"], "/"),
                      (capture_users["site_entry"], "/patients/C01-0001/diagnosis/1/"),
                      (capture_users["site_entry"], "/patients/C02-0001/")):
        resp = _client(user).get(url)
        csp = resp.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "default-src 'self'" in csp and "unsafe-inline" not in csp, url
        assert "frame-ancestors 'none'" in csp
        assert resp.get("X-Frame-Options") == "DENY", url
        assert resp.get("X-Content-Type-Options") == "nosniff", url
        assert resp.get("Referrer-Policy") == "same-origin", url
    # pages load no script or style from elsewhere, and none inline
    html = _client(capture_users["site_entry"]).get("/patients/C01-0001/diagnosis/1/").content.decode()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/static/capture/capture.js" defer>']
    assert "<style" not in html and " style=" not in html and "http://" not in html and "https://" not in html


def test_no_lost_update_through_the_web(capture_db, capture_users):
    """Two users open the same form at version 1 and both save: the second gets the conflict page
    with both values, and the first user's value stays."""
    from latc.capture.models import AuditEntry, Record

    data = seed_web(capture_users)
    url = f"/patients/{data['own']['pid']}/diagnosis/1/"
    a, b = _client(capture_users["site_entry"]), _client(capture_users["site_investigator"])
    for c in (a, b):
        html = c.get(url).content.decode()
        assert 'name="base_version" value="1"' in html
    base = {f"f-{k}": v for k, v in DIAGNOSIS.items()}
    ra = a.post(url, {**base, "base_version": "1", "f-primary_size_mm": "44", "reason": "re-measured on CT"})
    assert ra.status_code == 302
    rb = b.post(url, {**base, "base_version": "1", "f-primary_size_mm": "47", "reason": "typo"})
    assert rb.status_code == 409
    html = rb.content.decode()
    assert "Not saved" in html and ">47<" in html and ">44<" in html
    rec = Record.objects.get(patient__patient_id=data["own"]["pid"], form="diagnosis")
    assert rec.data["primary_size_mm"] == "44" and rec.version == 2
    assert not AuditEntry.objects.filter(field="primary_size_mm", new_value="47").exists()


def test_export_zip_by_role(capture_db, capture_users):
    """The data manager downloads an identified or de-identified zip; the statistician only the
    de-identified one (an identified request is refused); site roles get no export at all."""
    import io
    import zipfile

    from latc.capture.models import AuditEntry

    seed_web(capture_users)
    dm = _client(capture_users["data_manager"])
    resp = dm.post("/export/", {"identified": "identified"})
    assert resp.status_code == 200 and resp["Content-Type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(b"".join(resp.streaming_content)))
    names = z.namelist()
    assert "study/diagnosis.csv" in names and "export.json" in names
    assert "C01-0001" in z.read("study/diagnosis.csv").decode()
    stat = _client(capture_users["statistician"])
    assert "Identified" not in stat.get("/export/").content.decode()
    resp = stat.post("/export/", {"identified": "identified"})
    assert resp.status_code == 200 and resp.get("Content-Type", "").startswith("text/html")  # not offered: form error
    resp = stat.post("/export/", {"identified": "deidentified"})
    assert resp.status_code == 200 and resp["Content-Type"] == "application/zip"
    csv = zipfile.ZipFile(io.BytesIO(b"".join(resp.streaming_content))).read("study/diagnosis.csv").decode()
    assert "C01-0001" not in csv and "C02-0001" not in csv
    assert AuditEntry.objects.filter(action="export").count() == 2
    assert _client(capture_users["site_entry"]).post("/export/", {"identified": "deidentified"}).status_code == 403


def test_totp_second_factor(capture_db, capture_users):
    """Set-up page shows the otpauth URI; once confirmed, log-in asks for the code before any page."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from latc.capture.models import AuditEntry

    c = _client()
    c.post("/login/", {"username": "site.entry", "password": CAPTURE_TEST_PASSWORD})
    html = c.get("/otp/setup/").content.decode()
    assert "otpauth://totp/" in html
    device = TOTPDevice.objects.get(user=capture_users["site_entry"], confirmed=False)

    def code(d):
        t = TOTP(d.bin_key, d.step, d.t0, d.digits, d.drift)
        return f"{t.token():0{d.digits}d}"

    assert c.post("/otp/setup/", {"action": "confirm", "token": "000000" if code(device) != "000000" else "111111"}
                  ).status_code == 200
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows down guessing after a wrong code
    assert c.post("/otp/setup/", {"action": "confirm", "token": code(device)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEntry.objects.filter(action="permission_change", field="totp_device", new_value="enabled").exists()
    # a new log-in now needs the code
    c2 = _client()
    resp = c2.post("/login/", {"username": "site.entry", "password": CAPTURE_TEST_PASSWORD})
    assert resp.status_code == 302 and resp["Location"].startswith("/otp/")
    assert c2.get("/patients/C01-0001/")["Location"].startswith("/otp/")
    device.refresh_from_db()
    device.last_t = -1  # the code above was used once already in this time step
    device.save()
    resp = c2.post("/otp/", {"token": code(device), "next": "/"})
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert c2.get("/").status_code == 200


def test_server_log_masks_identifiers(capture_sqlite_db):
    # django.security logs a forged Host header with the header's text; the server log's handler
    # passes latc's identifier filter, so a phone-number-like host is not written out
    import io
    import logging

    from django.test import Client

    from latc._logging import IdentifierFilter

    handlers = [h for h in logging.getLogger("django.security.DisallowedHost").parent.handlers
                if any(isinstance(f, IdentifierFilter) for f in h.filters)]
    assert handlers, "the server log handler has no identifier filter"
    buf = io.StringIO()
    old = handlers[0].setStream(buf)
    try:
        resp = Client().get("/login/", HTTP_HOST="13800138000.example.org")
    finally:
        handlers[0].setStream(old)
    assert resp.status_code == 400
    line = buf.getvalue()
    assert "Invalid HTTP_HOST header" in line and "<masked>" in line
    assert "13800138000" not in line
