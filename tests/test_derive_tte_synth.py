"""Time-to-event endpoints on the synthetic cohort agree with the generator's latent timeline.

The generator (docs/synthetic.md, "Time and the data cut") keeps every patient's hidden event days
from the treatment decision: ``tr_day`` (recurrence / progression, observed when
``recurrence_observed``), ``td_day`` (death, observed when ``death_observed``) and ``end_day``
(last contact = min(death, censoring)). The expected endpoints below are computed from those
latent days and the surgery table, independently of latc.derive.tte.
"""

from __future__ import annotations

import numpy as np
import pytest

from latc.derive.recist import timepoint_responses
from latc.derive.tte import derive_tte
from latc.synth import synthesize


@pytest.fixture(scope="module")
def cohort():
    s = synthesize(n_patients=600, n_centers=8, seed=20261125)
    latent = s.latent.set_index("patient_id")
    eligible = latent.index[latent["eligible"].to_numpy(dtype=bool)]
    tables = dict(s.tables)
    tables["patients"] = tables["patients"][tables["patients"]["patient_id"].isin(eligible)].reset_index(drop=True)
    tables["tumour"] = timepoint_responses(s.tables["lesions"], s.tables["lesion_assessments"])
    tte, problems = derive_tte(tables, s.truth["data_cut"])
    return s, latent.loc[eligible], tables, tte, problems


def _param(tte, code):
    return tte[tte["paramcd"] == code].set_index("patient_id")


def test_clean_synthetic_study_has_no_problem(cohort):
    _, _, _, tte, problems = cohort
    assert problems.empty, problems.head()
    assert tte["time_days"].notna().all()
    assert (tte["time_days"] >= 0).all()


def test_os_matches_latent_death_and_last_contact(cohort):
    _, latent, _, tte, _ = cohort
    os_ = _param(tte, "OS").loc[latent.index]
    np.testing.assert_array_equal(os_["event"].to_numpy(dtype=int), latent["death_observed"].to_numpy(dtype=int))
    np.testing.assert_array_equal(os_["time_days"].to_numpy(dtype=float), latent["end_day"].to_numpy(dtype=float))


def test_efs_matches_latent_recurrence_death_and_r2(cohort):
    _, latent, tables, tte, _ = cohort
    decision = tables["patients"].set_index("patient_id")["treatment_decision_date"]
    sx = tables["surgery"]
    r2 = sx[sx["resection_status"] == "R2"].copy()
    r2["day"] = (r2["surgery_date"] - decision.reindex(r2["patient_id"]).to_numpy()).dt.days
    r2_day = r2.groupby("patient_id")["day"].min().reindex(latent.index).to_numpy(dtype=float)
    rec_day = np.where(latent["recurrence_observed"], latent["tr_day"], np.nan)
    death_day = np.where(latent["death_observed"], latent["td_day"], np.nan)
    event_day = np.fmin(np.fmin(rec_day, death_day), r2_day)
    expected_event = ~np.isnan(event_day)
    expected_time = np.where(expected_event, event_day, latent["end_day"])
    efs = _param(tte, "EFS").loc[latent.index]
    np.testing.assert_array_equal(efs["event"].to_numpy(dtype=bool), expected_event)
    np.testing.assert_array_equal(efs["time_days"].to_numpy(dtype=float), expected_time)
    assert expected_event.sum() > 100   # the comparison is not vacuous


def test_ttp_matches_latent_recurrence_with_death_competing_and_r2_not_an_event(cohort):
    """TTP is the generator's recurrence/progression endpoint: event at ``tr_day`` when observed
    before death (R2 operations ignored), competing death at ``td_day``, else censored at ``end_day``."""
    _, latent, tables, tte, _ = cohort
    rec = latent["recurrence_observed"].to_numpy(dtype=bool)
    dead = latent["death_observed"].to_numpy(dtype=bool)
    rec_day = np.where(rec, latent["tr_day"], np.inf)
    death_day = np.where(dead, latent["td_day"], np.inf)
    event_type = np.where(rec & (rec_day <= death_day), 1, np.where(dead, 2, 0))
    end = np.where(event_type == 1, rec_day, np.where(event_type == 2, death_day, latent["end_day"]))
    ttp = _param(tte, "TTP").loc[latent.index]
    np.testing.assert_array_equal(ttp["event_type"].to_numpy(dtype=int), event_type)
    np.testing.assert_array_equal(ttp["event"].to_numpy(dtype=int), (event_type == 1).astype(int))
    np.testing.assert_array_equal(ttp["time_days"].to_numpy(dtype=float), end)
    # the R2 patients whose progression EFS cannot see (its event is the operation) are events here
    r2 = set(tables["surgery"].loc[tables["surgery"]["resection_status"] == "R2", "patient_id"])
    efs = _param(tte, "EFS").loc[latent.index]
    later = ttp.index.isin(list(r2)) & (ttp["event_type"] == 1).to_numpy() & (efs["time_days"] < ttp["time_days"]).to_numpy()
    assert later.sum() >= 5


