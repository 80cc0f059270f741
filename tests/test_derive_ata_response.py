"""ATA 2015 response to therapy and the postoperative-Tg flag of the initial-risk module.

Worked cases with values on each side of every threshold:
* total thyroidectomy + RAI — Haugen et al., Thyroid 2016;26:1, Table 13 (from Tuttle 2010):
  excellent = negative imaging and suppressed Tg < 0.2 or stimulated Tg < 1 ng/mL;
  biochemical incomplete = negative imaging and suppressed Tg >= 1 or stimulated Tg >= 10 or rising
  TgAb; indeterminate = nonspecific imaging, suppressed 0.2-<1, stimulated 1-<10, stable/declining
  TgAb; structural incomplete = structural or functional evidence of disease at any Tg.
* total thyroidectomy without RAI — Momesso et al., J Clin Endocrinol Metab 2016;101:2692, Table 1:
  excellent suppressed < 0.2 or stimulated < 2; indeterminate 0.2-5 / 2-10; biochemical incomplete
  suppressed > 5 or stimulated > 10.
* lobectomy — same table: excellent suppressed < 30; biochemical incomplete > 30.
"""

from __future__ import annotations

import pandas as pd
import pytest

from latc.derive.ata_response import ata_response_to_therapy, classify_tg, postop_tg_suggests_distant_metastases
from latc.derive.ata_risk import ata_initial_risk

PID = "C01-001"
SURGERY = "2020-01-01"
RAI = "2020-03-01"
VISIT = "2020-09-01"  # 8 months after surgery: inside the default 6-24-month window


def _labs(rows):
    df = pd.DataFrame([tuple(r) + (False, None, None)[len(r) - 5:] for r in rows],
                      columns=["patient_id", "lab_date", "test", "value", "unit", "below_detection", "upper_reference_limit", "stimulated"])
    df["lab_date"] = pd.to_datetime(df["lab_date"])
    for c, t in (("value", "Float64"), ("upper_reference_limit", "Float64"), ("below_detection", "boolean"), ("stimulated", "boolean")):
        df[c] = df[c].astype(t)
    return df


def _case(*, tg=None, stimulated=False, tg_below=False, tgab=1.0, tgab_pre=None, imaging="negative", rai=True,
          extent="total", histology="ptc", surgery=SURGERY, extra_labs=(), visits=None, **kw):
    labs = list(extra_labs)
    if tg is not None:
        labs.append((PID, VISIT, "tg", tg, "ng_ml", tg_below, 77.0, stimulated))
    if tgab is not None:
        labs.append((PID, VISIT, "tgab", tgab, "iu_ml", False, 4.0))
    if tgab_pre is not None:
        labs.append((PID, "2019-12-20", "tgab", tgab_pre, "iu_ml", False, 4.0))
    diagnosis = pd.DataFrame({"patient_id": [PID], "histology": [histology]})
    surg = pd.DataFrame({"patient_id": [PID] if surgery else [], "surgery_id": [1] if surgery else [],
                         "surgery_date": pd.to_datetime([surgery] if surgery else []),
                         "surgical_intent": ["curative"] if surgery else [], "thyroidectomy_extent": [extent] if surgery else []})
    adj = pd.DataFrame({"patient_id": [PID] if rai else [], "therapy": ["rai"] if rai else [], "start_date": pd.to_datetime([RAI] if rai else [])})
    visits = visits if visits is not None else [(VISIT, imaging)]
    fu = pd.DataFrame({"patient_id": PID, "visit_date": pd.to_datetime([v[0] for v in visits]), "imaging_result": [v[1] for v in visits]})
    tables = {"labs": _labs(labs), "diagnosis": diagnosis, "surgery": surg, "adjuvant": adj, "follow_up": fu}
    out, problems = ata_response_to_therapy(tables, **kw)
    return out.iloc[0], problems


# ------------------------------------------------------------------ total thyroidectomy with RAI

