"""REDCap flat raw export of study records, both directions (latc.io.redcap)."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from latc.dictionary import load_dictionary
from latc.io import ROW, StudyReadError
from latc.io.redcap import read_redcap_export, redcap_export_frame, redcap_export_lines, write_redcap_export


@pytest.fixture(scope="module")
def d():
    return load_dictionary()


def _table(d, form: str, rows: list[dict], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Canonical text table of a form: every field (blank when not given), then extra columns."""
    names = d[form].field_names + list(extra)
    return pd.DataFrame([{n: r.get(n) for n in names} for r in rows], columns=names, dtype="str")


def small_study(d) -> dict[str, pd.DataFrame]:
    """Three patients of two centers; repeating forms with several instances; an orphan record."""
    p1, p2, p3 = "C01-0001", "C01-0002", "C02-0001"
    return {
        "patients": _table(d, "patients", [
            dict(patient_id=p1, center_id="C01", cohort="neoadjuvant", diagnosis_date="2023-01-10",
                 treatment_decision_date="2023-01-20", enrollment_date="2023-01-25", age_at_diagnosis="61",
                 sex="female", ecog="1", consent="1", consent_date="2023-01-25"),
            dict(patient_id=p2, center_id="C01", cohort="upfront_surgery", diagnosis_date="2023-03-01",
                 age_at_diagnosis="47", sex="male", ecog="0", consent="0"),
        ]),
        "eligibility": _table(d, "eligibility", [
            dict(patient_id=p1, center_id="C01", inc_age_14="1", inc_m1_benefit_documented="na", exc_pregnancy="0"),
            dict(patient_id=p2, center_id="C01", inc_age_14="1", inc_m1_benefit_documented="yes"),
        ]),
        "diagnosis": _table(d, "diagnosis", [
            dict(patient_id=p1, center_id="C01", histology="ptc", primary_size_mm="42.5", ct="T4a", cn="N1b",
                 cm="M1", distant_metastasis_sites="lung", braf_v600e="positive"),
        ]),
        "treatments": _table(d, "treatments", [
            dict(patient_id=p1, center_id="C01", course_id="1", agent="dabrafenib", agent_class="braf_mek",
                 start_date="2023-02-01", stop_date="2023-05-01", start_dose="300", dose_unit="mg_day",
                 dose_reduced="1", interrupted="0", final_dose="200", reason_stopped="planned_surgery",
                 site_comment="first line, \"per MDT\""),
            dict(patient_id=p1, center_id="C01", course_id="2", agent="trametinib", agent_class="braf_mek",
                 start_date="2023-02-01", stop_date="2023-05-01", start_dose="2", dose_unit="mg_day",
                 dose_reduced="0", interrupted="0", reason_stopped="planned_surgery"),
            dict(patient_id=p1, center_id="C01", course_id="3", agent="lenvatinib", agent_class="mki",
                 start_date="2023-06-01", start_dose="0.5", dose_unit="mg_day"),
        ], extra=("site_comment",)),
        "labs": _table(d, "labs", [
            dict(patient_id=p1, center_id="C01", lab_date="2023-01-12", test="tg", value="120.5", unit="ng_ml",
                 below_detection="0", stimulated="0"),
            dict(patient_id=p1, center_id="C01", lab_date="2023-01-12", test="tgab", value="0.333333", unit="iu_ml",
                 below_detection="1", upper_reference_limit="4"),
            dict(patient_id=p2, center_id="C01", lab_date="2023-03-02", test="tsh", value="1.2", unit="miu_l",
                 below_detection="0"),
        ]),
        "adverse_events": _table(d, "adverse_events", [
            dict(patient_id=p1, center_id="C01", ae_id="1", ctcae_term="hypertension", grade="3",
                 start_date="2023-03-01", stop_date="2023-03-20", serious="0", attribution="probable",
                 action_taken="dose_reduced", surgical_delay="0"),
        ]),
        "follow_up": _table(d, "follow_up", [
            dict(patient_id=p1, center_id="C01", visit_date="2023-09-01", vital_status="alive",
                 imaging_result="negative", recurrence="0"),
            dict(patient_id=p1, center_id="C01", visit_date="2024-03-01", vital_status="dead", death_date="2024-02-20",
                 cause_of_death="thyroid_cancer", imaging_result="structural_disease", recurrence="1",
                 recurrence_date="2024-01-10", recurrence_site="distant", recurrence_type="structural"),
            # a record with no patients row (an orphan: validation's business, the export keeps it)
            dict(patient_id=p3, center_id="C02", visit_date="2024-01-05", vital_status="alive"),
        ]),
        "biospecimens": _table(d, "biospecimens", [
            dict(sample_id="C01-0001-TUMOUR_BL", patient_id=p1, center_id="C01", collection_date="2023-01-15",
                 timepoint="baseline", tissue="tumour", assay="scrna_seq", file_ref="sc/C01-0001_bl.h5ad"),
        ]),
    }


