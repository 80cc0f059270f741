"""Cross-form rules from the dictionary's ``rules:`` section, plausibility and privacy."""

from __future__ import annotations

from datetime import date

import pytest

from latc.validate import MASK, identifier_kind, validate_study
from test_validate_fixtures import A, B, DATA_CUT, edit, make_study, valid_rows
import pandas as pd


def run(study, cut=DATA_CUT):
    return validate_study(study, data_cut=cut)


def only(result, **match):
    q = result.queries
    for k, v in match.items():
        q = q[q[k] == v]
    return q


def accounted(study, r):
    for form, t in study.tables.items():
        assert len(r.clean[form]) + len(r.quarantine.get(form, ())) == len(t), form


# -- references -------------------------------------------------------------------------------

def test_row_of_an_unknown_patient_is_a_reference_error():
    rows = valid_rows()
    rows["labs"].append(dict(rows["labs"][0], patient_id="C01-0999"))
    r = run(make_study(rows))
    q = only(r, rule="reference", form="labs")
    assert len(q) == 1 and int(q["row"].iloc[0]) == 5 and "no matching row in patients" in q["message"].iloc[0]


def test_assessment_of_an_unknown_lesion_is_an_error_unless_new():
    rows = valid_rows()
    rows["lesion_assessments"].append(dict(rows["lesion_assessments"][0], lesion_id="T3"))
    rows["lesion_assessments"].append(dict(rows["lesion_assessments"][3], lesion_id="N1", is_new_lesion="1",
                                           assessment_date="2022-04-28"))
    r = run(make_study(rows))
    q = only(r, rule="reference")
    assert q["row"].tolist() == [6] and q["field"].tolist() == ["lesion_id"]


def test_complication_of_an_unknown_operation_is_an_error():
    r = run(edit("complications", 0, surgery_id="2"))
    q = only(r, rule="reference", form="complications")
    assert q["field"].tolist() == ["surgery_id"] and "surgery" in q["message"].iloc[0]


def test_center_must_match_the_patients_center():
    r = run(edit("labs", 0, center_id="C02"))
    q = only(r, rule="center_match")
    assert len(q) == 1 and q["form"].iloc[0] == "labs" and "C01" in q["message"].iloc[0]
    assert only(r, rule="reference").empty


# -- date order, data cut, death ----------------------------------------------------------------

def test_date_order_within_a_row_message_names_file_row_field_and_rule():
    r = run(edit("treatments", 0, start_date="2022-03-01", stop_date="2022-01-05"))
    q = only(r, rule="date_order", form="treatments")
    assert q["message"].tolist() == [
        "treatments.csv row 2, field stop_date: 2022-01-05 is before start_date 2022-03-01 (rule date_order)"]


def test_date_order_across_forms_goes_on_the_later_row():
    # the operation (2022-01-15) before the start of neoadjuvant therapy (2022-02-01)
    r = run(edit("surgery", 0, surgery_date="2022-01-15"))
    q = only(r, rule="date_order")
    assert set(q["form"]) >= {"surgery"}
    s = q[q["form"] == "surgery"]
    assert s["field"].tolist() == ["surgery_date"] * len(s)
    assert any("treatments.start_date" in m for m in s["message"])
    # the complication (onset 2022-05-21) is still after its (now earlier) operation: no query there
    assert only(r, form="complications").empty


def test_date_order_joined_by_operation():
    r = run(edit("complications", 0, onset_date="2022-05-10", resolution_date="2022-08-01"))
    q = only(r, rule="date_order", form="complications")
    assert q["field"].tolist() == ["onset_date"] and "surgery.surgery_date" in q["message"].iloc[0]


def test_records_after_an_earlier_data_cut_are_not_errors():
    r = validate_study(make_study(), data_cut=date(2023, 6, 30), today=date(2026, 12, 4))
    # A's visit of 2023-09-01 (recording a recurrence of 2023-08-20) was entered after the cut:
    # valid, counted, kept in the clean table for latc derive to set aside — not a query
    assert only(r, rule="future_date").empty
    assert r.rows_after_data_cut.get("follow_up") == 1
    assert "2023-09-01" in r.clean["follow_up"]["visit_date"].dt.strftime("%Y-%m-%d").tolist()
    assert r.counts()["rows_after_data_cut"]["follow_up"] == 1


