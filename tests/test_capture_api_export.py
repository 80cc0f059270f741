"""The REDCap-compatible API, export side (issue #13), proven with PyCap against a live server.

PyCap (redcap-tools/PyCap, the maintained Python REDCap client) is used unchanged: its
``Project`` talks to ``latc capture serve``'s ``/api/`` exactly as to a REDCap server. Both
databases (SQLite always, PostgreSQL when it answers). The records PyCap reads back are compared
with the study the database was loaded from, read by latc's own REDCap reader.
"""

from __future__ import annotations

import io
import os

import pandas as pd
import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from _capture_api import import_synthetic, live_api  # noqa: E402

redcap = pytest.importorskip("redcap")


@pytest.fixture
def study(capture_db, capture_users, tmp_path):
    """A 24-patient synthetic study (C01, C02) imported, and a token per role."""
    from latc.capture.api.tokens import create_token

    folder = import_synthetic(tmp_path / "syn")
    tokens = {role: create_token(None, u) for role, u in capture_users.items()}
    return folder, tokens


def _tables_of_flat_csv(text: str, tmp_path):
    from latc.io import read_study

    d = tmp_path / "api_export"
    d.mkdir()
    (d / "redcap_export.csv").write_text(text, encoding="utf-8")
    return read_study(d).tables


def _comparable(t: pd.DataFrame) -> pd.DataFrame:
    t = t.drop(columns=["_row"], errors="ignore").astype("string")
    return t.sort_values(list(t.columns)).reset_index(drop=True)


def test_pycap_flat_csv_export_reads_back_as_the_imported_study(study, tmp_path):
    from latc.io import read_study

    folder, tokens = study
    with live_api() as url:
        proj = redcap.Project(url, tokens["data_manager"])
        text = proj.export_records(format_type="csv", export_data_access_groups=True)
    got = _tables_of_flat_csv(text, tmp_path)
    want = read_study(folder).tables
    assert set(want) <= set(got)
    for form, t in want.items():
        pd.testing.assert_frame_equal(_comparable(got[form]), _comparable(t), check_dtype=False, obj=form)


def test_pycap_json_and_eav_agree_with_flat(study):
    folder, tokens = study
    with live_api() as url:
        proj = redcap.Project(url, tokens["data_manager"])
        flat = proj.export_records(format_type="json")
        eav = proj.export_records(format_type="json", record_type="eav")
        some = proj.export_records(format_type="json", records=["C01-0001"], fields=["record_id", "dx_histology"])
        forms = proj.export_records(format_type="json", forms=["diagnosis"])
    assert flat and all(isinstance(r, dict) for r in flat)
    assert {"record_id", "redcap_repeat_instrument", "redcap_repeat_instance", "diagnosis_complete"} <= set(flat[0])
    assert "redcap_data_access_group" not in flat[0]  # REDCap: only with exportDataAccessGroups=true
    # every non-blank flat value is one eav row and vice versa
    control = {"record_id", "redcap_repeat_instrument", "redcap_repeat_instance"}
    from_flat = sorted((r["record_id"], r["redcap_repeat_instrument"], r["redcap_repeat_instance"], k, v)
                       for r in flat for k, v in r.items() if k not in control and v != "")
    from_eav = sorted((r["record"], r["redcap_repeat_instrument"], r["redcap_repeat_instance"], r["field_name"],
                       r["value"]) for r in eav)
    assert from_flat == from_eav
    assert {r["record_id"] for r in some} == {"C01-0001"}
    assert some and all(set(r) == control | {"dx_histology"} for r in some)
    assert "dx_histology" in forms[0] and "value" not in forms[0] and "diagnosis_complete" in forms[0]
    # complete forms are REDCap's 2
    assert {r["diagnosis_complete"] for r in flat if r["redcap_repeat_instrument"] == ""} == {"2"}


