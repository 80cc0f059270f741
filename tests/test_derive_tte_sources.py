"""Time-to-event parameters as named event and censoring sources (latc.derive.tte, after admiralonco).

A statistician defines an extra endpoint from the module's sources (or a new source) and
``derive_param_tte`` derives it with the rules of ``derive_tte``: the earliest event on or before the
data cut, ties to the first source listed, else the latest censoring date capped at the cut.
Expected values below are computed by hand from the dates of each case.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from test_derive_tte import CUT, days, row, study

from latc.derive import tte as tte_mod
from latc.derive.tte import (
    ALIVE_AT_LAST_CONTACT,
    DEATH,
    EFS_PARAM,
    LAST_DISEASE_ASSESSMENT,
    LAST_KNOWN_ALIVE,
    NO_FOLLOW_UP_AFTER_TIME_ZERO,
    OS_PARAM,
    RFS_PARAM,
    TTE_COLUMNS,
    UNRESECTABLE_AT_SURGERY,
    CensorSource,
    EventSource,
    TteParameter,
    derive_param_tte,
    derive_tte,
    describe_parameters,
    standard_parameters,
)

DECISION = "2020-01-10"
PTS = [("C01-001", "upfront_surgery", "2020-01-01", DECISION),
       ("C01-002", "upfront_surgery", "2020-01-01", DECISION),
       ("C01-003", "neoadjuvant", "2020-01-01", DECISION)]

#: OS censored at the last follow-up visit only (a sensitivity analysis of the censoring rule: a lab
#: sample or a treatment date no longer moves the censoring date).
OS_LAST_VISIT = TteParameter("OSFU", "Overall survival censored at the last follow-up visit",
                             events=(DEATH,), censors=(ALIVE_AT_LAST_CONTACT, NO_FOLLOW_UP_AFTER_TIME_ZERO))


def _labs(rows):
    return pd.DataFrame({"patient_id": [r[0] for r in rows], "lab_date": pd.to_datetime([r[1] for r in rows])})


def _os_case():
    # 001: alive at a visit 2021-01-10, a lab sample 2021-06-01 later; 002: died 2022-03-01;
    # 003: no follow-up, one treatment course started 2020-02-01
    return study(PTS,
                 fu=[("C01-001", "2021-01-10", "alive", None, None, None, None),
                     ("C01-002", "2021-01-10", "alive", None, None, None, None),
                     ("C01-002", "2022-03-05", "dead", "2022-03-01", "thyroid_cancer", None, None)],
                 tx=[("C01-003", "2020-02-01", None, None)],
                 labs=_labs([("C01-001", "2021-06-01")]))


def test_os_with_another_censoring_rule_worked_cases():
    t, p = derive_param_tte(_os_case(), CUT, [OS_PARAM, OS_LAST_VISIT])
    assert list(t.columns) == TTE_COLUMNS
    assert list(t["paramcd"].unique()) == ["OS", "OSFU"]
    # 001: OS is censored at the later lab sample, OSFU at the visit
    os_, fu = row(t, "C01-001", "OS"), row(t, "C01-001", "OSFU")
    assert (os_["cnsr"], os_["adt"], os_["time_days"]) == (1, pd.Timestamp("2021-06-01"), days(DECISION, "2021-06-01"))
    assert (os_["censor_description"], os_["source"]) == ("alive at last dated record", "labs.lab_date")
    assert (fu["cnsr"], fu["adt"], fu["time_days"]) == (1, pd.Timestamp("2021-01-10"), 366)  # 2020 is a leap year
    assert (fu["censor_description"], fu["source"]) == ("alive at last contact", "follow_up.visit_date")
    # 002: the death is the event of both
    for code in ("OS", "OSFU"):
        r = row(t, "C01-002", code)
        assert (r["event"], r["event_type"], r["time_days"]) == (1, 1, days(DECISION, "2022-03-01"))
        assert (r["event_description"], r["source"]) == ("death", "follow_up.death_date")
    # 003: no visit — OS censored at the treatment start, OSFU at time zero
    assert row(t, "C01-003", "OS")["time_days"] == days(DECISION, "2020-02-01")
    r = row(t, "C01-003", "OSFU")
    assert (r["time_days"], r["censored_at_time_zero"], r["censor_description"]) == (0, True, "no follow-up after time zero")
    assert r["source"] == "patients.treatment_decision_date"
    assert set(p["rule"]) == {"no_follow_up"}


def test_the_os_rows_equal_derive_tte():
    tables = _os_case()
    t, _ = derive_param_tte(tables, CUT, OS_PARAM)
    full, _ = derive_tte(tables, CUT)
    pd.testing.assert_frame_equal(t, full[full["paramcd"] == "OS"].reset_index(drop=True))


def test_a_new_event_source_time_to_curative_surgery_with_death_competing():
    curative_operation = EventSource("curative_operation", "curative operation", "operations",
                                     lambda d, ctx: d["surgical_intent"].eq("curative"),
                                     rule="protocol: the first curative operation")
    death_competing = replace(DEATH, name="death_before_surgery", description="death before surgery (competing event)",
                              censor=1, event_type=2)
    tts = TteParameter("TTS", "Time from treatment decision to curative surgery",
                       events=(curative_operation, death_competing), censors=LAST_KNOWN_ALIVE)
    tables = study(PTS,
                   fu=[("C01-001", "2021-01-10", "alive", None, None, None, None),
                       ("C01-002", "2020-06-03", "dead", "2020-06-01", "thyroid_cancer", None, None),
                       ("C01-003", "2021-02-01", "alive", None, None, None, None)],
                   # 001: a palliative operation first (not an event), then the curative one;
                   # 003: the curative operation falls after the data cut
                   sx=[("C01-001", 1, "2020-02-15", "palliative", "R2"), ("C01-001", 2, "2020-03-01", "curative", "R0"),
                       ("C01-003", 3, "2026-02-01", "curative", "R0")])
    t, _ = derive_param_tte(tables, CUT, tts)
    r = row(t, "C01-001", "TTS")
    assert (r["event"], r["event_type"], r["time_days"], r["event_description"], r["source"]) == (
        1, 1, days(DECISION, "2020-03-01"), "curative operation", "surgery.surgery_date")
    r = row(t, "C01-002", "TTS")   # death before any operation: competing, censored for the cause-specific hazard
    assert (r["event"], r["cnsr"], r["event_type"], r["time_days"]) == (0, 1, 2, days(DECISION, "2020-06-01"))
    assert r["censor_description"] == "death before surgery (competing event)" and pd.isna(r["event_description"])
    r = row(t, "C01-003", "TTS")   # the operation after the cut only shows the patient event-free until the cut
    assert (r["event"], r["time_days"], r["source"], r["censor_description"]) == (
        0, days(DECISION, CUT), "data_cut", "event-free at the data cut")


def test_ties_go_to_the_first_event_source_listed():
    tables = study(PTS[:1], fu=[("C01-001", "2021-05-03", "dead", "2021-05-01", "other", None, None)],
                   sx=[("C01-001", 1, "2021-05-01", "curative", "R2")])
    death_first = TteParameter("DR2", "death or R2", events=(DEATH, UNRESECTABLE_AT_SURGERY), censors=LAST_DISEASE_ASSESSMENT)
    r2_first = replace(death_first, paramcd="R2D", events=(UNRESECTABLE_AT_SURGERY, DEATH))
    t, _ = derive_param_tte(tables, CUT, [death_first, r2_first])
    assert row(t, "C01-001", "DR2")["event_description"] == "death"
    assert row(t, "C01-001", "R2D")["event_description"] == "unresectable at surgery (R2 resection)"
    assert row(t, "C01-001", "DR2")["time_days"] == row(t, "C01-001", "R2D")["time_days"] == days(DECISION, "2021-05-01")


def test_parameter_level_recurrence_types_time_zero_and_population():
    # R0 operation 2020-03-01; biochemical recurrence 2021-03-01, structural 2021-09-01
    tables = study(PTS[:1],
                   fu=[("C01-001", "2021-03-01", "alive", None, None, "2021-03-01", "biochemical"),
                       ("C01-001", "2021-09-01", "alive", None, None, "2021-09-01", "structural")],
                   sx=[("C01-001", 1, "2020-03-01", "curative", "R0")])
    rfs_bio = replace(RFS_PARAM, paramcd="RFSBIO", param="RFS, biochemical recurrence only",
                      recurrence_types=("biochemical",))
    t, _ = derive_param_tte(tables, CUT, [RFS_PARAM, rfs_bio], recurrence_types=("structural",))
    # RFS takes the call's types (structural), RFSBIO its own (biochemical); both start at the operation
    assert row(t, "C01-001", "RFS")["time_days"] == days("2020-03-01", "2021-09-01")
    assert row(t, "C01-001", "RFSBIO")["time_days"] == days("2020-03-01", "2021-03-01")
    assert set(t["time_zero_name"]) == {"surgery"}
    # the population: an R2 index operation leaves the patient out of RFS
    r2 = dict(tables, surgery=tables["surgery"].assign(resection_status="R2"))
    t, _ = derive_param_tte(r2, CUT, [RFS_PARAM, replace(RFS_PARAM, paramcd="ALLOP", population=None)])
    assert list(t["paramcd"]) == ["ALLOP"]


def test_standard_parameters_reproduce_derive_tte():
    tables = study(PTS,
                   fu=[("C01-001", "2021-01-10", "alive", None, None, "2020-12-01", "biochemical"),
                       ("C01-002", "2022-03-05", "dead", "2022-03-01", None, None, None)],
                   sx=[("C01-001", 1, "2020-03-01", "curative", "R1"), ("C01-002", 2, "2020-04-01", "curative", "R2")],
                   tx=[("C01-003", "2020-02-01", "2020-05-01", "progression")])
    for kw in ({}, {"efs_progression": "precluding"}, {"recurrence_types": ("structural",)}):
        expected = derive_tte(tables, CUT, time_zero="diagnosis", **kw)
        opts = {k: v for k, v in kw.items() if k == "recurrence_types"}
        got = derive_param_tte(tables, CUT, standard_parameters(**kw), time_zero="diagnosis", **opts)
        pd.testing.assert_frame_equal(got[0], expected[0])
        pd.testing.assert_frame_equal(got[1], expected[1])


def test_describe_parameters_lists_every_source_with_its_rule():
    d = describe_parameters(standard_parameters())
    assert list(d["paramcd"].unique()) == ["OS", "DSS", "EFS", "TTP", "RFS", "RFSSTR"]
    efs = d[(d["paramcd"] == "EFS") & (d["role"] == "event")]
    assert list(efs["source"]) == ["progression_precluding_surgery", "progression_before_surgery",
                                   "recurrence_after_surgery", "unresectable_at_surgery", "death"]
    assert list(efs["priority"]) == [1, 2, 3, 4, 5]
    assert (d["rule"].str.len() > 20).all()
    assert "CheckMate 816" in efs["rule"].iloc[0]
    precluding = describe_parameters(standard_parameters(efs_progression="precluding"))
    assert "progression_before_surgery" not in set(precluding.loc[precluding["paramcd"] == "EFS", "source"])
    dss = d[(d["paramcd"] == "DSS") & (d["role"] == "event")]
    assert list(dss["cnsr"]) == [0, 1, 1] and list(dss["event_type"]) == [1, 2, 2]


def test_every_exported_source_and_parameter_is_documented():
    for name in tte_mod.__all__:
        obj = getattr(tte_mod, name)
        if isinstance(obj, (EventSource, CensorSource, TteParameter)):
            assert obj.rule, name
    assert repr(EFS_PARAM).startswith("TteParameter('EFS', events=[progression_precluding_surgery, ")


def test_definition_errors_are_raised_early():
    with pytest.raises(ValueError, match="unknown dataset 'adverse_events'"):
        EventSource("ae", "adverse event", "adverse_events")
    with pytest.raises(ValueError, match="censor must be"):
        EventSource("x", "x", "deaths", censor=2)
    with pytest.raises(TypeError, match="events must be"):
        TteParameter("X", "x", events=(), censors=LAST_KNOWN_ALIVE)
    with pytest.raises(TypeError, match="censors must be"):
        TteParameter("X", "x", events=(DEATH,), censors=(DEATH,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time_zero must be"):
        TteParameter("X", "x", events=(DEATH,), censors=LAST_KNOWN_ALIVE, time_zero="randomisation")
    with pytest.raises(ValueError, match="recurrence_types"):
        TteParameter("X", "x", events=(DEATH,), censors=LAST_KNOWN_ALIVE, recurrence_types=("local",))
    with pytest.raises(TypeError, match="parameters must be"):
        derive_param_tte(_os_case(), CUT, [])
    with pytest.raises(ValueError, match="time_zero must be one of"):
        derive_param_tte(_os_case(), CUT, OS_PARAM, time_zero="surgery")
    bad = TteParameter("X", "x", events=(EventSource("d", "d", "deaths", lambda d, ctx: [True]),),
                       censors=LAST_KNOWN_ALIVE)
    with pytest.raises(ValueError, match="returned 1 values for 0 rows"):
        derive_param_tte(study(PTS[:1]), CUT, bad)


def test_a_filter_may_return_missing_values():
    # a nullable mask (pandas boolean with NA): NA counts as not selected
    nullable = EventSource("death_na", "death", "deaths",
                           lambda d, ctx: pd.array([pd.NA] * len(d), dtype="boolean"))
    param = TteParameter("X", "x", events=(nullable,), censors=(NO_FOLLOW_UP_AFTER_TIME_ZERO,))
    t, _ = derive_param_tte(_os_case(), CUT, param)
    assert t["event"].eq(0).all()
    assert EFS_PARAM.events[-1] is DEATH