def test_no_date_after_the_day_of_validation():
    r = validate_study(make_study(), data_cut=date(2023, 6, 30), today=date(2023, 8, 31))
    q = only(r, rule="future_date")
    # on 2023-08-31 the visit of 2023-09-01 cannot have happened; the recurrence of 2023-08-20 can
    assert sorted(zip(q["form"], q["row"].astype(int), q["field"])) == [("follow_up", 3, "visit_date")]
    assert "2023-08-31" in q["message"].iloc[0] and "day of validation" in q["message"].iloc[0]


def test_nothing_dated_after_death():
    rows = valid_rows()
    rows["labs"].append(dict(rows["labs"][0], patient_id=B, center_id="C02", lab_date="2022-12-28"))
    # a visit recording B alive after the death date
    rows["follow_up"].append(dict(rows["follow_up"][2], visit_date="2023-02-01"))
    r = run(make_study(rows))
    q = only(r, rule="after_death")
    assert sorted(zip(q["form"], q["row"].astype(int))) == [("follow_up", 6), ("labs", 5)]
    # the contact that reports the death (2023-01-05 > death 2022-12-20) is not a query
    assert not ((q["form"] == "follow_up") & (q["row"] == 5)).any()


# -- duplicates --------------------------------------------------------------------------------

def test_duplicate_key_and_exact_duplicate_row():
    rows = valid_rows()
    rows["labs"].append(dict(rows["labs"][0]))                   # exact duplicate of row 2
    rows["labs"].append(dict(rows["labs"][1], value="121"))      # same key as row 3, other value
    study = make_study(rows)
    r = run(study)
    q = only(r, rule="duplicate").sort_values("row")
    assert q["row"].astype(int).tolist() == [5, 6]
    assert "exact duplicate of row 2" in q["message"].iloc[0]
    assert "first at row 3" in q["message"].iloc[1]
    assert len(r.clean["labs"]) == 3  # the first occurrences stay
    accounted(study, r)


# -- plausibility ------------------------------------------------------------------------------

def test_lesion_diameter_jump_over_5x_is_a_warning():
    r = run(edit("lesion_assessments", 1, diameter_mm="250"))  # previous 30 mm
    q = only(r, rule="plausibility")
    assert q["row"].astype(int).tolist() == [3] and q["severity"].tolist() == ["warning"]
    assert len(r.clean["lesion_assessments"]) == 4


def test_lesion_jump_from_the_baseline_counts_and_small_lesions_do_not():
    r = run(edit("lesion_assessments", 2, diameter_mm="3"))  # 18 → 3 mm: 3 is not > 5 mm
    assert only(r, rule="plausibility").empty
    r = run(edit("lesion_assessments", 2, diameter_mm="150"))  # 18 → 150: > 5×
    assert only(r, rule="plausibility")["row"].astype(int).tolist() == [4]


def test_deep_shrinkage_under_therapy_is_not_queried():
    # 42 mm at baseline → 6 mm: an 86 % decrease, a partial response (RECIST 1.1 §4.3.1), not an error
    r = run(edit("lesion_assessments", 0, diameter_mm="6"))
    assert only(r, rule="plausibility").empty


@pytest.mark.parametrize("value,days,expected", [("1501", "2022-02-05", 1), ("1500", "2022-02-05", 0),
                                                 ("1600", "2022-02-20", 0)])
def test_lab_value_over_10x_within_14_days(value, days, expected):
    # previous Tg 150 on 2022-01-28; > 1500 within 14 days is implausible
    r = run(edit("labs", 1, value=value, lab_date=days))
    assert len(only(r, rule="plausibility", form="labs")) == expected


def test_nodes_positive_exceeding_examined_is_an_error():
    r = run(edit("pathology", 0, nodes_positive="25"))
    q = only(r, rule="plausibility", form="pathology")
    assert q["severity"].tolist() == ["error"] and q["field"].tolist() == ["nodes_positive"]