def test_rfs_population_and_events_match_latent(cohort):
    _, latent, tables, tte, _ = cohort
    sx = tables["surgery"]
    cur = sx[sx["surgical_intent"] == "curative"].sort_values(["patient_id", "surgery_date", "surgery_id"])
    index_op = cur.drop_duplicates("patient_id").set_index("patient_id")
    r0r1 = index_op.index[index_op["resection_status"].isin(["R0", "R1"])]
    expected_ids = sorted(set(r0r1) & set(latent.index))
    rfs = _param(tte, "RFS")
    assert sorted(rfs.index) == expected_ids
    lat = latent.loc[expected_ids]
    decision = tables["patients"].set_index("patient_id").loc[expected_ids, "treatment_decision_date"]
    sx_day = (index_op.loc[expected_ids, "surgery_date"] - decision).dt.days.to_numpy()
    rec = lat["recurrence_observed"].to_numpy() & (lat["tr_day"].to_numpy() > sx_day)
    dead = lat["death_observed"].to_numpy()
    rec_day = np.where(rec, lat["tr_day"], np.inf)
    death_day = np.where(dead, lat["td_day"], np.inf)
    event_type = np.where(rec & (rec_day <= death_day), 1, np.where(dead, 2, 0))
    end = np.where(event_type == 1, rec_day, np.where(event_type == 2, death_day, lat["end_day"]))
    got = rfs.loc[expected_ids]
    np.testing.assert_array_equal(got["event_type"].to_numpy(dtype=int), event_type)
    np.testing.assert_array_equal(got["time_days"].to_numpy(dtype=float), end - sx_day)
    assert (event_type == 1).sum() > 50 and (event_type == 2).sum() > 10


def test_dss_splits_os_deaths_into_thyroid_and_competing(cohort):
    _, _, _, tte, _ = cohort
    os_, dss = _param(tte, "OS"), _param(tte, "DSS").loc[_param(tte, "OS").index]
    dead = os_["event"].to_numpy(dtype=bool)
    assert np.array_equal(dss["event_type"].isin([1, 2]).to_numpy(), dead)
    assert (dss.loc[dead, "adt"] == os_.loc[dead, "adt"]).all()
    assert 0 < dss["event"].sum() < os_["event"].sum()


def test_screen_failures_without_follow_up_are_flagged_not_dropped(cohort):
    s, _, _, _, _ = cohort
    tables = dict(s.tables)
    tte, problems = derive_tte(tables, s.truth["data_cut"])
    failures = set(s.latent.loc[~s.latent["eligible"].to_numpy(dtype=bool), "patient_id"])
    assert set(problems["rule"]) == {"no_follow_up"}
    assert set(problems["patient_id"]) == failures
    os_ = tte[tte["paramcd"] == "OS"]
    assert os_.loc[os_["patient_id"].isin(failures), "cnsr"].eq(1).all()


def test_tte_feeds_the_survival_functions_directly(cohort):
    # the stats layer reads the long table as is: KM on OS by cohort, cumulative incidence of
    # recurrence with death as competing event from RFS event_type
    from latc.stats import cumulative_incidence, kaplan_meier

    _, _, _, tte, _ = cohort
    os_ = tte[tte["paramcd"] == "OS"]
    km = kaplan_meier(os_, "time_months", "event", group="cohort")
    assert list(km.medians["n"]) == list(os_.groupby("cohort")["event"].size())
    assert list(km.medians["events"]) == list(os_.groupby("cohort")["event"].sum())
    rfs = tte[tte["paramcd"] == "RFS"]
    cif = cumulative_incidence(rfs, "time_months", "event_type", group="cohort")
    assert set(cif.table["cause"].astype(int)) == {1, 2}