def _read_csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _compare(got: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame], d) -> None:
    for form in d.forms:
        exp = expected.get(form, _table(d, form, []))
        table = got[form]
        assert ROW in table.columns
        table = table.drop(columns=[ROW]).reset_index(drop=True)
        assert list(table.columns) == list(exp.columns), form
        for c in table.columns:
            assert table[c].dtype == "str", (form, c)
        pd.testing.assert_frame_equal(table, exp.reset_index(drop=True), check_dtype=False, obj=form)


@pytest.fixture(scope="module")
def written(d, tmp_path_factory):
    tables = small_study(d)
    out = tmp_path_factory.mktemp("redcap")
    assert write_redcap_export(tables, out, d) == out
    return tables, out


def test_export_layout_is_redcaps_flat_raw_format(written, d):
    tables, out = written
    header = (out / "redcap_export.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:4] == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group"]
    # each form's variables, then <form>_complete
    assert header.index("cohort") < header.index("patients_complete") < header.index("inc_age_14") < header.index("eligibility_complete")
    assert header.index("tx_start_date") < header.index("site_comment") < header.index("treatments_complete")
    assert header.count("center_id") == 1 and "patient_id" not in header
    rows = _read_csv_rows(out / "redcap_export.csv")
    p1 = [r for r in rows if r["record_id"] == "C01-0001"]
    # the record's first row holds its non-repeating forms, repeat columns blank
    assert p1[0]["redcap_repeat_instrument"] == "" and p1[0]["redcap_repeat_instance"] == ""
    assert p1[0]["cohort"] == "neoadjuvant" and p1[0]["inc_m1_benefit_documented"] == "na" and p1[0]["dx_histology"] == "ptc"
    tx = [r for r in p1 if r["redcap_repeat_instrument"] == "treatments"]
    assert [r["redcap_repeat_instance"] for r in tx] == ["1", "2", "3"]
    assert [r["tx_agent"] for r in tx] == ["dabrafenib", "trametinib", "lenvatinib"]
    assert tx[0]["site_comment"] == 'first line, "per MDT"'
    assert tx[0]["cohort"] == "" and tx[0]["treatments_complete"] == "0"
    fu = [r for r in p1 if r["redcap_repeat_instrument"] == "follow_up"]
    assert [r["redcap_repeat_instance"] for r in fu] == ["1", "2"]
    # the data access group is the center (REDCap's unique group names are lowercase)
    assert {r["redcap_data_access_group"] for r in rows if r["record_id"].startswith("C01")} == {"c01"}
    orphan = [r for r in rows if r["record_id"] == "C02-0001"]
    assert len(orphan) == 1 and orphan[0]["redcap_repeat_instrument"] == "follow_up"
    assert orphan[0]["redcap_data_access_group"] == "c02"
    # the project's data dictionary beside it, naming every exported variable
    dd = {r["Variable / Field Name"] for r in _read_csv_rows(out / "redcap_data_dictionary.csv")}
    variables = {c for c in header[4:] if not c.endswith("_complete") and c != "site_comment"}
    assert variables <= dd


def test_read_back_equals_original_tables(written, d):
    tables, out = written
    for dict_csv in (out / "redcap_data_dictionary.csv", None):
        study = read_redcap_export(out / "redcap_export.csv", dict_csv, d)
        assert study.format == "redcap" and study.sources["labs"] == "redcap_export.csv"
        _compare(study.tables, tables, d)
        assert study.missing_forms == []
        assert [i for i in study.read_issues if i["rule"] != "unknown_column"] == []
        assert [i["field"] for i in study.read_issues] == ["site_comment"]