@pytest.mark.parametrize("tg,stimulated,expected", [
    (0.19, False, "excellent"),
    (0.2, False, "indeterminate"),
    (0.99, False, "indeterminate"),
    (1.0, False, "biochemical_incomplete"),
    (0.99, True, "excellent"),
    (1.0, True, "indeterminate"),
    (9.99, True, "indeterminate"),
    (10.0, True, "biochemical_incomplete"),
])
def test_with_rai_tg_thresholds(tg, stimulated, expected):
    r, _ = _case(tg=tg, stimulated=stimulated)
    assert r["regimen"] == "total_with_rai"
    assert r["response_to_therapy"] == expected


# --------------------------------------------------------------- total thyroidectomy without RAI

@pytest.mark.parametrize("tg,stimulated,expected", [
    (0.19, False, "excellent"),
    (0.2, False, "indeterminate"),
    (5.0, False, "indeterminate"),
    (5.01, False, "biochemical_incomplete"),
    (1.99, True, "excellent"),
    (2.0, True, "indeterminate"),
    (10.0, True, "indeterminate"),
    (10.01, True, "biochemical_incomplete"),
])
def test_without_rai_tg_thresholds(tg, stimulated, expected):
    r, _ = _case(tg=tg, stimulated=stimulated, rai=False)
    assert r["regimen"] == "total_without_rai"
    assert r["rai_given"] is False or not r["rai_given"]
    assert r["response_to_therapy"] == expected


@pytest.mark.parametrize("tg,expected", [(29.9, "excellent"), (30.0, "indeterminate"), (30.1, "biochemical_incomplete")])
def test_lobectomy_thresholds(tg, expected):
    r, _ = _case(tg=tg, rai=False, extent="lobectomy")
    assert r["regimen"] == "lobectomy"
    assert r["response_to_therapy"] == expected


def test_near_total_and_completion_count_as_total():
    assert _case(tg=0.1, extent="near_total")[0]["regimen"] == "total_with_rai"
    assert _case(tg=0.1, extent="completion")[0]["regimen"] == "total_with_rai"


# ------------------------------------------------------------------------- imaging

@pytest.mark.parametrize("rai", [True, False])
def test_structural_disease_wins_at_any_tg(rai):
    r, _ = _case(tg=0.05, imaging="structural_disease", rai=rai)
    assert r["response_to_therapy"] == "structural_incomplete"


def test_nonspecific_imaging_gives_indeterminate_unless_tg_is_incomplete():
    assert _case(tg=0.1, imaging="nonspecific")[0]["response_to_therapy"] == "indeterminate"
    assert _case(tg=2.0, imaging="nonspecific")[0]["response_to_therapy"] == "biochemical_incomplete"


# followed through the whole 6-24-month window (a visit after its end, 2021-12-31): missing data there
# is a data problem
FOLLOWED_THROUGH = [(VISIT, "not_done"), ("2022-03-01", "not_done")]


def test_imaging_required_by_default():
    r, problems = _case(tg=0.1, visits=FOLLOWED_THROUGH)
    assert pd.isna(r["response_to_therapy"])
    assert "no imaging" in r["response_to_therapy_reason"]
    assert "response_to_therapy_not_assessable" in set(problems["rule"])
    r, _ = _case(tg=0.1, visits=FOLLOWED_THROUGH, require_imaging=False)
    assert r["response_to_therapy"] == "excellent" and not r["imaging_assessed"]


@pytest.mark.parametrize("visits,reported", [
    # last contact 8 months after surgery: follow-up ended (death, loss, data cut) before the window
    # closed at 24 months — the category is missing for want of time, not of data: reason only
    ([(VISIT, "not_done")], False),
    ([("2021-12-30", "not_done")], False),  # one day before the window end
    ([("2021-12-31", "not_done")], True),  # on the window end: followed through it
    (FOLLOWED_THROUGH, True),
])
def test_not_assessable_is_a_problem_only_when_followed_through_the_window(visits, reported):
    """ATA 2015 (Haugen 2016, Table 13) assesses the response 6-24 months after initial therapy; a
    patient whose follow-up ended inside that window has no assessment yet, which is not a data
    problem (the reason column keeps why); one followed past it without imaging is."""
    r, problems = _case(tg=0.1, visits=visits)
    assert pd.isna(r["response_to_therapy"])
    assert r["response_to_therapy_reason"].startswith("no imaging 182-730 days after surgery")
    assert ("response_to_therapy_not_assessable" in set(problems["rule"])) is reported


