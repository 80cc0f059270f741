"""Usability of the capture web forms for the site staff, from a hands-on trial as a research nurse,
an investigator and a data manager: what a refused save says and where the cursor goes, a voided
signature that is visible, repeating forms entered one after another, coded corrections chosen
from a list, and the limits on free text that ends in the append-only audit trail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from _capture_web import DIAGNOSIS, seed_web  # noqa: E402
from conftest import CAPTURE_TEST_PASSWORD  # noqa: E402

JS = Path(__file__).resolve().parents[1] / "src" / "latc" / "capture" / "web" / "static" / "capture" / "capture.js"


@pytest.fixture(autouse=True)
def _web_templates(capture_settings):
    from _capture_web import ensure_web_templates

    ensure_web_templates()


def _client(user=None):
    from django.test import Client

    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def _diag(**changes) -> dict:
    return {f"f-{k}": v for k, v in {**DIAGNOSIS, **changes}.items()}


def test_missing_reason_for_change_says_nothing_was_saved_and_names_the_field_by_its_label(capture_db, capture_users):
    from latc.capture.models import Record

    data = seed_web(capture_users)
    url = f"/patients/{data['own']['pid']}/diagnosis/1/"
    resp = _client(capture_users["site_entry"]).post(url, {"base_version": "1", **_diag(primary_size_mm="43")})
    html = resp.content.decode()
    assert resp.status_code == 200
    assert "Nothing was saved" in html  # the top banner, not only a line next to the reason box
    assert "Largest diameter of the primary tumour" in html.split("Reason for change")[1]  # label, not primary_size_mm
    assert "data-reason-forced" in html  # capture.js puts the cursor in the reason box
    assert Record.objects.get(patient__patient_id=data["own"]["pid"], form="diagnosis").data["primary_size_mm"] == "42"


def test_reason_for_change_longer_than_2000_characters_is_refused(capture_db, capture_users):
    """A 1 MB reason was accepted and written for ever into the append-only audit trail."""
    from latc.capture.models import AuditEntry, Record

    data = seed_web(capture_users)
    pid = data["own"]["pid"]
    url = f"/patients/{pid}/diagnosis/1/"
    site = capture_users["site_entry"]
    resp = _client(site).post(url, {"base_version": "1", "reason": "x" * 2001, **_diag(primary_size_mm="43")})
    assert resp.status_code == 200
    assert "too long" in resp.content.decode()
    assert Record.objects.get(patient__patient_id=pid, form="diagnosis").data["primary_size_mm"] == "42"
    assert not AuditEntry.objects.filter(patient_id=pid, field="primary_size_mm", action="update").exists()
    # deleting a repeating record: the same limit
    c = _client(site)
    resp = c.post(f"/patients/{pid}/labs/new/", {"base_version": "0", "f-lab_date": "2024-01-10", "f-test": "tg",
                                                 "f-value": "2", "f-unit": "ng_ml", "f-below_detection": "0"})
    assert resp.status_code == 302, resp.content.decode()[:1500]
    c.post(f"/patients/{pid}/labs/1/delete/", {"reason": "y" * 2001})
    assert Record.objects.filter(patient__patient_id=pid, form="labs").exists()


def test_change_that_voids_the_signature_is_announced_and_the_casebook_says_so(capture_db, capture_users):
    from latc.capture import services

    data = seed_web(capture_users)
    pid, patient = data["own"]["pid"], data["own"]["patient"]
    services.sign_casebook(capture_users["site_investigator"], patient, CAPTURE_TEST_PASSWORD, "I approve")
    resp = _client(capture_users["site_entry"]).post(
        f"/patients/{pid}/diagnosis/1/", {"base_version": "1", "reason": "remeasured", **_diag(primary_size_mm="43")},
        follow=True)
    assert resp.status_code == 200 and "This change voided the investigator" in resp.content.decode()
    page = _client(capture_users["site_investigator"]).get(f"/patients/{pid}/").content.decode()
    top = page.split('<table class="grid">')[0]  # above the forms, not only in the history at the bottom
    assert "Not signed" in top and "voided" in top


def test_save_and_add_another_opens_a_new_instance_of_a_repeating_form(capture_db, capture_users):
    data = seed_web(capture_users)
    pid = data["own"]["pid"]
    c = _client(capture_users["site_entry"])
    assert "Save and add another" in c.get(f"/patients/{pid}/labs/new/").content.decode()
    assert "Save and add another" not in c.get(f"/patients/{pid}/diagnosis/1/").content.decode()
    resp = c.post(f"/patients/{pid}/labs/new/", {"base_version": "0", "f-lab_date": "2024-01-10", "f-test": "tg",
                                                 "f-value": "2", "f-unit": "ng_ml", "f-below_detection": "0",
                                                 "then": "another"})
    assert resp.status_code == 302 and resp["Location"] == f"/patients/{pid}/labs/new/"


def test_casebook_lists_codes_by_label_once_and_pluralises_queries(capture_db, capture_users):
    from latc.capture import services

    data = seed_web(capture_users)
    pid, patient = data["own"]["pid"], data["own"]["patient"]
    res = services.save_record(capture_users["site_entry"], patient, "labs", None,
                               {"lab_date": "2024-01-10", "test": "tg", "value": "2", "unit": "ng_ml",
                                "below_detection": "0"}, base_version=None)
    assert res.saved, res.errors
    services.open_query(capture_users["data_manager"], data["own"]["record"], "ct", "Check the T category.")
    html = _client(capture_users["site_entry"]).get(f"/patients/{pid}/").content.decode()
    assert "Thyroglobulin" in html and "2024-01-10 · tg" not in html
    assert html.count("2024-01-10") == 1
    assert "2 queries" in html and "2 query<" not in html


def test_coded_field_is_corrected_from_a_list_in_the_query_answer(capture_db, capture_users):
    data = seed_web(capture_users)  # the query sits on histology, a coded field
    html = _client(capture_users["site_entry"]).get(f"/queries/{data['own']['query']}/").content.decode()
    assert '<select name="new_value"' in html and "Papillary" in html


def test_sign_page_warns_about_incomplete_forms(capture_db, capture_users):
    data = seed_web(capture_users)  # records saved through the form default to incomplete
    html = _client(capture_users["site_investigator"]).get(f"/patients/{data['own']['pid']}/sign/").content.decode()
    assert "still marked" in html and "Incomplete" in html


def test_lock_page_warns_about_unresolved_queries_and_incomplete_forms(capture_sqlite_db, capture_sqlite_users):
    # the helper trial locked a casebook with 10 unresolved queries without a word
    from latc.capture.models import Query

    data = seed_web(capture_sqlite_users)
    pid = data["own"]["pid"]
    n = Query.objects.filter(record__patient__patient_id=pid, status__in=["open", "answered"]).count()
    assert n >= 1
    html = _client(capture_sqlite_users["data_manager"]).get(f"/patients/{pid}/lock/").content.decode()
    assert f"{n} quer{'y is' if n == 1 else 'ies are'} still unresolved" in html
    assert "form still marked Incomplete" in html or "forms still marked Incomplete" in html
    html = _client(capture_sqlite_users["data_manager"]).get(f"/patients/{pid}/unlock/").content.decode()
    assert "still unresolved" not in html


def test_patient_pages_are_not_cached_by_the_browser(capture_db, capture_users):
    data = seed_web(capture_users)
    resp = _client(capture_users["site_entry"]).get(f"/patients/{data['own']['pid']}/")
    assert "no-store" in resp["Cache-Control"]


def test_script_moves_the_cursor_after_a_prefilled_id_and_to_a_forced_reason():
    """The new-patient box is pre-filled with "C01-" and has the focus: typing must continue it
    (the trial typed "0099" and got "0099C01-"). Checked in Chromium during the trial; here the
    script's hooks are pinned."""
    js = JS.read_text(encoding="utf-8")
    assert "setSelectionRange(el.value.length, el.value.length)" in js
    assert 'querySelector("input[autofocus]")' in js
    assert "[data-reason-forced] textarea" in js