def test_row_is_the_line_of_the_record_in_the_export(written, d):
    _, out = written
    study = read_redcap_export(out / "redcap_export.csv", None, d)
    lines = (out / "redcap_export.csv").read_text(encoding="utf-8").splitlines()
    # no value holds a line break here, so file lines and CSV records coincide (header = line 1)
    for form in ("patients", "treatments", "follow_up", "labs", "biospecimens"):
        for pid, row in study.tables[form][["patient_id", ROW]].itertuples(index=False):
            line = next(csv.reader([lines[row - 1]]))
            assert line[0] == pid
            assert line[1] == ("" if form == "patients" else form)


def test_export_frame_reports_line_of_each_input_row(d):
    tables = small_study(d)
    frame, lines = redcap_export_frame(tables, d)
    for form, table in tables.items():
        assert len(lines[form]) == len(table)
        for i, pid in enumerate(table["patient_id"]):
            assert frame.iloc[lines[form][i] - 2]["record_id"] == pid
    # patients and eligibility of one patient share the record's first row
    assert (lines["patients"] == lines["eligibility"]).all()
    assert all((redcap_export_lines(tables, d)[f] == lines[f]).all() for f in tables)


def test_reported_lines_are_the_rows_the_reader_gives(written, d):
    tables, out = written
    lines = redcap_export_lines(tables, d)
    study = read_redcap_export(out / "redcap_export.csv", None, d)
    for form, table in tables.items():
        # the reader keeps the writer's row order within a form here, so rows align one to one
        assert study.tables[form][ROW].tolist() == lines[form].tolist(), form


def test_typed_tables_are_written_canonically(d, tmp_path):
    text = small_study(d)
    typed = {}
    for form, table in text.items():
        t = table.copy()
        for f in d[form].fields:
            if f.type == "date":
                t[f.name] = pd.to_datetime(t[f.name])
            elif f.type == "integer":
                t[f.name] = pd.to_numeric(t[f.name]).astype("Int64")
            elif f.type == "number":
                t[f.name] = pd.to_numeric(t[f.name]).astype("Float64")
            elif f.type == "yesno":
                t[f.name] = t[f.name].map({"1": True, "0": False}).astype("boolean")
        typed[form] = t
    write_redcap_export(typed, tmp_path, d)
    study = read_redcap_export(tmp_path / "redcap_export.csv", tmp_path / "redcap_data_dictionary.csv", d)
    _compare(study.tables, text, d)


def test_duplicate_rows_of_a_non_repeating_form_survive_for_validation(d, tmp_path):
    tables = small_study(d)
    tables["eligibility"] = pd.concat([tables["eligibility"], tables["eligibility"].iloc[[0]]], ignore_index=True)
    tables["eligibility"].loc[2, "inc_age_14"] = "0"
    write_redcap_export(tables, tmp_path, d)
    study = read_redcap_export(tmp_path / "redcap_export.csv", None, d)
    elig = study.tables["eligibility"]
    assert elig["patient_id"].tolist() == ["C01-0001", "C01-0001", "C01-0002"]
    assert elig["inc_age_14"].tolist() == ["1", "0", "1"]
    assert len(study.tables["patients"]) == 2


# ------------------------------------------------------------------------------ hand-written exports

HEADER = (
    "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,redcap_data_access_group,"
    "center_id,cohort,age_at_diagnosis,consent,patients_complete,"
    "lab_date,test,value,unit,below_detection,labs_complete,"
    "tx_course_id,tx_agent,tx_start_date,treatments_complete"
)