def test_death_date_on_the_follow_up_form_counts_as_the_last_contact():
    diagnosis = pd.DataFrame({"patient_id": [PID], "histology": ["ptc"]})
    surg = pd.DataFrame({"patient_id": [PID], "surgery_id": [1], "surgery_date": pd.to_datetime([SURGERY]),
                         "surgical_intent": ["curative"], "thyroidectomy_extent": ["total"]})
    labs = _labs([(PID, VISIT, "tg", 0.1, "ng_ml", False, 77.0, False), (PID, VISIT, "tgab", 1.0, "iu_ml", False, 4.0)])
    for death, reported in (("2021-06-01", False), ("2022-06-01", True)):
        fu = pd.DataFrame({"patient_id": [PID, PID], "visit_date": pd.to_datetime([VISIT, "2021-03-01"]),
                           "imaging_result": ["not_done", "not_done"], "death_date": pd.to_datetime([None, death])})
        out, problems = ata_response_to_therapy({"labs": labs, "diagnosis": diagnosis, "surgery": surg, "follow_up": fu})
        assert pd.isna(out.loc[0, "response_to_therapy"])
        assert ("response_to_therapy_not_assessable" in set(problems["rule"])) is reported, death


def test_last_versus_worst_rule():
    visits = [("2020-08-01", "structural_disease"), ("2021-10-01", "negative")]
    assert _case(tg=0.1, visits=visits)[0]["response_to_therapy"] == "excellent"
    assert _case(tg=0.1, visits=visits, rule="worst")[0]["response_to_therapy"] == "structural_incomplete"


# ------------------------------------------------------------------------- two Tg measures

def test_either_measure_excellent_and_any_incomplete_wins():
    # suppressed 0.5 (indeterminate) + stimulated 0.5 (excellent) → excellent (Table 13 "either ... or")
    extra = [(PID, "2020-09-10", "tg", 0.5, "ng_ml", False, 77.0, True), (PID, "2020-09-10", "tgab", 1.0, "iu_ml", False, 4.0)]
    assert _case(tg=0.5, extra_labs=extra)[0]["response_to_therapy"] == "excellent"
    # suppressed 0.1 (excellent) + stimulated 15 (incomplete) → biochemical incomplete
    extra = [(PID, "2020-09-10", "tg", 15.0, "ng_ml", False, 77.0, True), (PID, "2020-09-10", "tgab", 1.0, "iu_ml", False, 4.0)]
    r, _ = _case(tg=0.1, extra_labs=extra)
    assert r["response_to_therapy"] == "biochemical_incomplete"
    assert r["suppressed_tg"] == 0.1 and r["stimulated_tg"] == 15.0


def test_below_detection_tg():
    assert _case(tg=0.1, tg_below=True)[0]["response_to_therapy"] == "excellent"  # < 0.1 is < 0.2
    assert _case(tg=0.5, tg_below=True)[0]["response_to_therapy"] == "indeterminate"  # < 0.5 cannot exclude 0.2-0.5


def test_classify_tg_vectorised():
    got = classify_tg([0.1, 0.2, 1.0, float("nan")], [False, False, False, False], excellent_below=0.2, incomplete_from=1.0, incomplete_inclusive=True)
    assert got[:3].tolist() == [0, 1, 2] and pd.isna(got[3])


# ------------------------------------------------------------------------- TgAb positive

@pytest.mark.parametrize("pre,now,trend,expected", [
    (100.0, 40.0, "declining", "indeterminate"),        # −60 %: Tg ignored, TgAb declining
    (100.0, 120.0, "stable", "indeterminate"),          # +20 %
    (100.0, 150.0, "rising", "biochemical_incomplete"),  # +50 % (rising threshold, inclusive)
    (2.0, 10.0, "rising", "biochemical_incomplete"),     # new appearance of TgAb after surgery
])
def test_tgab_positive_uses_trend_not_tg(pre, now, trend, expected):
    r, _ = _case(tg=0.05, tgab=now, tgab_pre=pre)
    assert r["tgab_positive"]
    assert r["tgab_trend"] == trend
    assert r["response_to_therapy"] == expected
    assert pd.isna(r["suppressed_tg"])  # a Tg with positive TgAb is not interpretable


