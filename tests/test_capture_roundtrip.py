"""latc capture, interchange: synthetic study → import → export → the pipeline gives the same
analysis; import quarantine; import of latc validate's query log; spreadsheet-safe, de-identified
exports of hostile text."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("django")

CUT = date(2025, 6, 30)


@pytest.fixture(scope="module")
def synthetic_study(tmp_path_factory):
    """40 patients, 4 centers, fixed seed, 12 planted errors (hard and soft)."""
    from latc.synth import write_synthetic_study

    out = tmp_path_factory.mktemp("capture_rt_synth")
    write_synthetic_study(out, n_patients=40, n_centers=4, seed=7, fmt="csv", inject_errors=12)
    return out


def _analyse(study: Path, out: Path) -> Path:
    """validate → derive → analyze, as `latc run` chains them (no report)."""
    from latc.analysis import AnalysisOptions, run_analysis, write_results
    from latc.derive.datasets import derive_datasets
    from latc.io import write_datasets
    from latc.io import read_study
    from latc.validate import validate_study, write_validation

    res = validate_study(read_study(study), data_cut=CUT)
    write_validation(res, out / "validation")
    derived = derive_datasets(res.clean, CUT, eligibility=res.eligibility)
    write_datasets(derived, out / "derived")
    analysis = run_analysis(derived, AnalysisOptions(imputations=2, prognostic_bootstrap=0))
    write_results(analysis, out / "analysis")
    return out


def _tables(folder: Path) -> dict[str, bytes]:
    """Every analysis and derived table (CSV), by relative path; run metadata left out."""
    out = {}
    for sub in ("derived", "analysis"):
        for p in sorted((folder / sub).rglob("*.csv")):
            out[str(p.relative_to(folder))] = p.read_bytes()
    return out


def test_round_trip_gives_identical_analysis_tables(synthetic_study, capture_sqlite_db, tmp_path):
    from latc.capture import audit, interchange
    from latc.capture.models import AuditEntry, QuarantinedRow, Query, Record

    rep = interchange.import_study(synthetic_study / "study", out=tmp_path)
    assert rep.patients_created == 40 and rep.n_quarantined >= 3 and rep.queries_opened >= 5
    assert Record.objects.count() == rep.n_stored and QuarantinedRow.objects.count() == rep.n_quarantined
    assert Query.objects.filter(opened_by__isnull=True, status="open").count() == rep.queries_opened
    assert AuditEntry.objects.filter(action="import").count() == sum(len(r.data) for r in Record.objects.all())
    exported = interchange.export_study(tmp_path / "export")
    assert audit.verify_chain().ok
    a = _tables(_analyse(synthetic_study / "study", tmp_path / "run_original"))
    b = _tables(_analyse(exported, tmp_path / "run_capture"))
    assert len(a) > 20 and a.keys() == b.keys()
    differ = [k for k in a if a[k] != b[k]]
    assert not differ, differ
    qa = pd.read_csv(tmp_path / "run_original/validation/queries.csv", dtype=str)
    qb = pd.read_csv(tmp_path / "run_capture/validation/queries.csv", dtype=str)
    cols = ["query_id", "form", "row", "patient_id", "field", "rule", "severity"]
    assert qa[cols].sort_values(cols).reset_index(drop=True).equals(qb[cols].sort_values(cols).reset_index(drop=True))
    meta = json.loads((tmp_path / "export/export.json").read_text())
    assert meta["rows"]["patients"] == 40 and meta["quarantined_rows_included"] == rep.n_quarantined
    assert (tmp_path / "export/redcap/redcap_export.csv").is_file()


def test_redcap_export_reads_back_as_the_same_study(synthetic_study, capture_sqlite_db, tmp_path):
    from latc.capture import interchange
    from latc.io import read_study
    from latc.validate import validate_study

    interchange.import_study(synthetic_study / "study", out=tmp_path)
    study = interchange.export_study(tmp_path / "export")
    a = validate_study(read_study(study), data_cut=CUT)
    b = validate_study(read_study(tmp_path / "export/redcap"), data_cut=CUT)
    # A REDCap record has ONE center variable: a one-row form whose center_id differs from the
    # patient's (the planted center_mismatch) cannot be written, so REDCap shows it clean.
    planted = pd.read_csv(synthetic_study / "injected_errors.csv", dtype=str)
    mismatch = planted[planted["error_type"] == "center_mismatch"]
    lost = {(r.form, r.patient_id) for r in mismatch.itertuples() if r.form != "patients"}
    assert lost, "the synthetic study plants a center mismatch"
    for form in a.clean:
        x, y = a.clean[form].reset_index(drop=True), b.clean[form].reset_index(drop=True)
        extra = {(form, pid) for pid in set(y["patient_id"]) - set(x["patient_id"])}
        if extra:
            assert extra <= lost, form
            y = y[~y["patient_id"].isin([pid for _, pid in extra])].reset_index(drop=True)
        assert x.equals(y), form


def test_import_quarantine_keeps_hard_error_rows_with_reasons(synthetic_study, capture_db, tmp_path):
    from latc.capture import interchange
    from latc.capture.models import AuditEntry, Patient, Record

    planted = pd.read_csv(synthetic_study / "injected_errors.csv", dtype=str)
    rep = interchange.import_study(synthetic_study / "study", out=tmp_path)
    q = {(f, int(r)): (pid, reason) for f, r, pid, reason, _ in rep.quarantine}
    # the planted impossible date and wrong code are hard errors: withheld, with their rule
    for kind, rule in (("impossible_date", "type"), ("wrong_code", "value_set")):
        for e in planted[planted["error_type"] == kind].itertuples():
            assert q[(e.form, int(e.row))][1].split(";")[0] == rule, e
    # the orphan row (no such patient) too; a soft one (out of range) is stored with a query
    orphan = planted[planted["error_type"] == "orphan_row"].iloc[0]
    assert q[(orphan.form, int(orphan.row))][1] == "reference"
    oor = planted[planted["error_type"] == "out_of_range"].iloc[0]
    rec = Record.objects.get(patient=Patient.objects.get(patient_id=oor.patient_id), form=oor.form)
    assert rec.data[oor.field] == oor.injected_value and rec.queries.filter(field=oor.field, rule="range").exists()
    files = {p.name: p for p in (tmp_path / "import_quarantine").glob("*.csv")}
    assert set(files) == {f"{f}.csv" for f, _ in q}
    for name, p in files.items():
        t = pd.read_csv(p, dtype=str)
        assert {"quarantine_reason", "quarantine_message", "_source"} <= set(t.columns)
        assert t["quarantine_reason"].notna().all() and t["_source"].str.contains(" row ").all()
    assert AuditEntry.objects.filter(action="import_quarantine").count() == rep.n_quarantined
    # re-importing the same study stores nothing twice
    again = interchange.import_study(synthetic_study / "study", out=tmp_path / "again")
    assert again.patients_created == 0 and again.n_stored == 0
    assert {r for _, _, _, r, _ in again.quarantine} >= {"patient_exists"}


def test_import_queries_opens_queries_on_the_right_records(synthetic_study, capture_sqlite_db, tmp_path):
    from latc.capture import interchange, services
    from latc.capture.models import Query
    from latc.io import read_study
    from latc.validate import validate_study, write_validation

    interchange.import_study(synthetic_study / "study", out=tmp_path)
    res = validate_study(read_study(synthetic_study / "study"), data_cut=CUT)
    write_validation(res, tmp_path / "validation")
    # the import opened the soft problems' queries already: importing the log finds them open
    rep = interchange.import_queries(tmp_path / "validation/queries.csv")
    assert rep.opened == 0 and rep.already_open >= 5
    # close them all; the log re-opens each on its record
    for q in Query.objects.all():
        services.close_query(None, q, "test")
    rep = interchange.import_queries(tmp_path / "validation/queries.csv")
    assert rep.opened >= 5 and rep.already_open == 0
    # every problem of a stored row is matched; quarantined rows (no record) are reported
    unmatched_rows = {(f, r) for _, _, f, r, _ in rep.unmatched}
    assert ("labs", "1038") in unmatched_rows  # the orphan row's patient is not in capture
    opened = Query.objects.filter(status="open")
    assert opened.count() == rep.opened
    for q in opened:
        row = res.queries[(res.queries["query_id"] == q.query_id)]
        assert len(row) >= 1
        r = row.iloc[0]
        assert (q.record.patient.patient_id, q.record.form, q.field) == (r["patient_id"], r["form"], r["field"])
        if isinstance(r["value"], str) and q.field:
            assert q.record.data.get(q.field) == r["value"]


def test_import_queries_of_a_validated_export_match_by_export_row(synthetic_study, capture_sqlite_db, tmp_path):
    """latc validate run on a capture export: its rows are export rows; the queries land on the records."""
    from latc.capture import interchange, services
    from latc.capture.models import Query
    from latc.io import read_study
    from latc.validate import validate_study, write_validation

    interchange.import_study(synthetic_study / "study", out=tmp_path)
    for q in Query.objects.all():
        services.close_query(None, q, "test")
    study = interchange.export_study(tmp_path / "export")
    res = validate_study(read_study(study), data_cut=CUT)
    write_validation(res, tmp_path / "validation")
    rep = interchange.import_queries(tmp_path / "validation/queries.csv")
    assert rep.opened >= 5
    for q in Query.objects.filter(status="open"):
        r = res.queries[res.queries["query_id"] == q.query_id].iloc[0]
        assert (q.record.patient.patient_id, q.record.form) == (r["patient_id"], r["form"])


@pytest.fixture
def notes_dictionary(tmp_path, capture_sqlite_db):
    """The bundled dictionary plus one free-text field (adverse_events.comment, type notes): a
    field added to the YAML is in validation and in the export without any other change."""
    import yaml
    from django.test import override_settings

    from latc.capture import services
    from latc.dictionary import default_dictionary_path

    raw = yaml.safe_load(default_dictionary_path().read_text(encoding="utf-8"))
    raw["forms"]["adverse_events"]["fields"].append({"name": "comment", "label": "Comment", "type": "notes"})
    path = tmp_path / "dictionary_with_notes.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    services.dictionary.cache_clear()
    with override_settings(LATC_CAPTURE_DICTIONARY=str(path)):
        yield services.dictionary()
    services.dictionary.cache_clear()


HOSTILE = '=HYPERLINK("http://x","y")'
SCRIPT = "<script>alert(1)</script>"


def test_hostile_text_stored_verbatim_and_exported_spreadsheet_safe(notes_dictionary, capture_sqlite_users, tmp_path):
    from latc.capture import interchange, services
    from latc.capture.errors import Forbidden

    users = capture_sqlite_users
    assert "comment" in notes_dictionary.forms["adverse_events"].field_names
    p = services.create_patient(users["site_entry"], "C01-0001", "C01")
    r1 = services.save_record(users["site_entry"], p, "adverse_events", None, {"ae_id": "1", "comment": HOSTILE},
                              base_version=None)
    r2 = services.save_record(users["site_entry"], p, "adverse_events", None, {"ae_id": "2", "comment": SCRIPT},
                              base_version=None)
    assert r1.saved and r2.saved
    assert r1.record.data["comment"] == HOSTILE and r2.record.data["comment"] == SCRIPT
    with pytest.raises(Forbidden):
        interchange.export_study(tmp_path / "x", user=users["site_entry"])
    study = interchange.export_study(tmp_path / "export", user=users["data_manager"])
    text = (study / "adverse_events.csv").read_text(encoding="utf-8")
    assert "'" + HOSTILE.replace('"', '""') in text and "\n=" not in text and ",=" not in text
    assert SCRIPT in text
    red = (tmp_path / "export/redcap/redcap_export.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in red and ",=" not in red
    t = pd.read_csv(study / "adverse_events.csv", dtype=str)
    assert set(t["comment"]) == {"'" + HOSTILE, SCRIPT}


def test_deidentified_export(notes_dictionary, capture_sqlite_users, tmp_path):
    from latc.capture import interchange, services
    from latc.capture.errors import Forbidden
    from latc.capture.models import AuditEntry
    from latc.io import read_study
    from latc.validate import validate_study

    users = capture_sqlite_users
    p = services.create_patient(users["site_entry"], "C01-0042", "C01")
    services.save_record(users["site_entry"], p, "patients", 1, {"cohort": "neoadjuvant", "diagnosis_date": "2021-03-04"},
                         base_version=1)
    services.save_record(users["site_entry"], p, "adverse_events", None, {"ae_id": "1", "comment": "seen by Dr Li"},
                         base_version=None)
    services.save_record(users["site_entry"], p, "biospecimens", None, {"sample_id": "C01-0042-TUMOR1"}, base_version=None)
    stat = users["statistician"]
    with pytest.raises(Forbidden):
        interchange.export_study(tmp_path / "id", user=stat)
    study = interchange.export_study(tmp_path / "deid", user=stat, deidentified=True)
    blob = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "deid").rglob("*.csv"))
    assert "C01-0042" not in blob and "Dr Li" not in blob
    pts = pd.read_csv(study / "patients.csv", dtype=str)
    new_id = pts["patient_id"].iloc[0]
    assert new_id.startswith("C01-") and new_id != "C01-0042" and pts["diagnosis_date"].iloc[0] == "2021-03-04"
    bio = pd.read_csv(study / "biospecimens.csv", dtype=str)
    assert bio["sample_id"].iloc[0] == f"{new_id}-TUMOR1" and bio["patient_id"].iloc[0] == new_id
    # stable across exports, and still valid pseudonyms for latc validate
    again = interchange.export_study(tmp_path / "deid2", user=stat, deidentified=True)
    assert pd.read_csv(again / "patients.csv", dtype=str)["patient_id"].iloc[0] == new_id
    res = validate_study(read_study(study, notes_dictionary), notes_dictionary, data_cut=CUT)
    assert not (res.queries["rule"] == "pseudonym").any()
    assert list(AuditEntry.objects.filter(action="export").values_list("reason", flat=True)) == ["de-identified"] * 2


def test_import_queries_leaves_required_quiet_on_forms_still_incomplete(capture_sqlite_db, tmp_path):
    """The export → latc validate → import-queries loop must not undo the rule of the forms: a blank
    required field of a form the site still marks incomplete raises no query (as on save)."""
    from latc.capture import interchange, services
    from latc.capture.models import Query
    from latc.io import read_study
    from latc.validate import validate_study, write_validation

    services.create_center(None, "C01", "Center 1")
    p = services.create_patient(None, "C01-0042", "C01")
    res = services.save_record(None, p, "diagnosis", 1, {"histology": "ptc"}, base_version=None, status="incomplete")
    assert res.saved and not Query.objects.filter(rule="required").exists()
    study = interchange.export_study(tmp_path / "export")
    v = validate_study(read_study(study), data_cut=CUT)
    assert ((v.queries["rule"] == "required") & (v.queries["form"] == "diagnosis")).any()
    write_validation(v, tmp_path / "validation")
    rep = interchange.import_queries(tmp_path / "validation/queries.csv")
    assert rep.quiet_incomplete >= 1 and "left quiet" in rep.summary()
    assert not Query.objects.filter(record=res.record, rule="required").exists()
