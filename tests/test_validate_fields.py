"""Single-field rules generated from the dictionary: type, value set, ranges, pattern, required,
branching, allowed_by, unknown / missing columns, reader issues."""

from __future__ import annotations

import pandas as pd
import pytest

from latc.io import read_issue
from latc.validate import validate_study
from test_validate_fixtures import DATA_CUT, edit, make_study, valid_rows


def run(study):
    return validate_study(study, data_cut=DATA_CUT)


def only(result, **match):
    q = result.queries
    for k, v in match.items():
        q = q[q[k] == v]
    return q


def assert_rows_accounted(study, result):
    """No row is lost: every input row is in the clean table or in quarantine."""
    for form, t in study.tables.items():
        assert len(result.clean[form]) + len(result.quarantine.get(form, ())) == len(t), form


def test_valid_study_raises_no_query_and_keeps_every_row():
    study = make_study()
    r = run(study)
    assert r.queries.empty, r.queries["message"].tolist()
    assert r.quarantine == {}
    for form, t in study.tables.items():
        assert len(r.clean[form]) == len(t)


def test_clean_tables_are_typed_per_contract():
    r = run(make_study())
    p = r.clean["patients"]
    assert str(p["age_at_diagnosis"].dtype) == "Int64"
    assert str(p["diagnosis_date"].dtype) == "datetime64[ns]"
    assert str(p["consent"].dtype) == "boolean"
    assert str(r.clean["diagnosis"]["primary_size_mm"].dtype) == "Float64"
    assert "_row" not in p.columns
    assert p.loc[p["patient_id"] == "C01-0001", "diagnosis_date"].iloc[0] == pd.Timestamp("2022-01-10")
    assert bool(p["consent"].iloc[0]) is True


@pytest.mark.parametrize(
    "form,i,field,bad,rule",
    [
        ("patients", 0, "age_at_diagnosis", "fifty", "type"),
        ("patients", 0, "age_at_diagnosis", "56.5", "type"),          # integer field
        ("diagnosis", 0, "primary_size_mm", "4,5", "type"),
        ("patients", 0, "diagnosis_date", "10/01/2022", "type"),
        ("patients", 0, "diagnosis_date", "2022-02-30", "type"),      # impossible calendar date
        ("diagnosis", 0, "histology", "papillary", "value_set"),
        ("patients", 0, "consent", "yes", "value_set"),
        ("patients", 0, "age_at_diagnosis", "130", "range"),
        ("lesions", 0, "lesion_id", "X1", "pattern"),
        ("patients", 0, "sex", None, "required"),
    ],
)
def test_field_errors_quarantine_the_row(form, i, field, bad, rule):
    study = edit(form, i, **{field: bad})
    r = run(study)
    q = only(r, form=form, field=field, rule=rule)
    assert len(q) == 1, r.queries[["form", "field", "rule"]].to_string()
    assert q["severity"].iloc[0] == "error"
    assert int(q["row"].iloc[0]) == i + 2
    assert f"{form}.csv row {i + 2}, field {field}" in q["message"].iloc[0]
    assert f"(rule {rule})" in q["message"].iloc[0]
    assert len(r.quarantine[form]) >= 1
    assert rule in r.quarantine[form]["quarantine_reason"].iloc[0]
    assert_rows_accounted(study, r)


def test_impossible_date_message_says_so():
    r = run(edit("patients", 0, diagnosis_date="2024-02-30"))
    assert "not a calendar date" in only(r, rule="type")["message"].iloc[0]


def test_value_set_message_lists_the_codes():
    r = run(edit("patients", 0, ecog="5"))
    assert "one of 0, 1, 2, 3, 4" in only(r, field="ecog")["message"].iloc[0]


def test_soft_range_is_a_warning_and_the_row_stays_clean():
    study = edit("patients", 0, age_at_diagnosis="99")  # soft_max 95, max 110
    r = run(study)
    q = only(r, field="age_at_diagnosis")
    assert q["rule"].tolist() == ["soft_range"] and q["severity"].tolist() == ["warning"]
    assert "95" in q["message"].iloc[0]
    assert len(r.clean["patients"]) == 2 and "patients" not in r.quarantine


def test_patient_id_must_be_a_pseudonym():
    study = edit("patients", 0, patient_id="Zhang Wei")
    r = run(study)
    assert only(r, form="patients", rule="pseudonym")["field"].tolist() == ["patient_id"]
    assert_rows_accounted(study, r)


def test_branching_value_present_while_hidden_is_an_error():
    # consent_date is shown only when consent == 1
    r = run(edit("patients", 0, consent="0"))
    q = only(r, form="patients", field="consent_date")
    assert q["rule"].tolist() == ["branching"]
    # the condition is said in the clinic's words (label and choice label), not as code
    assert 'when Written informed consent obtained is "Yes"' in q["message"].iloc[0]


def test_required_when_shown_missing_is_an_error():
    r = run(edit("treatments", 0, final_dose=None))  # dose_reduced == 1 shows final_dose
    q = only(r, form="treatments", field="final_dose")
    assert q["rule"].tolist() == ["required"]
    assert 'when Dose reduced during the course is "Yes"' in q["message"].iloc[0]


