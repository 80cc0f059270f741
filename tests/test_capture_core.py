"""latc capture, data layer: saves validated by latc.validate's rules, optimistic concurrency,
reasons for change, locks, signatures, queries, scoping by role × center (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("django")

from conftest import CAPTURE_TEST_PASSWORD  # noqa: E402


def _patient(users, pid="C01-0001", center="C01", who="site_entry"):
    from latc.capture import services

    return services.create_patient(users[who], pid, center)


def _save(users, patient, form, values, *, who="site_entry", instance=1, reason=None, status=None):
    from latc.capture import services
    from latc.capture.models import Record

    rec = Record.objects.filter(patient=patient, form=form, instance=instance).first() if instance else None
    return services.save_record(users[who], patient, form, instance, values,
                                base_version=rec.version if rec else None, reason=reason, status=status)


# -- validation on save ----------------------------------------------------------------------------

def test_invalid_date_blocks_the_save_with_the_rules_message(capture_users):
    from latc.capture.models import AuditEntry, Record

    p = _patient(capture_users)
    before = AuditEntry.objects.count()
    res = _save(capture_users, p, "patients", {"diagnosis_date": "2021-02-30", "cohort": "neoadjuvant"})
    assert not res.saved
    assert [(e.field, e.rule, e.blocking) for e in res.errors] == [("diagnosis_date", "type", True)]
    assert "not a calendar date" in res.errors[0].message
    rec = Record.objects.get(patient=p, form="patients")
    assert "diagnosis_date" not in rec.data and "cohort" not in rec.data and rec.version == 1  # nothing saved
    assert AuditEntry.objects.count() == before


def test_out_of_range_value_saves_and_opens_a_query(capture_users):
    from latc.capture.models import Query

    p = _patient(capture_users)
    res = _save(capture_users, p, "diagnosis", {"primary_size_mm": "2500", "histology": "ptc"})
    assert res.saved and not res.errors
    assert res.record.data["primary_size_mm"] == "2500"
    q = Query.objects.get(record=res.record, field="primary_size_mm")
    assert (q.rule, q.status, q.opened_by) == ("range", "open", None)
    assert "above the allowed range 1–250" in q.message
    assert q.query_id.startswith("Q")
    # the same problem saved again does not open a second query
    res2 = _save(capture_users, p, "diagnosis", {"ct": "T4a"})
    assert res2.saved and Query.objects.filter(record=res.record, field="primary_size_mm").count() == 1


def test_a_target_lesion_too_small_to_measure_saves_with_a_recist_query(capture_users):
    # RECIST 1.1 §3.1.1: a 7 mm non-nodal target is not measurable; the site hears it on save
    from latc.capture.models import Query

    p = _patient(capture_users)
    res = _save(capture_users, p, "lesions", {"lesion_id": "T1", "site": "thyroid", "lesion_role": "target",
                                              "is_lymph_node": "0", "baseline_date": "2022-01-28",
                                              "baseline_diameter_mm": "7", "imaging_modality": "ct"}, instance=None)
    assert res.saved and not res.errors
    q = Query.objects.get(record=res.record, rule="recist_target")
    assert q.field == "baseline_diameter_mm" and "below the 10 mm needed" in q.message
    # corrected to 12 mm: the rule no longer fires and its query is marked answered
    res = _save(capture_users, p, "lesions", {"baseline_diameter_mm": "12"}, instance=res.record.instance,
                reason="re-measured on the baseline CT")
    assert res.saved
    q.refresh_from_db()
    assert q.status == "answered"


def test_value_set_and_pattern_block_required_is_quiet_while_incomplete(capture_users):
    from latc.capture.models import Query

    p = _patient(capture_users)
    res = _save(capture_users, p, "diagnosis", {"histology": "papillary"})
    assert not res.saved and res.errors[0].rule == "value_set"
    res = _save(capture_users, p, "diagnosis", {"histology": "ptc"})
    assert res.saved and not Query.objects.filter(record=res.record, rule="required").exists()
    # marking the form complete with required fields blank opens a query per blank field
    res = _save(capture_users, p, "diagnosis", {}, status="complete")
    assert res.saved
    assert Query.objects.filter(record=res.record, rule="required", field="ct").exists()


def test_cross_form_date_order_query_lands_on_the_later_record(capture_users):
    from latc.capture.models import Query

    p = _patient(capture_users)
    _save(capture_users, p, "patients", {"diagnosis_date": "2022-03-01"})
    res = _save(capture_users, p, "treatments", {"course_id": "1", "start_date": "2022-01-10"}, instance=None)
    assert res.saved
    q = Query.objects.get(rule="date_order")
    assert (q.record.form, q.field) == ("treatments", "start_date")
    assert "before" in q.message


def test_future_date_saves_with_a_query(capture_users):
    from latc.capture.models import Query

    p = _patient(capture_users)
    res = _save(capture_users, p, "patients", {"diagnosis_date": "2199-01-01"})
    assert res.saved
    assert Query.objects.filter(record=res.record, rule="future_date", field="diagnosis_date").exists()


def test_correction_marks_the_rule_query_answered(capture_users):
    from latc.capture.models import Query

    p = _patient(capture_users)
    res = _save(capture_users, p, "diagnosis", {"primary_size_mm": "2500"})
    q = Query.objects.get(record=res.record, field="primary_size_mm")
    _save(capture_users, p, "diagnosis", {"primary_size_mm": "25"}, reason="typo: 25 mm on the CT report")
    q.refresh_from_db()
    assert q.status == "answered"
    assert q.messages.last().new_value == "25"


def test_answering_a_rule_query_with_the_correction_is_one_answer_by_the_site(capture_users):
    # the site answers the rule's query with a corrected value: the thread shows the site's answer
    # once (not a second, automatic "answered" in the nurse's name)
    from latc.capture import services
    from latc.capture.models import Query

    p = _patient(capture_users)
    res = _save(capture_users, p, "diagnosis", {"primary_size_mm": "2500"})
    q = Query.objects.get(record=res.record, field="primary_size_mm")
    q = services.answer_query(capture_users["site_entry"], q, "2.5 cm typed as mm", new_value="25")
    answers = [(m.user.get_username() if m.user else None, m.text) for m in q.messages.filter(action="answer")]
    assert answers == [("site.entry", "2.5 cm typed as mm")]
    # a plain correction (no thread) is noted by the study rules, not in the user's name
    p2 = _patient(capture_users, pid="C01-0002")
    res = _save(capture_users, p2, "diagnosis", {"primary_size_mm": "3000"})
    q2 = Query.objects.filter(record=res.record, field="primary_size_mm", status="open").get()
    _save(capture_users, p2, "diagnosis", {"primary_size_mm": "30"}, reason="typo")
    m = q2.messages.filter(action="answer").get()
    assert m.user is None and "study rules" in m.text


def test_notes_longer_than_the_limit_are_refused_by_every_caller(capture_users):
    # the web form caps a reason at 2,000 characters; the service refuses a longer one from any caller
    # (commands, imports), so the append-only trail never takes a megabyte of text
    from latc.capture import services
    from latc.capture.errors import CaptureError
    from latc.capture.models import AuditEntry

    p = _patient(capture_users)
    rec = _save(capture_users, p, "diagnosis", {"primary_size_mm": "45"}).record
    n = AuditEntry.objects.count()
    with pytest.raises(CaptureError, match="at most 2,000 characters"):
        services.open_query(capture_users["data_manager"], rec, "primary_size_mm", "x" * 2001)
    with pytest.raises(CaptureError, match="at most 2,000"):
        _save(capture_users, p, "diagnosis", {"primary_size_mm": "46"}, reason="y" * 1_000_000)
    assert AuditEntry.objects.count() == n
    services.open_query(capture_users["data_manager"], rec, "primary_size_mm", "x" * 2000)


def test_hostile_text_in_a_patterned_field_is_refused(capture_users):
    from latc.capture.models import Record

    p = _patient(capture_users)
    res = _save(capture_users, p, "lesions", {"lesion_id": '=HYPERLINK("http://x","y")'}, instance=None)
    assert not res.saved and res.errors[0].rule == "pattern"
    assert not Record.objects.filter(patient=p, form="lesions").exists()


# -- concurrency, reasons, locks, signatures -------------------------------------------------------

def test_no_lost_update(capture_users):
    from latc.capture import services
    from latc.capture.errors import ConflictError
    from latc.capture.models import Record

    p = _patient(capture_users)
    rec = Record.objects.get(patient=p, form="patients")
    v = rec.version
    first = services.save_record(capture_users["site_entry"], p, "patients", 1, {"cohort": "neoadjuvant"}, base_version=v)
    assert first.saved
    with pytest.raises(ConflictError) as exc:
        services.save_record(capture_users["site_investigator"], p, "patients", 1, {"cohort": "upfront_surgery"},
                             base_version=v)
    assert exc.value.current_version == v + 1
    rec.refresh_from_db()
    assert rec.data["cohort"] == "neoadjuvant" and rec.version == v + 1


def test_no_lost_update_on_a_new_one_row_form(capture_users):
    """Two users open the empty diagnosis form; the second save must not overwrite the first."""
    from latc.capture import services
    from latc.capture.errors import ConflictError
    from latc.capture.models import Record

    p = _patient(capture_users)
    services.save_record(capture_users["site_entry"], p, "diagnosis", 1, {"histology": "ptc"}, base_version=None)
    with pytest.raises(ConflictError):
        services.save_record(capture_users["site_investigator"], p, "diagnosis", 1, {"histology": "atc"}, base_version=None)
    assert Record.objects.get(patient=p, form="diagnosis").data["histology"] == "ptc"


def test_changing_a_saved_value_needs_a_reason(capture_users):
    from latc.capture import services
    from latc.capture.errors import ReasonRequired
    from latc.capture.models import AuditEntry

    p = _patient(capture_users)
    _save(capture_users, p, "patients", {"cohort": "neoadjuvant"})
    with pytest.raises(ReasonRequired) as exc:
        _save(capture_users, p, "patients", {"cohort": "upfront_surgery"})
    assert exc.value.fields == ["cohort"]
    # filling a blank field needs none
    assert _save(capture_users, p, "patients", {"sex": "female"}).saved
    _save(capture_users, p, "patients", {"cohort": "upfront_surgery"}, reason="wrong cohort ticked")
    hist = services.field_history(capture_users["site_entry"], p, "patients", 1, "cohort")
    assert [(e.action, e.old_value, e.new_value, e.reason) for e in hist] == [
        ("update", None, "neoadjuvant", ""), ("update", "neoadjuvant", "upfront_surgery", "wrong cohort ticked")]
    assert AuditEntry.objects.filter(field="cohort").first().username == "site.entry"


def test_lock_blocks_edits_until_unlocked(capture_users):
    from latc.capture import services
    from latc.capture.errors import Forbidden, Locked, ReasonRequired

    p = _patient(capture_users)
    with pytest.raises(Forbidden):
        services.lock_patient(capture_users["site_entry"], p, "x")
    with pytest.raises(ReasonRequired):
        services.lock_patient(capture_users["data_manager"], p, "")
    services.lock_patient(capture_users["data_manager"], p, "database lock for the interim analysis")
    p.refresh_from_db()
    with pytest.raises(Locked):
        _save(capture_users, p, "patients", {"sex": "male"})
    services.unlock_patient(capture_users["data_manager"], p, "query resolution")
    p.refresh_from_db()
    assert _save(capture_users, p, "patients", {"sex": "male"}).saved


def test_signature_binds_the_casebook_and_a_change_voids_it(capture_users):
    from latc.capture import services
    from latc.capture.errors import Forbidden, SignatureFailed
    from latc.capture.models import AuditEntry

    p = _patient(capture_users)
    _save(capture_users, p, "patients", {"cohort": "neoadjuvant"})
    inv = capture_users["site_investigator"]
    with pytest.raises(Forbidden):
        services.sign_casebook(capture_users["site_entry"], p, CAPTURE_TEST_PASSWORD, "I approve")
    with pytest.raises(SignatureFailed):
        services.sign_casebook(inv, p, "wrong password", "I approve")
    s = services.sign_casebook(inv, p, CAPTURE_TEST_PASSWORD, "I approve the data of this casebook")
    assert s.data_hash == services.casebook_hash(p) and len(s.data_hash) == 64
    assert s.signer_name == "site_investigator user" and services.current_signature(p) == s
    _save(capture_users, p, "patients", {"sex": "female"})
    s.refresh_from_db()
    assert s.voided_at is not None and "sex" in s.void_reason
    assert services.current_signature(p) is None
    assert services.casebook_hash(p) != s.data_hash
    assert list(AuditEntry.objects.filter(patient_id=p.patient_id, action__in=["sign", "signature_void",
                                                                             "signature_failed"])
                .values_list("action", flat=True)) == ["signature_failed", "sign", "signature_void"]


def test_monitor_verification_is_cleared_by_a_change(capture_users):
    from latc.capture import services
    from latc.capture.errors import Forbidden

    p = _patient(capture_users)
    rec = _save(capture_users, p, "diagnosis", {"histology": "ptc"}).record
    with pytest.raises(Forbidden):
        services.verify_form(capture_users["site_entry"], rec)
    with pytest.raises(Forbidden):
        services.verify_form(capture_users["monitor_c02"], rec)
    rec = services.verify_form(capture_users["monitor"], rec)
    assert rec.verified_by == capture_users["monitor"]
    rec = _save(capture_users, p, "diagnosis", {"ct": "T4a"}).record
    assert rec.verified_at is None


def test_query_workflow_and_field_history(capture_users):
    from latc.capture import services
    from latc.capture.errors import Forbidden

    p = _patient(capture_users)
    rec = _save(capture_users, p, "diagnosis", {"primary_size_mm": "45"}).record
    with pytest.raises(Forbidden):
        services.open_query(capture_users["site_entry"], rec, "primary_size_mm", "?")
    q = services.open_query(capture_users["data_manager"], rec, "primary_size_mm", "CT report says 54 mm?")
    with pytest.raises(Forbidden):
        services.answer_query(capture_users["site_entry_c02"], q, "no")
    q = services.answer_query(capture_users["site_entry"], q, "digits swapped, see CT report", new_value="54")
    rec.refresh_from_db()
    assert q.status == "answered" and rec.data["primary_size_mm"] == "54"
    with pytest.raises(Forbidden):
        services.close_query(capture_users["site_entry"], q)
    q = services.close_query(capture_users["data_manager"], q, "confirmed")
    assert q.status == "closed" and q.closed_at is not None
    q = services.reopen_query(capture_users["data_manager"], q, "CT report unreadable, check again")
    assert q.status == "open"
    assert [m.action for m in q.messages.all()] == ["open", "answer", "close", "reopen"]
    hist = services.field_history(capture_users["site_entry"], p, "diagnosis", 1, "primary_size_mm")
    assert [e.action for e in hist] == ["create", "query_open", "update", "query_answer", "query_close", "query_reopen"]
    upd = hist[2]
    assert (upd.old_value, upd.new_value, upd.reason) == ("45", "54", "digits swapped, see CT report")
    with pytest.raises(Forbidden):
        services.field_history(capture_users["site_entry_c02"], p, "diagnosis", 1, "primary_size_mm")


def test_delete_needs_a_reason_and_keeps_values_in_the_audit(capture_users):
    from latc.capture import services
    from latc.capture.errors import CaptureError, ReasonRequired
    from latc.capture.models import AuditEntry, Record

    p = _patient(capture_users)
    rec = _save(capture_users, p, "labs", {"lab_date": "2022-01-05", "test": "tg", "value": "12"}, instance=None).record
    with pytest.raises(ReasonRequired):
        services.delete_record(capture_users["site_entry"], rec, reason=" ")
    with pytest.raises(CaptureError):
        services.delete_record(capture_users["site_entry"], Record.objects.get(patient=p, form="patients"), reason="x")
    services.delete_record(capture_users["site_entry"], rec, reason="entered for the wrong patient")
    assert not Record.objects.filter(pk=rec.pk).exists()
    gone = AuditEntry.objects.filter(action="delete", patient_id=p.patient_id, form="labs")
    assert {e.field: e.old_value for e in gone}["value"] == "12"


def test_patient_ids_must_be_pseudonyms(capture_users):
    from latc.capture import services
    from latc.capture.errors import CaptureError, Forbidden, ValidationFailed

    with pytest.raises(ValidationFailed):
        services.create_patient(capture_users["site_entry"], "Zhang Wei", "C01")
    with pytest.raises(ValidationFailed):
        services.create_patient(capture_users["site_entry"], "13800138000", "C01")
    with pytest.raises(Forbidden):
        services.create_patient(capture_users["site_entry"], "C02-0001", "C02")
    _patient(capture_users)
    with pytest.raises(CaptureError):
        _patient(capture_users)


def test_patient_id_carries_its_center_prefix_and_the_next_number_is_suggested(capture_users):
    # the helper trial: a C01 user created C02-0100 at C01, so C02 could no longer use it, and
    # "already exists" told C01 which C02 numbers were taken
    from latc.capture import services
    from latc.capture.errors import ValidationFailed
    from latc.capture.models import Center, Patient

    services.create_patient(capture_users["site_entry_c02"], "C02-0001", "C02")
    with pytest.raises(ValidationFailed, match="begins with C01-"):
        services.create_patient(capture_users["site_entry"], "C02-0001", "C01")
    with pytest.raises(ValidationFailed, match="begins with C01-"):
        services.create_patient(capture_users["site_entry"], "C02-0100", "C01")
    assert not Patient.objects.filter(patient_id="C02-0100").exists()
    c01 = Center.objects.get(code="C01")
    assert services.next_patient_id(capture_users["site_entry"], c01) == "C01-0001"
    services.create_patient(capture_users["site_entry"], "C01-0041", "C01")
    services.create_patient(capture_users["site_entry"], "C01-0007", "C01")
    assert services.next_patient_id(capture_users["site_entry"], c01) == "C01-0042"
    services.create_patient(capture_users["site_entry"], "C01-12345", "C01")  # a wider number widens the next
    assert services.next_patient_id(capture_users["site_entry"], c01) == "C01-12346"


# -- scoping: the data-layer access matrix ---------------------------------------------------------

#: role → (sees own center C01, sees other center C02)
EXPECTED_VISIBILITY = {
    "site_entry": (True, False),
    "site_investigator": (True, False),
    "monitor": (True, False),
    "data_manager": (True, True),
    "statistician": (False, False),
    "admin": (False, False),
    "site_entry_c02": (False, True),
    "monitor_c02": (False, True),
}

#: role → actions allowed on a C01 patient
EXPECTED_ACTIONS = {
    "site_entry": {"view", "create_patient", "edit", "answer_query"},
    "site_investigator": {"view", "create_patient", "edit", "answer_query", "sign"},
    "monitor": {"view", "verify", "open_query"},
    "data_manager": {"view", "open_query", "close_query", "lock"},
    "statistician": set(),
    "admin": set(),
    "site_entry_c02": set(),
    "monitor_c02": set(),
}


def test_access_matrix_of_the_data_layer(capture_users):
    from latc.capture import scoping
    from latc.capture.models import Query

    from latc.capture import services

    p1 = _patient(capture_users, "C01-0001", "C01")
    p2 = services.create_patient(capture_users["site_entry_c02"], "C02-0001", "C02")
    r1 = _save(capture_users, p1, "diagnosis", {"primary_size_mm": "999"}).record
    services.save_record(capture_users["site_entry_c02"], p2, "diagnosis", 1, {"primary_size_mm": "999"}, base_version=None)
    assert Query.objects.count() == 2
    for who, (own, other) in EXPECTED_VISIBILITY.items():
        u = capture_users[who]
        seen = set(scoping.patients_for(u).values_list("patient_id", flat=True))
        assert seen == {pid for pid, ok in (("C01-0001", own), ("C02-0001", other)) if ok}, who
        assert set(scoping.records_for(u).values_list("patient__patient_id", flat=True)) == seen, who
        assert set(scoping.queries_for(u).values_list("record__patient__patient_id", flat=True)) == seen, who
        allowed = {a for a in scoping.PATIENT_ACTIONS if scoping.can(u, a, p1)}
        assert allowed == EXPECTED_ACTIONS[who], who
        # nobody acts on a patient of a center it does not see
        assert not any(scoping.can(u, a, p) for a in scoping.PATIENT_ACTIONS for p in (p1, p2)
                       if p.patient_id not in seen), who
    assert scoping.can(capture_users["statistician"], "export_deidentified")
    assert not scoping.can(capture_users["statistician"], "export_identified")
    assert scoping.can(capture_users["admin"], "manage_users") and scoping.can(capture_users["admin"], "view_audit")
    assert not scoping.can(capture_users["data_manager"], "manage_users")
    assert scoping.audit_for(capture_users["admin"]).exists() and scoping.audit_for(capture_users["data_manager"]).exists()
    assert not scoping.audit_for(capture_users["site_entry"]).exists()
    assert r1.patient == p1


def test_expired_or_inactive_account_sees_nothing_and_cannot_log_in(capture_users):
    from datetime import timedelta

    from django.contrib.auth import authenticate
    from django.test import RequestFactory
    from django.utils import timezone

    from latc.capture import scoping, services
    from latc.capture.models import AuditEntry

    _patient(capture_users)
    u = capture_users["site_entry"]
    rf = RequestFactory()
    assert authenticate(rf.post("/login/"), username="site.entry", password=CAPTURE_TEST_PASSWORD) == u
    services.set_membership(capture_users["admin"], u, expires_at=timezone.now() - timedelta(minutes=1))
    u.refresh_from_db()
    assert authenticate(rf.post("/login/"), username="site.entry", password=CAPTURE_TEST_PASSWORD) is None
    assert not scoping.patients_for(u).exists() and not scoping.can(u, "view")
    assert AuditEntry.objects.filter(action="permission_change", field="expires_at").exists()
    assert AuditEntry.objects.filter(action="login_failed", username="site.entry").exists()


def test_five_failed_logins_lock_the_account_and_are_audited(capture_users):
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    from latc.capture.models import AuditEntry

    rf = RequestFactory()
    for _ in range(5):
        assert authenticate(rf.post("/login/"), username="site.entry", password="wrong-password") is None
    # locked: even the right password is refused now
    assert authenticate(rf.post("/login/"), username="site.entry", password=CAPTURE_TEST_PASSWORD) is None
    actions = list(AuditEntry.objects.filter(username="site.entry").values_list("action", flat=True))
    assert actions.count("login_failed") >= 5 and "lockout" in actions


def test_role_changes_are_audited(capture_users):
    from latc.capture import services
    from latc.capture.errors import Forbidden
    from latc.capture.models import AuditEntry

    u = capture_users["site_entry"]
    with pytest.raises(Forbidden):
        services.set_membership(capture_users["data_manager"], u, role="data_manager")
    services.set_membership(capture_users["admin"], u, role="site_investigator", centers=["C01", "C02"])
    e = {x.field: (x.old_value, x.new_value) for x in AuditEntry.objects.filter(action="permission_change")}
    assert e["role"] == ("site_entry", "site_investigator") and e["centers"] == ("C01", "C01,C02")


# -- the validation bridge -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_rows(tmp_path_factory):
    """Casebooks of a small synthetic study with planted errors, as validate_casebook reads them."""
    from latc.capture.validation import INSTANCE
    from latc.dictionary import load_dictionary
    from latc.io import read_study
    from latc.synth import write_synthetic_study

    out = tmp_path_factory.mktemp("capture_synth")
    write_synthetic_study(out, n_patients=30, n_centers=3, seed=11, fmt="csv", inject_errors=15)
    d = load_dictionary()
    s = read_study(out / "study", d)
    books: dict[str, dict[str, list[dict]]] = {}
    for form, t in s.tables.items():
        if "patient_id" not in t.columns:
            continue
        fields = d.forms[form].field_names
        for i, r in enumerate(t.to_dict("records")):
            pid = r.get("patient_id")
            if not isinstance(pid, str):
                continue
            rows = books.setdefault(pid, {}).setdefault(form, [])
            rows.append({**{k: r[k] for k in fields if isinstance(r.get(k), str)}, INSTANCE: len(rows) + 1})
    import pandas as pd

    planted = pd.read_csv(out / "injected_errors.csv", dtype=str)["patient_id"]
    return d, books, planted[planted.isin(list(books))]


def test_validating_only_affected_forms_finds_the_same_problems(synthetic_rows):
    """The speed-up (validate only the forms a change can affect) loses no problem: for every
    patient and every form, the problems on the affected forms equal a whole-casebook run's."""
    from latc.capture.validation import affected_forms, validate_casebook

    d, books, planted = synthetic_rows
    worst = planted.value_counts().index[:2]  # the two patients with the most planted errors
    checked = with_problems = 0
    for pid in worst:
        rows = books[pid]
        full = validate_casebook(d, rows, changed=None)
        with_problems += bool(full)
        for form in d.forms:
            if len(affected_forms(d, form)) == len(d.forms):
                continue  # validated whole anyway
            part = validate_casebook(d, rows, changed=(form, 1))
            keep = set(affected_forms(d, form))
            assert sorted(map(repr, part)) == sorted(repr(p) for p in full if p.form in keep), (pid, form)
            checked += 1
    assert checked >= 2 * (len(d.forms) - 2) and with_problems == 2


