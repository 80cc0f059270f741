"""Access matrix of the REDCap-compatible API (issue #13): every role's token × own / other
center × content → status and what the answer shows.

Requests go through Django's test client to the real ``/api/`` view (no mock: the same URL
routing, token check, rate limits, scoping and streaming as a live server; the PyCap tests in
test_capture_api_export.py cover the wire). Both databases via ``capture_db``. The study is a
24-patient synthetic import at centers C01 and C02; the expected ids come from the database,
not from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from _capture_api import import_synthetic  # noqa: E402

#: (type, format) of every record export the matrix tries
LAYOUTS = [("flat", "json"), ("flat", "csv"), ("flat", "xml"), ("eav", "json"), ("eav", "csv")]
#: roles whose token sees the records of their own center(s) only → that center
SITE_ROLES = {"site_entry": "C01", "site_investigator": "C01", "monitor": "C01",
              "site_entry_c02": "C02", "monitor_c02": "C02"}


@pytest.fixture
def world(capture_db, capture_users, tmp_path):
    """The imported study, a token per user and the patient ids per center (from the database)."""
    from latc.capture.api.tokens import create_token
    from latc.capture.models import Patient

    import_synthetic(tmp_path / "syn", n=10)
    tokens = {name: create_token(None, u) for name, u in capture_users.items()}
    ids: dict[str, set[str]] = {}
    for pid, center in Patient.objects.values_list("patient_id", "center__code"):
        ids.setdefault(center, set()).add(pid)
    assert set(ids) == {"C01", "C02"} and all(ids.values())
    return tokens, ids, capture_users


def _post(token: str, **params):
    from django.test import Client

    resp = Client().post("/api/", {"token": token, **params})
    body = b"".join(resp.streaming_content) if resp.streaming else resp.content
    return resp, body.decode("utf-8")


def _record_ids(body: str, fmt: str, typ: str) -> set[str]:
    key = "record_id" if typ == "flat" else "record"
    if fmt == "json":
        return {r[key] for r in json.loads(body)}
    if fmt == "csv":
        return {r[key] for r in csv.DictReader(io.StringIO(body))}
    import xml.etree.ElementTree as ET

    return {e.text or "" for e in ET.fromstring(body).iter(key)}


def test_site_roles_see_exactly_their_center_in_every_layout(world):
    for role in sorted(SITE_ROLES):
        _site_role_sees_its_center(world, role)


def _site_role_sees_its_center(world, role):
    tokens, ids, _ = world
    own = SITE_ROLES[role]
    other = "C02" if own == "C01" else "C01"
    for typ, fmt in LAYOUTS:
        resp, body = _post(tokens[role], content="record", action="export", type=typ, format=fmt)
        assert resp.status_code == 200, (typ, fmt, body[:200])
        assert _record_ids(body, fmt, typ) == ids[own], (typ, fmt)
        # not only the id column: no other-center id anywhere in the answer
        assert not any(pid in body for pid in ids[other]), (typ, fmt)
    # asking for another center's records by id (alone or beside an own one) shows nothing of them
    theirs, mine = sorted(ids[other])[0], sorted(ids[own])[0]
    for typ in ("flat", "eav"):
        resp, body = _post(tokens[role], content="record", type=typ, format="json", **{"records[0]": theirs,
                                                                                       "records[1]": mine})
        assert resp.status_code == 200
        assert _record_ids(body, "json", typ) == {mine} and theirs not in body
        resp, body = _post(tokens[role], content="record", type=typ, format="json", records=theirs)
        assert resp.status_code == 200 and json.loads(body) == []
    # nor by filter logic on the record id
    resp, body = _post(tokens[role], content="record", format="json", filterLogic=f"[record_id] = '{theirs}'")
    assert resp.status_code == 200 and json.loads(body) == []


def test_central_roles(world):
    """Data manager: every center identified; statistician: pseudonyms; administrator: 403."""
    _data_manager_sees_every_center_identified(world)
    _statistician_gets_pseudonyms_only(world)
    _admin_may_not_export_records(world)


def _data_manager_sees_every_center_identified(world):
    tokens, ids, _ = world
    for typ, fmt in LAYOUTS:
        resp, body = _post(tokens["data_manager"], content="record", type=typ, format=fmt)
        assert resp.status_code == 200
        assert _record_ids(body, fmt, typ) == ids["C01"] | ids["C02"], (typ, fmt)


def _statistician_gets_pseudonyms_only(world):
    tokens, ids, _ = world
    originals = ids["C01"] | ids["C02"]
    seen: set[str] = set()
    for typ, fmt in LAYOUTS:
        resp, body = _post(tokens["statistician"], content="record", type=typ, format=fmt)
        assert resp.status_code == 200
        got = _record_ids(body, fmt, typ)
        assert len(got) == len(originals) and not (got & originals), (typ, fmt)
        assert not any(pid in body for pid in originals), (typ, fmt)
        seen |= got
    # the same pseudonyms in every layout (one keyed mapping), center prefix kept
    assert len(seen) == len(originals)
    assert {s.split("-")[0] for s in seen} == {"C01", "C02"}
    # an original id as a record filter finds nothing (pseudonyms are what the statistician knows)
    resp, body = _post(tokens["statistician"], content="record", format="json", records=sorted(ids["C01"])[0])
    assert resp.status_code == 200 and json.loads(body) == []


def _admin_may_not_export_records(world):
    tokens, ids, _ = world
    for typ, fmt in LAYOUTS:
        resp, body = _post(tokens["admin"], content="record", type=typ, format=fmt)
        assert resp.status_code == 403, (typ, fmt)
        assert body.strip() and not any(pid in body for pid in ids["C01"] | ids["C02"])


def test_project_level_contents_for_every_role(world):
    tokens, ids, _ = world
    for content in ("metadata", "instrument", "exportFieldNames", "repeatingFormsEvents", "project", "version"):
        for role, token in tokens.items():
            resp, body = _post(token, content=content, format="json")
            assert resp.status_code == 200, (content, role, body[:200])
            assert not any(pid in body for pid in ids["C01"] | ids["C02"]), (content, role)
    _classic_project_refuses_events_arms_mapping(world)
    _only_post(world)


def _classic_project_refuses_events_arms_mapping(world):
    tokens, _, _ = world
    for content in ("event", "arm", "formEventMapping"):
        resp, body = _post(tokens["data_manager"], content=content, format="json")
        assert resp.status_code == 400 and "classic" in json.loads(body)["error"]


def test_log_and_audit_of_exports(world):
    _log_only_for_audit_readers(world)
    _every_record_export_is_audited_without_values(world)


def _log_only_for_audit_readers(world):
    tokens, ids, _ = world
    for role, token in tokens.items():
        resp, body = _post(token, content="log", format="json")
        if role in ("data_manager", "admin"):
            assert resp.status_code == 200, role
            assert json.loads(body)
        else:
            assert resp.status_code == 403, role
            assert not any(pid in body for pid in ids["C01"] | ids["C02"]), role


def _every_record_export_is_audited_without_values(world):
    from latc.capture.models import AuditEntry

    tokens, ids, users = world
    before = AuditEntry.objects.filter(action="export").count()
    for role in ("site_entry", "data_manager", "statistician"):
        resp, _ = _post(tokens[role], content="record", format="csv", records=sorted(ids["C01"])[0])
        assert resp.status_code == 200
    entries = list(AuditEntry.objects.filter(action="export").order_by("seq")[before:])
    assert [e.username for e in entries] == [users[r].username for r in ("site_entry", "data_manager", "statistician")]
    for e in entries:
        text = " ".join(str(x) for x in (e.new_value, e.old_value, e.reason, e.patient_id, e.field))
        assert not any(pid in text for pid in ids["C01"] | ids["C02"])
    assert "de-identified" in entries[-1].reason


def test_wrong_revoked_and_expired_tokens_are_403(world):
    from datetime import timedelta

    from django.utils import timezone

    from latc.capture.api.tokens import revoke_tokens
    from latc.capture.models import Membership

    tokens, _, users = world
    for bad in ("", "nonsense", "0" * 32, tokens["data_manager"].lower(), tokens["data_manager"][:-1] + "0"):
        if bad == tokens["data_manager"]:
            continue
        resp, body = _post(bad, content="record", format="json")
        assert resp.status_code == 403 and json.loads(body)["error"]
    assert revoke_tokens(None, users["site_entry"]) == 1
    resp, _ = _post(tokens["site_entry"], content="record", format="json")
    assert resp.status_code == 403
    Membership.objects.filter(user=users["monitor"]).update(expires_at=timezone.now() - timedelta(days=1))
    resp, _ = _post(tokens["monitor"], content="metadata", format="json")
    assert resp.status_code == 403
    users["site_investigator"].is_active = False
    users["site_investigator"].save()
    resp, _ = _post(tokens["site_investigator"], content="version", format="json")
    assert resp.status_code == 403
    # the others keep working
    resp, _ = _post(tokens["data_manager"], content="version", format="json")
    assert resp.status_code == 200


def test_rate_limit_per_token_is_429_with_retry_after(world):
    from django.test import override_settings

    tokens, _, _ = world
    with override_settings(LATC_RATE_API_TOKEN=(3, 60)):
        codes = [_post(tokens["data_manager"], content="version")[0].status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        resp, body = _post(tokens["data_manager"], content="version")
        assert resp.status_code == 429
        assert int(resp["Retry-After"]) > 0 and json.loads(body)["error"]
        # per token: another user's token is not limited by it
        assert _post(tokens["site_entry"], content="version")[0].status_code == 200


def _only_post(world):
    from django.test import Client

    tokens, _, _ = world
    resp = Client().get("/api/", {"token": tokens["data_manager"], "content": "record"})
    assert resp.status_code == 405 and resp["Allow"] == "POST"


def test_chunked_stream_equals_one_chunk(world, monkeypatch):
    """Chunk boundaries are invisible: the answer with 3 patients per chunk equals the one-chunk one
    in every layout (JSON commas, one CSV header, XML items)."""
    from latc.capture.api import records

    tokens, _, _ = world
    whole = {}
    for typ, fmt in LAYOUTS:
        whole[typ, fmt] = _post(tokens["data_manager"], content="record", type=typ, format=fmt)[1]
    monkeypatch.setattr(records, "CHUNK", 3)
    for typ, fmt in LAYOUTS:
        resp, body = _post(tokens["data_manager"], content="record", type=typ, format=fmt)
        assert resp.status_code == 200 and body == whole[typ, fmt], (typ, fmt)
    assert json.loads(whole["flat", "json"])


def test_log_csv_is_spreadsheet_safe_and_keeps_blank_cells(capture_db, capture_users):
    """A user name a spreadsheet would run as a formula (Django allows a leading @, + or -) is text in
    the CSV log; blank cells stay blank (not a lone ')."""
    import csv as _csv
    import io as _io

    from django.test import Client

    from latc.capture import services
    from latc.capture.api.tokens import create_token

    nurse = services.create_user(None, "@nurse", "a-long-enough-passphrase-9", "site_entry", ["C01"])
    services.record_login(nurse, "127.0.0.1")
    resp = Client().post("/api/", {"token": create_token(None, capture_users["data_manager"]), "content": "log",
                                   "format": "csv"})
    assert resp.status_code == 200
    rows = list(_csv.DictReader(_io.StringIO(b"".join(resp.streaming_content).decode())))
    assert "'@nurse" in {row["username"] for row in rows}
    assert not any(v.startswith(("=", "+", "-", "@")) for row in rows for v in row.values())
    assert any(row["record"] == "" for row in rows)  # a log-in carries no record
    assert all(v != "'" for row in rows for v in row.values())