def test_tgab_positive_without_reference_is_missing_with_reason():
    r, _ = _case(tg=0.05, tgab=50.0)
    assert pd.isna(r["response_to_therapy"])
    assert "reference TgAb" in r["response_to_therapy_reason"]


# ----------------------------------------------------------------------- not applicable / window

def test_no_surgery_gives_missing_with_reason():
    r, _ = _case(tg=0.1, surgery=None)
    assert pd.isna(r["response_to_therapy"]) and r["response_to_therapy_reason"] == "no curative surgery"


@pytest.mark.parametrize("histology", ["mtc", "atc"])
def test_not_applicable_to_mtc_and_atc(histology):
    r, problems = _case(tg=0.1, histology=histology)
    assert pd.isna(r["response_to_therapy"])
    assert r["response_to_therapy_reason"].startswith("not applicable")
    assert len(problems) == 0  # not a data problem


def test_assessments_outside_window_or_before_rai_are_not_used():
    # everything 3 months after surgery: outside the 6-24-month window
    labs = [(PID, "2020-04-01", "tg", 0.1, "ng_ml"), (PID, "2020-04-01", "tgab", 1.0, "iu_ml", False, 4.0)]
    r, _ = _case(extra_labs=labs, tg=None, tgab=None, visits=[("2020-04-01", "negative")])
    assert pd.isna(r["response_to_therapy"]) and "no imaging, Tg or TgAb" in r["response_to_therapy_reason"]
    # RAI at 7 months: the stimulated pre-ablation Tg two days before is not the response
    labs = [(PID, "2020-07-29", "tg", 50.0, "ng_ml", False, 77.0, True), (PID, "2020-07-29", "tgab", 1.0, "iu_ml", False, 4.0)]
    diag = pd.DataFrame({"patient_id": [PID], "histology": ["ptc"]})
    surg = pd.DataFrame({"patient_id": [PID], "surgery_id": [1], "surgery_date": pd.to_datetime([SURGERY]),
                         "surgical_intent": ["curative"], "thyroidectomy_extent": ["total"]})
    adj = pd.DataFrame({"patient_id": [PID], "therapy": ["rai"], "start_date": pd.to_datetime(["2020-07-31"])})
    fu = pd.DataFrame({"patient_id": PID, "visit_date": pd.to_datetime(["2021-03-01"]), "imaging_result": ["negative"]})
    labs += [(PID, "2021-03-01", "tg", 0.1, "ng_ml"), (PID, "2021-03-01", "tgab", 1.0, "iu_ml", False, 4.0)]
    out, _ = ata_response_to_therapy({"labs": _labs(labs), "diagnosis": diag, "surgery": surg, "adjuvant": adj, "follow_up": fu})
    assert out.loc[0, "response_to_therapy"] == "excellent"
    assert pd.isna(out.loc[0, "stimulated_tg"])


def test_window_is_a_parameter():
    r, _ = _case(tg=0.1, window_start_days=300)  # the 8-month visit is now too early
    assert pd.isna(r["response_to_therapy"])


# ------------------------------------------------------------- postoperative Tg → initial risk

def _postop(value, *, stimulated=True, tgab=1.0, date="2020-02-20", histology="ptc", rai="2020-03-01"):
    labs = _labs([(PID, date, "tg", value, "ng_ml", False, 77.0, stimulated), (PID, date, "tgab", tgab, "iu_ml", False, 4.0)])
    surg = pd.DataFrame({"patient_id": [PID], "surgery_id": [1], "surgery_date": pd.to_datetime([SURGERY]), "surgical_intent": ["curative"]})
    adj = pd.DataFrame({"patient_id": [PID], "therapy": ["rai"], "start_date": pd.to_datetime([rai])})
    diag = pd.DataFrame({"patient_id": [PID], "histology": [histology]})
    return postop_tg_suggests_distant_metastases({"labs": labs, "surgery": surg, "adjuvant": adj, "diagnosis": diag}).iloc[0]