# -- parent quarantine -------------------------------------------------------------------------

def test_quarantined_patient_takes_their_rows_along_without_losing_them():
    study = edit("patients", 0, cohort="neo")
    r = run(study)
    for form in ("labs", "surgery", "lesions", "follow_up"):
        q = r.quarantine[form]
        assert set(q["patient_id"]) == {A}
        assert q["quarantine_reason"].str.contains("parent_quarantined").all()
        assert (r.clean[form]["patient_id"] != A).all()
    # every held row is explained by a query of its own, grouped under the patients row's query
    held = only(r, rule="parent_quarantined")
    n_held = sum(len(r.quarantine[f]) for f in r.quarantine if f != "patients")
    assert len(held) == n_held and set(held["patient_id"]) == {A}
    root = only(r, form="patients", rule="value_set")["query_id"].iloc[0]
    assert (held["root_query_id"] == root).all()
    assert held["message"].str.contains(r"patients\.csv \(row 2\) is quarantined").all()
    accounted(study, r)


def test_a_quarantined_duplicate_patient_row_does_not_take_the_patient_along():
    rows = valid_rows()
    rows["patients"].append(dict(rows["patients"][0]))
    r = run(make_study(rows))
    assert "labs" not in r.quarantine and len(r.clean["patients"]) == 2


# -- privacy -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["call +41 79 123 45 67", "mail li.wei@hospital.cn", "ID 110105194912310021",
                                  "DOB 1950-03-02", "(010) 6512-3456", "date of birth 2 March 1950"])
def test_identifier_patterns_fire(text):
    assert identifier_kind(pd.Series([text], dtype="str")).notna().all()


@pytest.mark.parametrize("text", ["C01-0042", "2024-01-01", "12.5 mm", "sc/C01-0001_baseline.h5ad", "T4aN1bM0"])
def test_identifier_patterns_do_not_fire_on_study_values(text):
    assert identifier_kind(pd.Series([text], dtype="str")).isna().all()


def test_identifier_in_a_text_field_is_an_error_and_never_echoed():
    r = run(edit("biospecimens", 0, file_ref="scans/patient_13912345678.h5"))
    q = only(r, rule="identifier")
    assert len(q) == 1 and q["value"].iloc[0] == MASK
    assert "13912345678" not in r.queries.to_csv()
    assert "biospecimens" in r.quarantine


def test_identifier_typed_into_the_patient_id_is_masked_everywhere():
    r = run(edit("patients", 1, patient_id="+86 139 1234 5678"))
    assert not r.queries.empty
    assert "1234" not in r.queries.to_csv()


def test_identifier_rule_covers_notes_fields(tmp_path):
    import yaml
    from latc.dictionary import default_dictionary_path, load_dictionary
    raw = yaml.safe_load(default_dictionary_path().read_text())
    raw["forms"]["adverse_events"]["fields"].append({"name": "comment", "label": "Comment", "type": "notes"})
    p = tmp_path / "d.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True))
    d = load_dictionary(p)
    rows = valid_rows()
    rows["adverse_events"][0]["comment"] = "husband reachable at li.wei@example.org"
    from test_validate_fixtures import table
    study = make_study(rows)
    study.tables["adverse_events"] = table(rows["adverse_events"], "adverse_events")
    r = validate_study(study, dictionary=d, data_cut=DATA_CUT)
    q = only(r, rule="identifier")
    assert q["field"].tolist() == ["comment"] and "example.org" not in r.queries.to_csv()


# -- cascades: one wrong value, one root, its consequences grouped under it (issue #19) ------------

def test_future_operation_date_roots_the_complication_queries_and_is_not_a_row_after_the_cut():
    # patient A's operation typed as 2055: a future_date error on that cell; the complication dated
    # after the (real) operation is now "before surgery.surgery_date" — a consequence, grouped under
    # the future_date query (no second root on the same cell), and the 2055 row is an error, not a
    # valid record entered after the data cut
    r = run(edit("surgery", 0, surgery_date="2055-05-20"))
    fut = only(r, form="surgery", rule="future_date")
    assert len(fut) == 1 and fut["field"].iloc[0] == "surgery_date"
    cons = only(r, form="complications", rule="date_order", field="onset_date")
    assert len(cons) == 1 and cons["root_query_id"].iloc[0] == fut["query_id"].iloc[0]
    assert only(r, rule="date_order_root").empty
    assert "surgery" not in r.rows_after_data_cut
    order = r.queries["query_id"].tolist()
    assert order.index(fut["query_id"].iloc[0]) < order.index(cons["query_id"].iloc[0])


