"""End to end in a real browser (Playwright driving Debian's chromium) against a live server.

A site user logs in, creates a patient, fills the diagnosis form with a branching field (shown,
filled, hidden again), meets an inline type error, saves (a soft range problem opens a query);
the data manager opens a query; the site answers it with a corrected value and a reason; the data
manager closes it; the investigator signs the casebook with the password; the field history shows
every step. The branching evaluation of ``capture.js`` is checked against the dictionary's own
``Condition.evaluate`` in the same browser. Screenshots: ``tests/artifacts/capture/``.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
from pathlib import Path

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "capture"
TIME_LIMIT = 240  # seconds for the whole journey

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Debian's chromium is not installed (make test installs it when apt is available)"),
]


@pytest.fixture
def live_server(capture_sqlite_users):
    """The capture WSGI application served by waitress on 127.0.0.1 (a free port), in a thread."""
    pytest.importorskip("playwright.sync_api")
    from django.core.wsgi import get_wsgi_application
    from waitress.server import create_server

    from _capture_web import ensure_web_templates

    ensure_web_templates()
    server = create_server(get_wsgi_application(), host="127.0.0.1", port=0, threads=4, clear_untrusted_proxy_headers=True)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.effective_port}", capture_sqlite_users
    server.close()
    t.join(timeout=5)


@pytest.fixture
def chromium_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def time_limit():
    def _expired(signum, frame):
        raise TimeoutError(f"the browser journey took more than {TIME_LIMIT} s")

    old = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(TIME_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _login(browser, base: str, username: str, password: str):
    ctx = browser.new_context(viewport={"width": 1366, "height": 800}, base_url=base)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.press("#id_password", "Enter")
    page.wait_for_url(base + "/")
    page.js_errors = errors
    return page


def _conditions_cases():
    """Conditions × values: every operator, missing and blank values, numbers as codes."""
    from latc.dictionary import parse_condition

    sources = ["a == 'x'", "a != 'x'", "a in ['x', 'y']", "a not in ['x', 'y']", "a == 1",
               "(a == 'x' or b != 'y') and a not in ['z']", "a == 'x' and b == 'y' or a != 'q'"]
    vals = [None, "", " ", "x", " x ", "y", "z", "1", "q"]
    return [parse_condition(s) for s in sources], [{"a": a, "b": b} for a, b in itertools.product(vals, vals)]


def test_capture_journey_in_chromium(live_server, chromium_browser, time_limit):
    import pandas as pd

    from conftest import CAPTURE_TEST_PASSWORD as PW
    from latc.capture.models import AuditEntry, Query, Record
    from latc.capture.web.conditions import condition_tree

    base, users = live_server
    browser = chromium_browser
    pid = "C01-0101"

    # -- 1. the site user logs in and creates a patient ----------------------------------------
    site = _login(browser, base, "site.entry", PW)
    _shot(site, "01_dashboard_empty")
    site.click("text=New patient")
    site.fill("#id_patient_id", pid)
    site.press("#id_patient_id", "Enter")
    site.wait_for_url(f"{base}/patients/{pid}/patients/1/")
    assert "created" in site.inner_text(".flash")

    # -- the browser's branching evaluation = the dictionary's Condition.evaluate ---------------
    conds, rows = _conditions_cases()
    table = pd.DataFrame(rows).astype("string")
    table = table.apply(lambda c: c.where(c.str.strip() != "", pd.NA))  # a blank input is a missing value
    for cond in conds:
        want = cond.evaluate(table).tolist()
        got = site.evaluate("([tree, rows]) => rows.map(v => window.latcCapture.evaluate(tree, n => v[n] ?? null))",
                            [condition_tree(cond), rows])
        assert got == want, cond.source

    # -- 2. diagnosis: branching field shown → filled → hidden; a type error; then saved ---------
    site.goto(f"/patients/{pid}/")
    site.click("#form-diagnosis >> text=enter")
    site.wait_for_url(f"{base}/patients/{pid}/diagnosis/1/")
    assert site.evaluate("document.activeElement.id") == "id_f-histology"  # autofocus on the first field
    row = site.locator("#row-distant_metastasis_sites")
    assert row.is_hidden()
    site.select_option("#id_f-histology", "ptc")
    site.select_option("#id_f-diagnosis_basis", "histology")
    site.fill("#id_f-primary_size_mm", "12a")
    site.select_option("#id_f-ct", "T4a")
    site.select_option("#id_f-cn", "N1b")
    site.select_option("#id_f-cm", "M1")
    assert row.is_visible()  # shown live
    assert "Asked when Clinical M category" in row.inner_text()
    site.select_option("#id_f-distant_metastasis_sites", "lung")
    _shot(site, "02_diagnosis_branch_shown")
    site.select_option("#id_f-cm", "M0")
    assert row.is_hidden() and site.is_disabled("#id_f-distant_metastasis_sites")  # hidden again, not submitted
    site.press("#id_f-primary_size_mm", "Enter")  # Enter saves
    site.wait_for_load_state()
    err = site.locator("#row-primary_size_mm .errors")
    assert err.is_visible() and "not" in err.inner_text() and "number" in err.inner_text()
    assert "Nothing was saved" in site.inner_text(".flash.error")
    assert site.input_value("#id_f-histology") == "ptc" and site.input_value("#id_f-cm") == "M0"
    assert site.locator("#row-distant_metastasis_sites").is_hidden()
    assert site.evaluate("document.activeElement.id") == "id_f-primary_size_mm"  # focus on the error
    _shot(site, "03_diagnosis_inline_type_error")
    assert not Record.objects.filter(patient__patient_id=pid, form="diagnosis").exists()
    site.fill("#id_f-primary_size_mm", "180")  # above the plausible range: saved, and a query opens
    site.click("button:text-is('Save')")
    site.wait_for_selector(".flash.ok")
    rec = Record.objects.get(patient__patient_id=pid, form="diagnosis")
    assert rec.data["primary_size_mm"] == "180" and rec.data["cm"] == "M0"
    assert "distant_metastasis_sites" not in rec.data
    assert site.locator("#row-primary_size_mm .badge.query").count() >= 1
    assert "query opened" in site.inner_text("#row-primary_size_mm")
    _shot(site, "04_diagnosis_saved_query_opened")
    # changing a saved value asks for a reason: the box appears as soon as the value differs
    reason_row = site.locator("[data-reason-row]")
    assert reason_row.is_hidden()
    site.fill("#id_f-primary_size_mm", "120")
    assert reason_row.is_visible()
    site.fill("#id_f-primary_size_mm", "180")
    assert reason_row.is_hidden()
    site.fill("#id_f-primary_size_mm", "120")
    site.press("#id_f-primary_size_mm", "Enter")  # without a reason: refused, nothing saved
    site.wait_for_selector("[data-reason-row] .errors")
    assert Record.objects.get(pk=rec.pk).version == 1
    site.fill("#id_reason", "Re-measured on the CT of 2024-02-20.")
    site.press("#id_f-primary_size_mm", "Enter")
    site.wait_for_selector(".flash.ok")
    assert Record.objects.get(pk=rec.pk).data["primary_size_mm"] == "120"

    # -- 3. the data manager opens a query ------------------------------------------------------
    dm = _login(browser, base, "data.manager", PW)
    _shot(dm, "05_dashboard_data_manager")
    dm.goto(f"/patients/{pid}/diagnosis/1/")
    assert dm.is_disabled("#id_f-histology")  # read only for the data manager
    dm.select_option("select[name=field]", "histology")
    dm.fill("textarea[name=message]", "The pathology report says follicular carcinoma: please check.")
    dm.click("button:text-is('Open query')")
    dm.wait_for_url(f"{base}/queries/*/")
    qpk = int(dm.url.rstrip("/").rsplit("/", 1)[1])
    assert Query.objects.get(pk=qpk).status == "open"

    # -- 4. the site answers it with a corrected value and a reason ---------------------------
    site.goto("/queries/")
    assert site.locator(f"a[href='/queries/{qpk}/']").count() >= 1
    _shot(site, "06_queries_site")
    site.click(f"a[href='/queries/{qpk}/'] >> nth=0")
    site.select_option("#id_new_value", "ftc")  # a coded field: chosen from the list, as on the form
    site.fill("#id_text", "Corrected from the pathology report of 2024-03-02.")
    site.click("button:text-is('Send answer')")
    site.wait_for_selector(".flash.ok")
    assert Query.objects.get(pk=qpk).status == "answered"
    assert Record.objects.get(pk=rec.pk).data["histology"] == "ftc"
    _shot(site, "07_query_answered")

    # -- 5. the data manager closes it ------------------------------------------------------------
    dm.goto(f"/queries/{qpk}/")
    dm.fill("textarea[name=text]", "Confirmed against the source.")
    dm.click("button:text-is('Close query')")
    dm.wait_for_selector(".flash.ok")
    assert Query.objects.get(pk=qpk).status == "closed"
    _shot(dm, "08_query_closed")

    # -- 6. the investigator signs (password re-entered) -------------------------------------
    inv = _login(browser, base, "site.investigator", PW)
    inv.goto(f"/patients/{pid}/")
    inv.click("text=Sign casebook")
    assert "Investigator approval" in inv.inner_text("blockquote")
    inv.fill("#id_password", "not-my-password")
    inv.press("#id_password", "Enter")
    inv.wait_for_selector(".errorlist")
    inv.fill("#id_password", PW)
    inv.press("#id_password", "Enter")
    inv.wait_for_url(f"{base}/patients/{pid}/")
    sig = inv.inner_text(".signature")
    assert "site_investigator user" in sig and "UTC" in sig and "Investigator approval" in sig
    _shot(inv, "09_casebook_signed")

    # -- 7. the field history shows every step -----------------------------------------------------
    site.goto(f"/patients/{pid}/diagnosis/1/history/histology/")
    text = site.inner_text("table")
    _shot(site, "10_field_history")
    actions = list(AuditEntry.objects.filter(patient_id=pid, form="diagnosis", field="histology")
                   .order_by("seq").values_list("action", flat=True))
    assert "create" in actions and "update" in actions, actions
    assert any("query" in a for a in actions), actions
    for needle in ("site.entry", "data.manager", "ptc", "ftc", "Corrected from the pathology report", "update"):
        assert needle in text, needle
    assert text.count("\n") >= len(actions)

    # -- the dashboard shows the statuses -------------------------------------------------------------
    dm.goto("/")
    assert dm.locator("a.status.signed").count() >= 1
    _shot(dm, "11_dashboard_after")
    for page in (site, dm, inv):
        assert not page.js_errors, page.js_errors
