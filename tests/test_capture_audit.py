"""latc capture, audit trail: hash chain, append-only triggers, tamper detection, concurrent
appends — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("django")


def _some_history(users):
    from latc.capture import services

    p = services.create_patient(users["site_entry"], "C01-0001", "C01")
    rec = services.save_record(users["site_entry"], p, "patients", 1, {"cohort": "neoadjuvant", "sex": "female"},
                               base_version=1).record
    services.save_record(users["site_entry"], p, "patients", 1, {"cohort": "upfront_surgery"}, base_version=rec.version,
                         reason="wrong box ticked")
    services.lock_patient(users["data_manager"], p, "interim analysis")
    return p


def _raw(sql, params=()):
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as c:
        c.execute(sql, params)


def test_chain_verifies_and_covers_every_change(capture_users):
    from latc.capture.audit import GENESIS_HASH, canonical_json, entry_hash, verify_chain
    from latc.capture.models import AuditEntry

    _some_history(capture_users)
    r = verify_chain()
    assert r.ok and r.entries == AuditEntry.objects.count() > 10
    entries = list(AuditEntry.objects.order_by("seq"))
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.entry_hash for a, b in zip(entries, entries[1:]))
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    e = entries[-1]
    assert e.action == "lock" and e.reason == "interim analysis" and e.username == "data.manager" and e.center == "C01"
    assert e.at.utcoffset().total_seconds() == 0
    assert entry_hash({k: getattr(e, k) for k in ("seq", "at", "username", "role", "center", "patient_id", "form",
                                                   "instance", "field", "action", "old_value", "new_value", "reason",
                                                   "client_addr", "prev_hash")}) == e.entry_hash
    assert '"action":"lock"' in canonical_json({"action": "lock", "seq": 1})
    upd = AuditEntry.objects.get(action="update", field="cohort", reason="wrong box ticked")
    assert (upd.old_value, upd.new_value, upd.role) == ("neoadjuvant", "upfront_surgery", "site_entry")


def test_update_and_delete_are_refused_by_the_database(capture_users):
    from django.db import DatabaseError

    from latc.capture.audit import verify_chain
    from latc.capture.models import AuditEntry

    _some_history(capture_users)
    n = AuditEntry.objects.count()
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE capture_auditentry SET new_value = 'neoadjuvant' WHERE action = 'update'")
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM capture_auditentry WHERE seq = 3")
    # through the ORM as well
    with pytest.raises(DatabaseError, match="append-only"):
        from django.db import transaction

        with transaction.atomic():
            AuditEntry.objects.filter(seq=2).update(reason="tidied")
    with pytest.raises(DatabaseError, match="append-only"):
        from django.db import transaction

        with transaction.atomic():
            AuditEntry.objects.filter(seq=2).delete()
    assert AuditEntry.objects.count() == n and verify_chain().ok


def test_truncate_is_refused_on_postgresql(capture_users, capture_db):
    from django.db import DatabaseError

    if capture_db.vendor != "postgresql":
        pytest.skip("TRUNCATE is a PostgreSQL statement (SQLite has none; its DELETE trigger covers 'DELETE FROM')")
    _some_history(capture_users)
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("TRUNCATE capture_auditentry")


def _drop_triggers(vendor):
    """What an attacker with database access does first."""
    if vendor == "sqlite":
        _raw("DROP TRIGGER capture_audit_no_update")
        _raw("DROP TRIGGER capture_audit_no_delete")
    else:
        _raw("DROP TRIGGER capture_audit_no_update_delete ON capture_auditentry")


def test_a_changed_row_is_found_by_verify(capture_users, capture_db):
    from latc.capture.audit import verify_chain
    from latc.capture.models import AuditEntry

    _some_history(capture_users)
    target = AuditEntry.objects.get(action="update", field="cohort", reason="wrong box ticked").seq
    _drop_triggers(capture_db.vendor)
    _raw("UPDATE capture_auditentry SET reason = 'typo' WHERE seq = %s", [target])
    r = verify_chain()
    assert not r.ok and r.first_broken_seq == target
    assert "changed after it was written" in r.message() and f"#{target}" in r.message()


def test_a_rehashed_row_breaks_the_next_link(capture_users, capture_db):
    """A forger who also recomputes the changed entry's own hash is caught by the next entry."""
    from latc.capture.audit import HASHED, entry_hash, verify_chain
    from latc.capture.models import AuditEntry

    _some_history(capture_users)
    e = AuditEntry.objects.get(action="update", field="cohort", reason="wrong box ticked")
    fields = {k: getattr(e, k) for k in HASHED}
    fields["new_value"] = "neoadjuvant"
    _drop_triggers(capture_db.vendor)
    _raw("UPDATE capture_auditentry SET new_value = %s, entry_hash = %s WHERE seq = %s",
         ["neoadjuvant", entry_hash(fields), e.seq])
    r = verify_chain()
    assert not r.ok and r.first_broken_seq == e.seq + 1
    assert f"entry #{e.seq}" in r.reason