def test_postop_stimulated_tg_threshold():
    assert not _postop(10.0)["postop_tg_suggests_distant_metastases"]  # strictly above 10 ng/mL
    r = _postop(10.01)
    assert r["postop_tg_suggests_distant_metastases"] and r["postop_tg_max"] == 10.01 and r["postop_tg_max_stimulated"]


def test_postop_tg_missing_when_not_interpretable_after_rai_unstimulated_or_mtc():
    assert pd.isna(_postop(50.0, tgab=80.0)["postop_tg_suggests_distant_metastases"])  # TgAb positive
    assert pd.isna(_postop(50.0, date="2020-04-01")["postop_tg_suggests_distant_metastases"])  # after RAI
    assert pd.isna(_postop(50.0, stimulated=False)["postop_tg_suggests_distant_metastases"])  # no unstimulated threshold by default
    assert pd.isna(_postop(50.0, histology="mtc")["postop_tg_suggests_distant_metastases"])


def test_postop_flag_feeds_the_initial_risk_module():
    flag = _postop(40.0)
    row = {"patient_id": PID, "histology": "ptc", "cn": "N0", "cm": "M0", "pt": "T1b", "pn": "N0", "extrathyroidal_extension": "none",
           "vascular_invasion": "none", "resection_status": "R0", "margin_status": "negative", "nodes_positive": 0}
    risk_in = pd.DataFrame([row]).merge(pd.DataFrame([flag])[["patient_id", "postop_tg_suggests_distant_metastases"]], on="patient_id")
    out = ata_initial_risk(risk_in)
    assert out.loc[0, "ata_risk"] == "high"
    assert "postoperative Tg" in out.loc[0, "ata_risk_reasons"]


def test_synthetic_cohort_runs_and_categories_are_valid():
    from latc.synth import synthesize

    s = synthesize(300, seed=11)
    t = s.tables
    out, problems = ata_response_to_therapy(t)
    assert len(out) == len(t["patients"])
    assert set(out["response_to_therapy"].dropna()) <= {"excellent", "indeterminate", "biochemical_incomplete", "structural_incomplete"}
    assert out["response_to_therapy"].notna().sum() > 100
    # every missing category has a reason; MTC/ATC are never categorised
    assert out.loc[out["response_to_therapy"].isna(), "response_to_therapy_reason"].notna().all()
    assert out.loc[out["histology"].isin(["mtc", "atc"]), "response_to_therapy"].isna().all()
    assert list(problems.columns) == ["patient_id", "field", "value", "rule", "message"]


# ------------------------------------------------------------------ the call: tables mapping, old positional form

def _tables():
    """Two patients: PTC after total thyroidectomy + RAI with suppressed Tg 0.1 and negative imaging
    (excellent), and one without surgery (no curative surgery)."""
    other = "C01-002"
    labs = _labs([(PID, VISIT, "tg", 0.1, "ng_ml", False, 77.0, False), (PID, VISIT, "tgab", 1.0, "iu_ml", False, 4.0),
                  (other, VISIT, "tg", 3.0, "ng_ml", False, 77.0, False)])
    return {
        "patients": pd.DataFrame({"patient_id": [PID, other]}),
        "labs": labs,
        "diagnosis": pd.DataFrame({"patient_id": [PID, other], "histology": ["ptc", "ftc"]}),
        "surgery": pd.DataFrame({"patient_id": [PID], "surgery_id": [1], "surgery_date": pd.to_datetime([SURGERY]),
                                 "surgical_intent": ["curative"], "thyroidectomy_extent": ["total"]}),
        "adjuvant": pd.DataFrame({"patient_id": [PID], "therapy": ["rai"], "start_date": pd.to_datetime([RAI])}),
        "follow_up": pd.DataFrame({"patient_id": [PID], "visit_date": pd.to_datetime([VISIT]), "imaging_result": ["negative"]}),
        "lesions": pd.DataFrame({"patient_id": [PID]}),   # other forms of the study are ignored
    }