def test_longitudinal_export(d, tmp_path):
    # labs is a non-repeating form in two events; treatments repeats within the baseline event;
    # one record has no center in the form: its data access group gives it
    export = tmp_path / "redcap_export.csv"
    export.write_text(textwrap.dedent(f"""\
        {HEADER}
        C01-0001,baseline_arm_1,,,c01,C01,neoadjuvant,61,1,2,2023-01-12,tg,120.5,ng_ml,0,2,,,,
        C01-0001,baseline_arm_1,treatments,1,c01,,,,,,,,,,,,1,lenvatinib,2023-02-01,2
        C01-0001,baseline_arm_1,treatments,2,c01,,,,,,,,,,,,2,pembrolizumab,2023-02-01,0
        C01-0001,week_8_arm_1,,,c01,,,,,,2023-04-01,tg,30,ng_ml,No,1,,,,
        C02-0007,baseline_arm_1,,,c02,,upfront_surgery,55,Yes,0,,,,,,,,,,
        C02-0007,surgery_arm_1,,,c02,,,,,,2023-05-05,tsh,2,miu_l,0,0,,,,
        """), encoding="utf-8")
    study = read_redcap_export(export, None, d)
    expected = {
        "patients": _table(d, "patients", [
            dict(patient_id="C01-0001", center_id="C01", cohort="neoadjuvant", age_at_diagnosis="61", consent="1"),
            dict(patient_id="C02-0007", center_id="C02", cohort="upfront_surgery", age_at_diagnosis="55", consent="1"),
        ]),
        "labs": _table(d, "labs", [
            dict(patient_id="C01-0001", center_id="C01", lab_date="2023-01-12", test="tg", value="120.5", unit="ng_ml", below_detection="0"),
            dict(patient_id="C01-0001", center_id="C01", lab_date="2023-04-01", test="tg", value="30", unit="ng_ml", below_detection="0"),
            dict(patient_id="C02-0007", center_id="C02", lab_date="2023-05-05", test="tsh", value="2", unit="miu_l", below_detection="0"),
        ]),
        "treatments": _table(d, "treatments", [
            dict(patient_id="C01-0001", center_id="C01", course_id="1", agent="lenvatinib", start_date="2023-02-01"),
            dict(patient_id="C01-0001", center_id="C01", course_id="2", agent="pembrolizumab", start_date="2023-02-01"),
        ]),
    }
    for form in expected:
        got = study.tables[form]
        assert got[ROW].tolist() == {"patients": [2, 6], "labs": [2, 5, 7], "treatments": [3, 4]}[form]
        pd.testing.assert_frame_equal(got.drop(columns=[ROW]), expected[form], check_dtype=False, obj=form)
    assert len(study.tables["adverse_events"]) == 0 and "adverse_events" in study.missing_forms
    assert "labs" not in study.missing_forms


def test_checkbox_columns_and_unknown_instruments(d, tmp_path):
    export = tmp_path / "export.csv"
    export.write_text(textwrap.dedent("""\
        record_id,redcap_repeat_instrument,redcap_repeat_instance,redcap_data_access_group,cm,distant_metastasis_sites___lung,distant_metastasis_sites___bone,symptoms___1,symptoms___2,diagnosis_complete,qol_score,qol_complete
        C01-0001,,,c01,M1,1,0,1,0,2,,
        C01-0002,,,c01,M1,1,1,0,0,2,,
        C01-0003,,,c01,M0,0,0,0,1,2,,
        C01-0003,qol,1,c01,,,,,,,55,2
        """), encoding="utf-8")
    study = read_redcap_export(export, None, d)
    dx = study.tables["diagnosis"]
    # a dictionary choice field exported as checkboxes: the ticked code; several joined by ';'
    assert dx["distant_metastasis_sites"].tolist()[:2] == ["lung", "lung;bone"]
    assert pd.isna(dx["distant_metastasis_sites"].iloc[2])
    # checkbox columns of an unknown variable stay as extra columns of their form
    assert dx["symptoms___1"].tolist() == ["1", "0", "0"] and dx["symptoms___2"].tolist() == ["0", "0", "1"]
    assert dx["center_id"].tolist() == ["C01"] * 3  # from the data access group
    assert "diagnosis_complete" not in dx.columns and "qol_score" not in dx.columns
    issues = {i["rule"] for i in study.read_issues}
    assert {"unknown_form", "unknown_column", "missing_column"} <= issues
    assert any("qol" in i["message"] for i in study.read_issues if i["rule"] == "unknown_form")