def test_a_removed_row_is_found(capture_users, capture_db):
    from latc.capture.audit import verify_chain

    _some_history(capture_users)
    _drop_triggers(capture_db.vendor)
    _raw("DELETE FROM capture_auditentry WHERE seq = 4")
    r = verify_chain()
    assert not r.ok and r.first_broken_seq == 5 and "removed" in r.reason


def test_concurrent_appends_keep_one_chain(capture_users, capture_db):
    """Four threads (four database connections) append at once: no fork, no gap."""
    from django.db import connection

    from latc.capture import audit
    from latc.capture.models import AuditEntry

    before = AuditEntry.objects.count()
    errors = []

    def work(i):
        try:
            for j in range(15):
                audit.append(action="login", username=f"user{i}", new_value=str(j))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert AuditEntry.objects.count() == before + 60
    r = audit.verify_chain()
    assert r.ok, r.message()


def test_a_record_edited_in_the_database_is_found_by_replaying_the_trail(capture_users, capture_db):
    # someone with database access changes a stored value directly (the record table has no
    # trigger): the hash chain is intact, but replaying the trail's values names the field
    from latc.capture.audit import verify_chain, verify_records
    from latc.capture.models import Record

    p = _some_history(capture_users)
    before = verify_records()
    assert before.ok and before.records == Record.objects.count() >= 1, before.message()
    rec = Record.objects.get(patient=p, form="patients", instance=1)
    assert rec.data["cohort"] == "upfront_surgery"
    _raw("UPDATE capture_record SET data = %s WHERE id = %s",
         [__import__("json").dumps({**rec.data, "cohort": "neoadjuvant"}), rec.pk])
    assert verify_chain().ok
    after = verify_records()
    assert not after.ok and after.mismatches == ("C01-0001 patients #1 field cohort: stored value differs from the last audited value",)
    assert "changed outside latc capture" in after.message()
    # a record deleted behind the application's back is named too
    _raw("DELETE FROM capture_record WHERE id = %s", [rec.pk])
    gone = verify_records()
    assert any("not in the database" in m for m in gone.mismatches)


def test_concurrent_site_users_do_not_deadlock(capture_users, capture_db):
    """Four site users at once (four connections) create patients and save forms: every write takes
    the chain's lock before any row lock, so PostgreSQL finds no deadlock (the load benchmark found
    'deadlock detected' when saves locked the patient row first); nothing lost, one chain."""
    from django.db import connection

    from latc.capture import audit, services
    from latc.capture.models import Patient, Record

    errors = []

    def work(i):
        try:
            user = capture_users["site_entry"]
            for j in range(2):
                p = services.create_patient(user, f"C01-{i}{j:03d}", "C01")
                rec = services.save_record(user, p, "patients", 1, {"cohort": "neoadjuvant", "sex": "female"},
                                           base_version=1).record
                for k in range(1):
                    services.save_record(user, p, "labs", None, {"lab_date": f"2021-0{k + 1}-1{j}", "test": "tg",
                                                                 "value": str(10 + k), "unit": "ng_ml"}, base_version=None)
                services.save_record(user, p, "patients", 1, {"sex": "male"}, base_version=rec.version, reason="typo")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors[:3]
    assert Patient.objects.count() == 8 and Record.objects.filter(form="labs").count() == 8
    assert audit.verify_chain().ok and audit.verify_records().ok
