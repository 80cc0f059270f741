"""The validation summary a center's data manager reads (validation/summary.html) and the
clinic's wording of branching conditions."""

from __future__ import annotations

import re

from latc.dictionary import load_dictionary
from latc.report.summary import RULE_WORDS, write_validation_summary
from latc.validate import validate_study
from test_validate_fixtures import A, DATA_CUT, edit, make_study, valid_rows


def test_conditions_in_the_clinic_s_words():
    d = load_dictionary()
    fu = d.forms["follow_up"]
    assert fu["death_date"].show_if.describe(fu) == 'Vital status is "Dead"'
    cx = d.forms["complications"]
    assert cx["last_assessed_date"].show_if.describe(cx) == 'Resolved is "No"'


def test_required_and_branching_messages_use_labels_not_syntax():
    rows = valid_rows()
    dead = next(i for i, r in enumerate(rows["follow_up"]) if r.get("vital_status") == "dead")
    r = validate_study(edit("follow_up", dead, death_date=None), data_cut=DATA_CUT)
    msg = r.queries.loc[r.queries["rule"] == "required", "message"].iloc[0]
    assert 'required when Vital status is "Dead"' in msg and "==" not in msg


def test_summary_split_by_center_with_roots_first(tmp_path):
    # A's diagnosis date moved after everything else: one root, its consequences grouped under it
    study = edit("patients", 0, diagnosis_date="2026-06-01", treatment_decision_date="2026-06-02",
                 enrollment_date="2026-06-03", consent_date="2026-06-03")
    r = validate_study(study, data_cut=DATA_CUT)
    roots = r.queries[r.queries["rule"] == "date_order_root"]
    assert len(roots) == 1 and roots["patient_id"].iloc[0] == A
    grouped = r.queries[r.queries["root_query_id"] == roots["query_id"].iloc[0]]
    assert len(grouped) >= 2 and set(grouped["rule"]) == {"date_order"}
    # the root comes first among its patient's queries
    mine = r.queries[r.queries["patient_id"] == A].reset_index(drop=True)
    assert mine["rule"].tolist().index("date_order_root") < min(mine.index[mine["root_query_id"].notna()])
    html = write_validation_summary(r, tmp_path / "summary.html", study_name="s", parameters={}).read_text()
    assert 'id="center-C01"' in html and "queries_by_center/C01.csv" in html
    assert "↳" in html and roots["query_id"].iloc[0] in html
    assert "==" not in html  # no rule syntax
    for rule in set(r.queries["rule"]):
        assert rule in RULE_WORDS, f"no plain wording for rule {rule}"


def test_summary_of_a_clean_study_has_no_center_sections(tmp_path):
    r = validate_study(make_study(), data_cut=DATA_CUT)
    html = write_validation_summary(r, tmp_path / "summary.html", study_name="s", parameters={}).read_text()
    assert not re.search(r'id="center-', html) and "No queries" in html


def test_failed_criteria_in_words_and_no_dead_report_link_after_validate_alone(tmp_path):
    # a patient with ECOG 3 fails the protocol's ECOG 0-2 criterion: the summary names the reason for
    # exclusion, not only the code; latc validate alone writes no report, so the page links none
    r = validate_study(edit("patients", 0, ecog="3"), data_cut=DATA_CUT)
    assert "ecog_0_to_2" in ";".join(r.eligibility["failed_criteria"].fillna(""))
    alone = write_validation_summary(r, tmp_path / "a.html", study_name="s", parameters={}).read_text()
    assert "ECOG performance status &gt; 2" in alone or "ECOG performance status > 2" in alone
    assert "../report/report.html" not in alone and "latc run STUDY --out DIR" in alone
    in_run = write_validation_summary(r, tmp_path / "b.html", study_name="s", parameters={}, report_link=True).read_text()
    assert '<a href="../report/report.html">' in in_run