def test_tables_mapping_is_the_first_argument_and_options_are_keyword_only():
    out, problems = ata_response_to_therapy(_tables())
    assert list(out["response_to_therapy"].fillna("-")) == ["excellent", "-"]
    assert out.loc[1, "response_to_therapy_reason"] == "no curative surgery"
    with pytest.raises(TypeError):
        ata_response_to_therapy(_tables(), 182)  # options are keyword-only
    # the study's own tables object (latc.io.Study-like: a .tables mapping) works too
    class Study:
        tables = _tables()
    pd.testing.assert_frame_equal(ata_response_to_therapy(Study())[0], out)


def test_harmonised_labs_in_the_mapping_or_as_labs_harmonised_give_the_same_table():
    from latc.derive.biochem import harmonise_labs

    t = _tables()
    expected, _ = ata_response_to_therapy(t)
    harmonised, _ = harmonise_labs(t["labs"])
    pd.testing.assert_frame_equal(ata_response_to_therapy({**t, "labs": harmonised})[0], expected)
    without_labs = {k: v for k, v in t.items() if k != "labs"}
    pd.testing.assert_frame_equal(ata_response_to_therapy(without_labs, labs_harmonised=harmonised)[0], expected)


def test_old_positional_call_still_works_with_a_deprecation_warning():
    t = _tables()
    expected = ata_response_to_therapy(t, rule="worst")
    with pytest.warns(DeprecationWarning, match=r"ata_response_to_therapy\(\{\"labs\": labs, \"diagnosis\": diagnosis"):
        old = ata_response_to_therapy(t["labs"], t["diagnosis"], t["surgery"], t["adjuvant"], t["follow_up"], t["patients"],
                                      rule="worst")
    pd.testing.assert_frame_equal(old[0], expected[0])
    pd.testing.assert_frame_equal(old[1], expected[1])
    # tables named by keyword, and None for an absent table, as the old signature allowed
    with pytest.warns(DeprecationWarning, match="pass the study tables as one mapping"):
        kw = ata_response_to_therapy(labs=t["labs"], diagnosis=t["diagnosis"], surgery=t["surgery"], adjuvant=None,
                                     follow_up=t["follow_up"], patients=t["patients"])
    assert list(kw[0]["regimen"].fillna("-")) == ["total_without_rai", "-"]


def test_a_missing_required_table_names_it():
    from latc.derive import DeriveInputError

    t = _tables()
    with pytest.raises(DeriveInputError, match="no diagnosis table"):
        ata_response_to_therapy({k: v for k, v in t.items() if k != "diagnosis"})
    with pytest.raises(DeriveInputError, match="no labs table"):
        ata_response_to_therapy({k: v for k, v in t.items() if k != "labs"})
    # the optional ones may be absent: without surgery nobody is assessable
    out, _ = ata_response_to_therapy({"labs": t["labs"], "diagnosis": t["diagnosis"]})
    assert out["response_to_therapy"].isna().all()
    assert set(out["response_to_therapy_reason"]) == {"no curative surgery"}


def test_postop_tg_old_positional_call_warns_and_agrees():
    labs = _labs([(PID, "2020-02-20", "tg", 35.0, "ng_ml", False, 77.0, True), (PID, "2020-02-20", "tgab", 1.0, "iu_ml", False, 4.0)])
    surg = pd.DataFrame({"patient_id": [PID], "surgery_id": [1], "surgery_date": pd.to_datetime([SURGERY]), "surgical_intent": ["curative"]})
    new = postop_tg_suggests_distant_metastases({"labs": labs, "surgery": surg})
    with pytest.warns(DeprecationWarning, match=r'postop_tg_suggests_distant_metastases\(\{"labs": labs, "surgery": surgery\}'):
        old = postop_tg_suggests_distant_metastases(labs, surg)
    pd.testing.assert_frame_equal(old, new)
    assert bool(new["postop_tg_suggests_distant_metastases"].iloc[0]) is True