def test_hidden_and_blank_is_fine():
    r = run(edit("treatments", 0, dose_reduced="0", final_dose=None))
    assert r.queries.empty


def test_allowed_by_unit_for_test():
    r = run(edit("labs", 0, unit="pg_ml"))  # Tg in pg/mL: not an allowed unit for tg
    q = only(r, form="labs", field="unit")
    assert q["rule"].tolist() == ["allowed_by"]
    # in the clinic's words (the test's label, the units' labels) with the codes an import file holds
    assert 'when Test is "Thyroglobulin (Tg)" (allowed: ng/mL (ng_ml), µg/L (ug_l))' in q["message"].iloc[0]


def test_a_one_sided_range_names_its_bound_not_infinity():
    # primary_size_mm: allowed 1-250, plausible up to 150 (no plausible minimum in the dictionary)
    r = run(edit("diagnosis", 0, primary_size_mm="180"))
    q = only(r, form="diagnosis", field="primary_size_mm")
    assert q["rule"].tolist() == ["soft_range"]
    msg = q["message"].iloc[0]
    assert "above the plausible maximum 150" in msg and "∞" not in msg
    r = run(edit("diagnosis", 0, primary_size_mm="260"))
    assert "above the allowed range 1–250" in only(r, form="diagnosis", field="primary_size_mm")["message"].iloc[0]


def test_unknown_column_is_one_warning_per_form_not_per_row():
    rows = valid_rows()
    rows["lesion_assessments"] = [dict(r, radiologist_comment="ok") for r in rows["lesion_assessments"]]
    from test_validate_fixtures import make_study as mk
    study = mk(rows)
    r = run(study)
    q = only(r, rule="unknown_column")
    assert len(q) == 1 and q["severity"].iloc[0] == "warning" and pd.isna(q["row"].iloc[0])
    assert len(r.clean["lesion_assessments"]) == 4
    assert "radiologist_comment" not in r.clean["lesion_assessments"].columns


def test_missing_non_key_column_is_one_error_and_rows_stay():
    study = make_study()
    study.tables["labs"] = study.tables["labs"].drop(columns=["below_detection"])
    r = run(study)
    q = only(r, rule="missing_column")
    assert len(q) == 1 and q["severity"].iloc[0] == "error" and q["field"].iloc[0] == "below_detection"
    assert only(r, rule="required").empty  # not one query per row
    assert len(r.clean["labs"]) == 3 and r.clean["labs"]["below_detection"].isna().all()


def test_missing_key_column_quarantines_every_row_with_one_query():
    study = make_study()
    study.tables["labs"] = study.tables["labs"].drop(columns=["test"])
    r = run(study)
    assert len(only(r, rule="missing_column")) == 1
    assert len(r.clean["labs"]) == 0 and len(r.quarantine["labs"]) == 3
    assert set(r.quarantine["labs"]["quarantine_reason"]) == {"missing_column"}


def test_reader_reported_missing_column_becomes_one_error():
    # the reader adds a missing column as blank and reports it (latc.io._read)
    study = make_study()
    study.tables["labs"]["below_detection"] = pd.Series(pd.NA, index=study.tables["labs"].index, dtype="str")
    study.read_issues = [read_issue("labs", None, "below_detection", None, "missing_column", "warning", "labs.csv: no column")]
    r = run(study)
    q = only(r, rule="missing_column")
    assert len(q) == 1 and q["severity"].iloc[0] == "error"
    assert only(r, rule="required").empty and len(r.clean["labs"]) == 3


def test_reader_issues_become_queries_and_errors_quarantine_their_row():
    study = make_study()
    study.read_issues = [
        read_issue("labs", 3, None, None, "ragged_row", "error", "labs.csv row 3: more cells than the header"),
        read_issue("labs", None, None, None, "file_encoding", "warning", "labs.csv: not UTF-8"),
    ]
    r = run(study)
    rr = only(r, rule="ragged_row")
    assert rr["message"].iloc[0] == "labs.csv row 3: more cells than the header" and int(rr["row"].iloc[0]) == 3
    assert len(only(r, rule="file_encoding")) == 1
    assert r.quarantine["labs"]["_row"].tolist() == [3]
    assert len(r.clean["labs"]) == 2


def test_several_errors_in_one_row_are_joined_in_the_quarantine_reason():
    study = edit("patients", 0, sex="x", ecog="9")
    r = run(study)
    reason = r.quarantine["patients"]["quarantine_reason"].iloc[0].split(";")
    assert reason.count("value_set") == 1  # one rule listed once
    assert " | " in r.quarantine["patients"]["quarantine_message"].iloc[0]


def test_quarantine_keeps_all_original_columns_and_row():
    rows = valid_rows()
    rows["labs"][1] = dict(rows["labs"][1], value="-3", site_note="n/a")
    from test_validate_fixtures import make_study as mk
    r = run(mk(rows))
    q = r.quarantine["labs"]
    assert q["_row"].tolist() == [3] and q["value"].iloc[0] == "-3" and "site_note" in q.columns
    assert {"quarantine_reason", "quarantine_message"} <= set(q.columns)