def test_audit_page_shortens_a_long_reason_and_keeps_values_readable(capture_db, capture_users):
    """A long reason (up to the 2,000-character limit the services enforce) is listed shortened on
    the audit page; the field history keeps it whole."""
    from latc.capture import services

    data = seed_web(capture_users)
    long = "r" * 2000
    res = services.save_record(capture_users["site_entry"], data["own"]["patient"], "diagnosis", 1,
                               {**DIAGNOSIS, "primary_size_mm": "43"}, base_version=1, reason=long)
    assert res.saved
    html = _client(capture_users["admin"]).get("/audit/").content.decode()
    assert long not in html and "r" * 400 in html
    assert 'class="grid audit"' in html and 'class="change"' in html
    # seven columns that fit the page (the reason and the address were cut off at the right, trial 2026-12-04):
    # who = user, role · center · address; record = patient · form #instance, field
    import re

    heads = re.findall(r"<th[^>]*>([^<]+)</th>", html.split('class="grid audit"')[1].split("</thead>")[0])
    assert heads == ["#", "When (UTC)", "Who", "Record", "Action", "Old → new", "Reason"]
    assert re.search(r'<td class="who">site\.entry<br><span class="small muted">site_entry · C01', html)


def test_form_of_a_signed_casebook_warns_that_saving_voids_the_signature(capture_db, capture_users):
    from latc.capture import services

    data = seed_web(capture_users)
    pid, patient = data["own"]["pid"], data["own"]["patient"]
    c = _client(capture_users["site_entry"])
    assert "saving a change voids the signature" not in c.get(f"/patients/{pid}/diagnosis/1/").content.decode()
    services.sign_casebook(capture_users["site_investigator"], patient, CAPTURE_TEST_PASSWORD, "I approve")
    for url in (f"/patients/{pid}/diagnosis/1/", f"/patients/{pid}/labs/new/"):
        assert "saving a change voids the signature" in c.get(url).content.decode(), url
    # a read-only reader (the monitor) is not told about saving
    html = _client(capture_users["monitor"]).get(f"/patients/{pid}/diagnosis/1/").content.decode()
    assert "saving a change voids the signature" not in html


