"""`latc capture import-redcap` (issue #13, item 2): a REDCap project moved into capture.

Round trip: a synthetic study written as a REDCap project's flat export and data dictionary
(latc.io.redcap, the layout REDCap itself exports) → import-redcap → the REDCap-compatible API's
flat export gives back the original cells (record ids, repeat instances, data access groups, form
status), and for a longitudinal project the event names too. Each record is all or nothing.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pandas as pd
import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from _capture_api import synthetic_study  # noqa: E402


@pytest.fixture
def redcap_project(tmp_path):
    from latc.io import read_study
    from latc.io.redcap import DICTIONARY_FILE, EXPORT_FILE, write_redcap_export

    study = synthetic_study(tmp_path / "syn", n=4, centers=2, seed=2)
    out = write_redcap_export(read_study(study).tables, tmp_path / "redcap")
    return out / DICTIONARY_FILE, out / EXPORT_FILE


def _api_flat_csv(**params) -> pd.DataFrame:
    from django.test import Client

    from latc.capture.api.tokens import create_token
    from latc.capture.models import Membership
    from latc.capture.services import create_user

    u = create_user(None, "dm.migration", "a-long-enough-passphrase-9", "data_manager", [])
    assert Membership.objects.filter(user=u).exists()
    resp = Client().post("/api/", {"token": create_token(None, u), "content": "record", "format": "csv",
                                   "exportDataAccessGroups": "true", **params})
    assert resp.status_code == 200
    text = b"".join(resp.streaming_content).decode()
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_round_trip_redcap_export_to_capture_and_back(redcap_project, capture_sqlite_db):
    """SQLite only: the same import path is proven on PostgreSQL by test_capture_api_import.py (its cost
    is the per-record validation, not the database)."""
    from latc.capture.redcap_import import import_redcap

    dd, export = redcap_project
    original = pd.read_csv(export, dtype=str, keep_default_na=False)
    rep = import_redcap(dd, export)
    assert not rep.refused, rep.summary()
    assert sorted(rep.imported) == sorted(original["record_id"].unique())
    assert sorted(rep.centers_created) == sorted(original["redcap_data_access_group"].str.upper().unique())
    back = _api_flat_csv()
    pd.testing.assert_frame_equal(back, original)
    again = import_redcap(dd, export)  # a second run: nothing refused, nothing changed
    assert not again.refused, again.summary()
    pd.testing.assert_frame_equal(_api_flat_csv_again(), original)


def _api_flat_csv_again() -> pd.DataFrame:
    from django.test import Client

    from latc.capture.api.tokens import create_token
    from django.contrib.auth import get_user_model

    u = get_user_model().objects.get(username="dm.migration")
    resp = Client().post("/api/", {"token": create_token(None, u), "content": "record", "format": "csv",
                                   "exportDataAccessGroups": "true"})
    return pd.read_csv(io.StringIO(b"".join(resp.streaming_content).decode()), dtype=str, keep_default_na=False)


def test_longitudinal_project_keeps_events(redcap_project, capture_sqlite_db, tmp_path):
    from django.test import Client

    from latc.capture.redcap_import import import_redcap

    dd, export = redcap_project
    original = pd.read_csv(export, dtype=str, keep_default_na=False)
    events = original["redcap_repeat_instrument"].map(lambda f: "treatment_arm_1" if f else "baseline_arm_1")
    original.insert(1, "redcap_event_name", events)
    path = tmp_path / "longitudinal.csv"
    original.to_csv(path, index=False)
    mapping = tmp_path / "mapping.csv"
    pairs = {("baseline_arm_1", "patients")} | {("treatment_arm_1", f) for f in original["redcap_repeat_instrument"] if f}
    pd.DataFrame([{"arm_num": "1", "unique_event_name": e, "form": f} for e, f in sorted(pairs)]).to_csv(mapping, index=False)
    rep = import_redcap(dd, path, event_mapping=mapping)
    # the mapping designates only patients for baseline: records with other baseline forms are refused
    assert rep.refused and all(p.rule == "redcap_event" for ps in rep.refused.values() for p in ps)
    full = pd.DataFrame([{"arm_num": "1", "unique_event_name": "baseline_arm_1", "form": f}
                         for f in ("patients", "eligibility", "diagnosis", "surgery", "pathology")]
                        + [{"arm_num": "1", "unique_event_name": e, "form": f} for e, f in sorted(pairs)])
    full.to_csv(mapping, index=False)
    from latc.capture.models import QuarantinedRow

    QuarantinedRow.objects.all().delete()
    rep = import_redcap(dd, path, event_mapping=mapping)
    assert not rep.refused, rep.summary()
    back = _api_flat_csv()
    pd.testing.assert_frame_equal(back, original)
    c = Client()
    from latc.capture.api.tokens import create_token
    from django.contrib.auth import get_user_model

    tok = create_token(None, get_user_model().objects.get(username="dm.migration"))
    ev = c.post("/api/", {"token": tok, "content": "event", "format": "json"}).json()
    assert {e["unique_event_name"] for e in ev} == {"baseline_arm_1", "treatment_arm_1"}


def test_cli_refuses_a_record_whole_and_reports_it(redcap_project, tmp_path):
    dd, export = redcap_project
    frame = pd.read_csv(export, dtype=str, keep_default_na=False)
    victim = frame["record_id"].unique()[1]
    rows = (frame["record_id"] == victim) & (frame["redcap_repeat_instrument"] != "")
    date_col = next(c for c in frame.columns if c.endswith("_date") and (frame.loc[rows, c] != "").any())
    frame.loc[rows & (frame[date_col] != ""), date_col] = "2023-02-29"
    bad = tmp_path / "bad_export.csv"
    frame.to_csv(bad, index=False)
    d = tmp_path / "cap"

    def latc(*args):
        return subprocess.run([sys.executable, "-m", "latc.cli", "capture", *map(str, args), "--dir", d],
                              capture_output=True, text=True, timeout=600)

    assert latc("init").returncode == 0
    p = latc("import-redcap", "--dictionary", dd, "--records", bad)
    assert p.returncode == 0, p.stderr
    n = frame["record_id"].nunique()
    assert f"{n} records" in p.stdout and f"{n - 1} imported, 1 refused" in p.stdout, p.stdout
    refused = pd.read_csv(d / "import_redcap" / "refused_records.csv", dtype=str)
    assert set(refused["record"]) == {victim} and date_col in set(refused["field"])
    import sqlite3

    con = sqlite3.connect(d / "capture.sqlite3")
    assert con.execute("select count(*) from capture_patient where patient_id = ?", (victim,)).fetchone() == (0,)
    assert con.execute("select count(*) from capture_patient").fetchone() == (n - 1,)
    assert con.execute("select count(*) from capture_quarantinedrow where patient_id = ?", (victim,)).fetchone()[0] > 0
    # a dictionary with a variable the study does not have: refused before anything is written
    dd_bad = tmp_path / "dd_bad.csv"
    text = dd.read_text(encoding="utf-8").splitlines()
    dd_bad.write_text("\n".join(text + ["mystery_var,patients,,text,Mystery,,,,,,,,,,,,,"]) + "\n", encoding="utf-8")
    p = latc("import-redcap", "--dictionary", dd_bad, "--records", export)
    assert p.returncode == 2 and "mystery_var" in (p.stdout + p.stderr)
    assert len((p.stdout + p.stderr).strip().splitlines()) == 1