def test_labels_export_is_refused_with_a_clear_message(d, tmp_path):
    labels_header = tmp_path / "labels.csv"
    labels_header.write_text(
        "Record ID,Repeat Instrument,Repeat Instance,Data Access Group,Center,Treatment cohort,Complete?\n"
        "C01-0001,,,C01,C01,Neoadjuvant systemic therapy then surgery,Complete\n", encoding="utf-8")
    with pytest.raises(StudyReadError, match="labels") as err:
        read_redcap_export(labels_header, None, d)
    assert "labels.csv" in str(err.value) and "\n" not in str(err.value)
    # raw headers, label values
    label_values = tmp_path / "label_values.csv"
    label_values.write_text(
        "record_id,redcap_repeat_instrument,redcap_repeat_instance,redcap_data_access_group,center_id,cohort,sex,consent,patients_complete\n"
        "C01-0001,,,C01,C01,Neoadjuvant systemic therapy then surgery,Female,Yes,Complete\n", encoding="utf-8")
    with pytest.raises(StudyReadError, match="labels"):
        read_redcap_export(label_values, None, d)
    label_instrument = tmp_path / "label_instrument.csv"
    label_instrument.write_text(
        "record_id,redcap_repeat_instrument,redcap_repeat_instance,tx_agent,treatments_complete\n"
        "C01-0001,Neoadjuvant systemic treatment,1,lenvatinib,2\n", encoding="utf-8")
    with pytest.raises(StudyReadError, match="Neoadjuvant systemic treatment"):
        read_redcap_export(label_instrument, None, d)


def test_one_wrong_label_is_a_data_problem_not_a_labels_export(d, tmp_path):
    export = tmp_path / "export.csv"
    export.write_text(
        "record_id,redcap_repeat_instrument,redcap_repeat_instance,redcap_data_access_group,center_id,cohort,sex,ecog,patients_complete\n"
        "C01-0001,,,c01,C01,neoadjuvant,Female,1,2\n"
        "C01-0002,,,c01,C01,neoadjuvant,male,0,2\n", encoding="utf-8")
    study = read_redcap_export(export, None, d)
    assert study.tables["patients"]["sex"].tolist() == ["Female", "male"]  # kept as found for validation


@pytest.mark.parametrize(
    "content, message",
    [
        (b"name,age\nAnna,3\n", "not a REDCap"),
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a text CSV"),
        (b"record_id,record_id\nC01-0001,C01-0001\n", "repeated column"),
    ],
)
def test_unreadable_input_is_one_line_study_read_error(d, tmp_path, content, message):
    path = tmp_path / "redcap_export.csv"
    path.write_bytes(content)
    with pytest.raises(StudyReadError, match=message) as err:
        read_redcap_export(path, None, d)
    assert "redcap_export.csv" in str(err.value) and "\n" not in str(err.value)


def test_missing_file(d, tmp_path):
    with pytest.raises(StudyReadError, match="not found"):
        read_redcap_export(tmp_path / "nope.csv", None, d)


def test_same_tables_as_the_csv_folder_of_the_same_study(d, tmp_path):
    from latc.io import read_study, write_study

    tables = small_study(d)
    write_study(tables, tmp_path / "csv", "csv", d)
    write_study(tables, tmp_path / "redcap", "redcap", d)
    from_csv = read_study(tmp_path / "csv", d)
    from_redcap = read_study(tmp_path / "redcap", d)
    assert from_redcap.format == "redcap"
    for form in d.forms:
        a = from_csv.tables[form].drop(columns=[ROW])
        b = from_redcap.tables[form].drop(columns=[ROW])
        pd.testing.assert_frame_equal(a, b, obj=form)
    # a REDCap export CSV given directly (its data dictionary found beside it)
    direct = read_study(tmp_path / "redcap" / "redcap_export.csv", d)
    pd.testing.assert_frame_equal(direct.tables["treatments"], from_redcap.tables["treatments"])


def test_empty_study_round_trips(d, tmp_path):
    write_redcap_export({}, tmp_path, d)
    lines = (tmp_path / "redcap_export.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith("record_id,redcap_repeat_instrument,")
    study = read_redcap_export(tmp_path / "redcap_export.csv", None, d)
    assert all(len(t) == 0 for t in study.tables.values())
    assert all(list(study.tables[f].columns) == d[f].field_names + [ROW] for f in d.forms)