def test_post_after_the_session_ended_says_nothing_was_saved(capture_db, capture_users):
    """A nurse whose session timed out while typing was sent to the log-in page without a word."""
    data = seed_web(capture_users)
    url = f"/patients/{data['own']['pid']}/labs/new/"
    resp = _client().post(url, {"base_version": "0", "f-lab_date": "2024-01-10"}, follow=True)
    html = resp.content.decode()
    assert resp.redirect_chain and resp.redirect_chain[-1][0].startswith("/login/")
    assert "was not saved" in html
    assert "was not saved" not in _client().get(url, follow=True).content.decode()  # a plain visit: no alarm


def test_data_manager_sends_an_unsettling_answer_back_to_the_site(capture_db, capture_users):
    """An answered query that the data manager does not accept can be re-opened (as in REDCap's data
    resolution workflow), not only closed; the site sees it open again."""
    from latc.capture import services
    from latc.capture.models import Query

    data = seed_web(capture_users)
    q = Query.objects.get(pk=data["own"]["query"])
    services.answer_query(capture_users["site_entry"], q, "checked")
    dm = _client(capture_users["data_manager"])
    page = dm.get(f"/queries/{q.pk}/").content.decode()
    assert "Not settled: send back to the site" in page
    resp = dm.post(f"/queries/{q.pk}/", {"action": "reopen", "text": "The report says FTC; please look again."})
    assert resp.status_code == 302
    q.refresh_from_db()
    assert q.status == "open" and [m.action for m in q.messages.order_by("at", "id")] == ["open", "answer", "reopen"]
    # the site cannot send it back itself
    assert "Not settled" not in _client(capture_users["site_entry"]).get(f"/queries/{q.pk}/").content.decode()


def test_admin_corrects_a_users_full_name_and_old_signatures_keep_theirs(capture_db, capture_users):
    # the name printed on signatures (Part 11 §11.50) was fixed at creation and could not be
    # corrected from the users page; now it can, audited, and a signature keeps the name it was made under
    from latc.capture import services
    from latc.capture.models import AuditEntry, Membership, Patient, Signature

    data = seed_web(capture_users)
    inv = capture_users["site_investigator"]
    patient = Patient.objects.get(patient_id=data["own"]["pid"])
    sig = services.sign_casebook(inv, patient, CAPTURE_TEST_PASSWORD, "I approve this casebook")
    old_name = sig.signer_name
    m = Membership.objects.get(user=inv)
    resp = _client(capture_users["admin"]).post(f"/users/{inv.pk}/", {
        "display_name": "Dr. Li Wen-Jun", "role": m.role, "centers": [c.code for c in m.centers.all()],
        "expires_at": "", "is_active": "on"})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert Membership.objects.get(user=inv).display_name == "Dr. Li Wen-Jun"
    e = AuditEntry.objects.filter(action="permission_change", field="display_name").latest("seq")
    assert (e.old_value, e.new_value, e.username) == (old_name, "Dr. Li Wen-Jun", "admin")
    assert Signature.objects.get(pk=sig.pk).signer_name == old_name


def test_dashboard_columns_name_every_form_in_words_with_its_label(capture_sqlite_db, capture_sqlite_users):
    # the record status dashboard's heads were dictionary codes cut at 8 rem ("lesion_assessme…");
    # now the form's name in words, whole, and its label for the pointer and screen readers
    import re

    from latc.capture import services

    data = seed_web(capture_sqlite_users)
    for field in ("ct", "cn"):  # more open queries than one, so a per-row count cannot pass for a total
        services.open_query(capture_sqlite_users["data_manager"], data["own"]["record"], field, f"please check {field}")
    html = _client(capture_sqlite_users["data_manager"]).get("/").content.decode()
    heads = re.findall(r'<th class="form" scope="col" title="([^"]+)" aria-label="[^"]+"><span>([^<]+)</span></th>', html)
    d = services.dictionary()
    assert [h[1] for h in heads] == [n.replace("_", " ").capitalize() for n in d.forms]
    assert ("RECIST 1.1 lesion assessments after baseline", "Lesion assessments") in heads
    assert "lesion_assessme" not in html.split("<tbody>")[0]
    # the badges split the unresolved queries by who acts next (the trial read "17 open" when 13 of
    # them were answered, waiting for the data manager)
    from latc.capture.models import Query

    n_open = Query.objects.filter(status="open").count()
    n_answered = Query.objects.filter(status="answered").count()
    assert n_open >= 3
    assert f"{n_open} open quer{'y' if n_open == 1 else 'ies'}</a>" in html
    assert (f"{n_answered} answered</a>" in html) == (n_answered > 0)
    assert "Unresolved queries</th>" in html and "unresolved queries (open or answered)" in html