def test_one_wrong_diagnosis_date_gives_one_root_listed_before_its_consequences():
    # a diagnosis date after every later date of patient A: the date_order queries it causes on
    # several forms are grouped under one date_order_root on patients.diagnosis_date, listed first
    r = run(edit("patients", 0, diagnosis_date="2023-06-01"))
    roots = only(r, rule="date_order_root")
    assert len(roots) == 1 and roots["field"].iloc[0] == "diagnosis_date"
    rid = roots["query_id"].iloc[0]
    grouped = r.queries[r.queries["root_query_id"] == rid]
    assert len(grouped) >= 2 and set(grouped["rule"]) == {"date_order"}
    mine = r.queries[r.queries["patient_id"] == A]["query_id"].tolist()
    assert mine[0] == rid and set(mine[1:1 + len(grouped)]) == set(grouped["query_id"])
    # a second root on that cell would be a duplicate: none of the patient's other queries sits there
    same_cell = only(r, form="patients", field="diagnosis_date")
    assert same_cell["query_id"].tolist() == [rid]


# --- RECIST 1.1 target-lesion selection (Eisenhauer et al., Eur J Cancer 2009;45:228-47) ------------

def _lesions_study(extra: list[dict], **t1):
    rows = valid_rows()
    a = dict(patient_id=A, center_id="C01", baseline_date="2022-01-28", imaging_modality="ct")
    rows["lesions"][0] = {**rows["lesions"][0], **t1}
    rows["lesions"] += [{**a, **e} for e in extra]
    return make_study(rows)


def _recist(study):
    q = validate_study(study, data_cut=DATA_CUT).queries
    return q[q["rule"] == "recist_target"]


@pytest.mark.parametrize("diameter, node, flagged", [
    ("9.9", "0", True),    # §3.1.1: a non-nodal target needs a longest diameter >= 10 mm (CT)
    ("10", "0", False),    # ... 10 mm exactly is measurable
    ("14", "1", True),     # §3.1.1: a node is measurable with a short axis >= 15 mm (10-<15 mm: pathological, non-measurable)
    ("15", "1", False),
])
def test_a_target_lesion_must_be_measurable_at_baseline(diameter, node, flagged):
    q = _recist(_lesions_study([], baseline_diameter_mm=diameter, is_lymph_node=node,
                               site="neck_node" if node == "1" else "thyroid"))
    assert len(q) == int(flagged)
    if flagged:
        assert q["field"].iloc[0] == "baseline_diameter_mm" and q["severity"].iloc[0] == "warning"
        assert q["row"].iloc[0] == 2 and "RECIST 1.1 §3.1.1" in q["message"].iloc[0]


def test_at_most_five_targets_and_two_per_organ():
    # T1 thyroid and T2 neck node in the fixture; four more targets: T3-T5 in the lung (the third
    # lung target breaks §4.2's two per organ) and T6 a node (six targets: one beyond five)
    extra = [dict(lesion_id=f"T{i}", site="lung", lesion_role="target", is_lymph_node="0", baseline_diameter_mm="20")
             for i in (3, 4, 5)]
    extra.append(dict(lesion_id="T6", site="mediastinal_node", lesion_role="target", is_lymph_node="1", baseline_diameter_mm="20"))
    q = _recist(_lesions_study(extra))
    assert q["field"].tolist() == ["lesion_role", "lesion_role"], q[["row", "message"]]
    rows = sorted(q["row"].tolist())
    assert rows == [7, 8]  # file rows (header = row 1) of T5, the third lung target, and T6, the sixth target
    assert any("at most 2 per organ" in m for m in q["message"]) and any("at most 5" in m for m in q["message"])