def test_lab_rows_added_one_by_one_get_consecutive_instances(capture_sqlite_users, capture_sqlite_db):
    """A nurse adding lab results one after another (the load benchmark's pattern; time per save is
    measured in benchmarks/bench_capture.py, not here)."""
    from latc.capture import services
    from latc.capture.models import Record

    users = capture_sqlite_users
    p = services.create_patient(users["site_entry"], "C01-0009", "C01")
    _save(users, p, "patients", {"cohort": "neoadjuvant", "diagnosis_date": "2021-01-04", "sex": "female"})
    _save(users, p, "diagnosis", {"histology": "ptc", "primary_size_mm": "40", "ct": "T4a"})
    for i in range(20):
        res = _save(users, p, "labs", {"lab_date": f"2021-{1 + i % 12:02d}-{1 + i:02d}", "test": "tg", "value": str(10 + i),
                                      "unit": "ng_ml"}, instance=None)
        assert res.saved, res.errors
    labs = Record.objects.filter(patient=p, form="labs").order_by("instance")
    assert [r.instance for r in labs] == list(range(1, 21)) and labs.last().data["value"] == "29"


# -- Django stays out of the batch commands --------------------------------------------------------

def test_latc_cli_imports_no_heavy_package():
    """`latc --help` stays fast (issue #17: under 1 s): the command tree imports no numerical,
    plotting, web or federated-engine package; each command imports what it needs when it runs."""
    heavy = ("pandas", "scipy", "numpy", "sklearn", "matplotlib", "django", "flwr", "statsmodels", "lifelines",
             "anndata", "scanpy", "latc.federated", "latc.stats")
    code = f"import sys, latc.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_latc_cli_does_not_import_django():
    code = ("import sys, latc.cli, latc.capture.commands; "
            "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