def test_filter_logic_and_date_range(study):
    from latc.capture.models import Record

    from latc.capture.services import dictionary
    from latc.dictionary.redcap import redcap_naming

    folder, tokens = study
    size = redcap_naming(dictionary()).variable[("diagnosis", "primary_size_mm")]
    hist = Record.objects.filter(form="diagnosis").values_list("patient__patient_id", "data")
    ptc = {pid for pid, d in hist if d.get("histology") == "ptc"}
    assert ptc and len(ptc) < len(hist)
    with live_api() as url:
        proj = redcap.Project(url, tokens["data_manager"])
        got = proj.export_records(format_type="json", filter_logic="[dx_histology] = 'ptc'", fields=["record_id"])
        none = proj.export_records(format_type="json", date_begin=pd.Timestamp("2099-01-01").to_pydatetime())
        big = proj.export_records(format_type="json", fields=["record_id"],
                                  filter_logic=f"[{size}] > 40 or ([{size}] <= 20 and [dx_histology] <> 'ptc')")
        with pytest.raises(redcap.RedcapError, match="filterLogic"):
            proj.export_records(format_type="json", filter_logic="datediff([x], 'today') > 3")
        with pytest.raises(redcap.RedcapError, match="filterLogic"):
            proj.export_records(format_type="json", filter_logic=f"[{size}] > 'abc'")
    assert {r["record_id"] for r in got} == ptc
    assert none == []
    # numeric comparisons: a blank or non-number size never matches (REDCap compares numbers)
    want_big = {pid for pid, d in hist if _num(d.get("primary_size_mm")) is not None
                and (_num(d["primary_size_mm"]) > 40
                     or (_num(d["primary_size_mm"]) <= 20 and d.get("histology") != "ptc"))}
    assert want_big and {r["record_id"] for r in big} == want_big


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def test_pycap_metadata_instruments_and_project(study):
    from latc.capture.services import dictionary
    from latc.dictionary.redcap import redcap_data_dictionary

    _, tokens = study
    with live_api() as url:
        proj = redcap.Project(url, tokens["site_entry"])
        meta = proj.export_metadata(format_type="json")
        meta_df = proj.export_metadata(format_type="df")
        instruments = proj.export_instruments()
        rep = proj.export_repeating_instruments_events()
        info = proj.export_project_info()
        version = proj.export_version()
        names = proj.export_field_names()
        with pytest.raises(redcap.RedcapError, match="classic"):
            proj.export_instrument_event_mappings()
        with pytest.raises(redcap.RedcapError, match="classic"):
            proj.export_events()
    dd = redcap_data_dictionary(dictionary())
    assert [m["field_name"] for m in meta] == list(dd.iloc[:, 0])
    assert len(meta_df) == len(dd)
    assert [i["instrument_name"] for i in instruments] == list(dictionary().forms)
    assert {r["form_name"] for r in rep} == {n for n, f in dictionary().forms.items() if f.repeating}
    assert info["has_repeating_instruments_or_events"] == 1 and info["is_longitudinal"] == 0
    assert str(version) == "14.5.0"
    assert any(n["original_field_name"] == "dx_histology" for n in names)


def test_statistician_gets_pseudonyms_admin_nothing(study):
    folder, tokens = study
    with live_api() as url:
        stat = redcap.Project(url, tokens["statistician"]).export_records(format_type="csv")
        with pytest.raises(redcap.RedcapError):
            redcap.Project(url, tokens["admin"]).export_records(format_type="json")
    ids = set(pd.read_csv(io.StringIO(stat), dtype=str)["record_id"])
    originals = set(pd.read_csv(folder / "patients.csv", dtype=str)["patient_id"])
    assert ids and not (ids & originals)
    assert {i.split("-")[0] for i in ids} == {o.split("-")[0] for o in originals}  # center prefix kept


def test_logging_export(study):
    _, tokens = study
    with live_api() as url:
        log = redcap.Project(url, tokens["data_manager"]).export_logging(format_type="json")
        with pytest.raises(redcap.RedcapError):
            redcap.Project(url, tokens["site_entry"]).export_logging(format_type="json")
    assert log and {"timestamp", "username", "action", "details", "record"} <= set(log[0])
    assert any(e["action"].startswith("import") for e in log)


def test_api_token_command(tmp_path):
    """`latc capture api-token`: printed once, stored only as its SHA-256, revocable."""
    import hashlib
    import re
    import sqlite3
    import subprocess
    import sys

    def latc(*args):
        return subprocess.run([sys.executable, "-m", "latc.cli", "capture", *map(str, args), "--dir", tmp_path],
                              capture_output=True, text=True, timeout=300)

    assert latc("init").returncode == 0
    (tmp_path / "pw").write_text("a-long-enough-passphrase-9\n")
    assert latc("createuser", "dm.one", "--role", "data_manager", "--password-file", tmp_path / "pw").returncode == 0
    p = latc("api-token", "dm.one", "--label", "nightly export")
    assert p.returncode == 0, p.stderr
    token = p.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9A-F]{32}", token)
    con = sqlite3.connect(tmp_path / "capture.sqlite3")
    stored = con.execute("select key_hash, revoked_at from capture_apitoken").fetchall()
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(), None)]
    assert token not in (tmp_path / "capture.sqlite3").read_bytes().decode("latin-1")
    p = latc("api-token", "dm.one", "--revoke")
    assert p.returncode == 0 and "1 API token(s) of dm.one revoked" in p.stdout
    assert con.execute("select count(*) from capture_apitoken where revoked_at is not null").fetchone() == (1,)
    p = latc("api-token", "nobody")
    assert p.returncode == 2 and "no account 'nobody'" in (p.stdout + p.stderr)
