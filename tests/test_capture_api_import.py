"""The REDCap-compatible API, import side (issue #13): PyCap's ``import_records`` against a live
server, both databases. A synthetic study's REDCap flat export (written by latc.io.redcap, the
layout of a REDCap project's own export) is imported through the API by each center's site
account and exported back: the cells must be the original's, repeat instances included.
"""

from __future__ import annotations

import io
import json
import os

import pandas as pd
import pytest
import requests

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from _capture_api import live_api, synthetic_study  # noqa: E402

redcap = pytest.importorskip("redcap")


@pytest.fixture
def world(capture_db, capture_users, tmp_path):
    from latc.capture.api.tokens import create_token
    from latc.io.redcap import EXPORT_FILE, write_redcap_export
    from latc.io import read_study

    study = synthetic_study(tmp_path / "syn", n=4, centers=2, seed=2)
    out = write_redcap_export(read_study(study).tables, tmp_path / "redcap")
    export = pd.read_csv(out / EXPORT_FILE, dtype=str, keep_default_na=False)
    tokens = {role: create_token(None, u) for role, u in capture_users.items()}
    return export, tokens


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def _import_by_center(url, export, tokens):
    counts = {}
    for center, role in (("c01", "site_entry"), ("c02", "site_entry_c02")):
        part = export[export["redcap_data_access_group"] == center]
        proj = redcap.Project(url, tokens[role])
        counts[center] = proj.import_records(_csv(part), import_format="csv")["count"]
    return counts


def test_pycap_import_then_export_gives_the_original_cells(world):
    export, tokens = world
    with live_api() as url:
        counts = _import_by_center(url, export, tokens)
        back = redcap.Project(url, tokens["data_manager"]).export_records(format_type="csv",
                                                                          export_data_access_groups=True)
    assert counts == {c: export.loc[export["redcap_data_access_group"] == c, "record_id"].nunique()
                      for c in ("c01", "c02")}
    got = pd.read_csv(io.StringIO(back), dtype=str, keep_default_na=False)
    assert list(got.columns) == list(export.columns)
    complete = [c for c in got.columns if c.endswith("_complete")]
    filled = export[complete] != ""
    # form status: the import sets REDCap's 0 ("Incomplete") as latc's incomplete, exported back as 0
    assert ((got[complete] == export[complete]) | ~filled).all().all()
    key = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    a = got.sort_values(key).reset_index(drop=True)
    b = export.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_import_is_all_or_nothing_and_names_the_problem(world):
    from latc.capture.models import Patient

    export, tokens = world
    rows = export[export["redcap_data_access_group"] == "c01"]
    first, second = rows["record_id"].unique()[:2]
    bad = rows[rows["record_id"].isin([first, second])].copy()
    date_col = next(c for c in bad.columns if c.endswith("date") and (bad[c] != "").any())
    bad.loc[(bad["record_id"] == second) & (bad[date_col] != ""), date_col] = "2024-02-30"
    with live_api() as url:
        proj = redcap.Project(url, tokens["site_entry"])
        with pytest.raises(redcap.RedcapError) as exc:
            proj.import_records(_csv(bad), import_format="csv")
    msg = str(exc.value)
    assert "nothing was imported" in msg and f"{second}/patients/1/{date_col}" in msg and "[type]" in msg
    assert not Patient.objects.filter(patient_id__in=[first, second]).exists()


def test_scope_reason_and_formats(world):
    from latc.capture.models import AuditEntry, Record

    export, tokens = world
    c01 = export[export["redcap_data_access_group"] == "c01"]
    pid = c01["record_id"].iloc[0]
    with live_api() as url:
        for center, role in (("c01", "site_entry"), ("c02", "site_entry_c02")):
            first = export[export["record_id"] == export.loc[export["redcap_data_access_group"] == center,
                                                              "record_id"].iloc[0]]
            redcap.Project(url, tokens[role]).import_records(_csv(first), import_format="csv")
        c02_pid = export.loc[export["redcap_data_access_group"] == "c02", "record_id"].iloc[0]
        post = lambda **kw: requests.post(url, data={"token": tokens["site_entry"], "content": "record",  # noqa: E731
                                                     "action": "import", "format": "json", **kw}, timeout=60)
        # another center's record: refused with the same message whether it exists or not
        a = post(data=json.dumps([{"record_id": c02_pid, "age_at_diagnosis": "50"}]))
        b = post(data=json.dumps([{"record_id": "C02-9999", "age_at_diagnosis": "50", "center_id": "C02"}]))
        assert a.status_code == b.status_code == 400
        assert a.json()["error"].replace(c02_pid, "X") == b.json()["error"].replace("C02-9999", "X")
        # the monitor may not enter data at all
        m = requests.post(url, data={"token": tokens["monitor"], "content": "record", "action": "import",
                                     "data": "[]"}, timeout=60)
        assert m.status_code == 403
        # a stored value changes only with a reason (latc's extension parameter)
        age = Record.objects.get(patient__patient_id=pid, form="patients").data["age_at_diagnosis"]
        new_age = str(int(age) + 1)
        r = post(data=json.dumps([{"record_id": pid, "age_at_diagnosis": new_age}]))
        assert r.status_code == 400 and "reason" in r.json()["error"] and "age_at_diagnosis" in r.json()["error"]
        r = post(data=json.dumps([{"record_id": pid, "age_at_diagnosis": new_age}]), reason="typo in the source")
        assert r.status_code == 200 and r.json() == {"count": 1}
        # EAV: the same change back, as one (record, field_name, value) row
        r = post(type="eav", reason="back", returnContent="ids",
                 data=json.dumps([{"record": pid, "field_name": "age_at_diagnosis", "value": age}]))
        assert r.status_code == 200 and r.json() == [pid]
    assert Record.objects.get(patient__patient_id=pid, form="patients").data["age_at_diagnosis"] == age
    reasons = list(AuditEntry.objects.filter(patient_id=pid, field="age_at_diagnosis", action="update")
                   .exclude(old_value=None).values_list("reason", flat=True))
    assert reasons == ["typo in the source", "back"]
