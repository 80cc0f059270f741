"""Safety derivations on the seeded synthetic cohort (latc.synth): clean data give no problems, the
safety population and the TEAE flags agree with how the generator built courses and events."""

from __future__ import annotations

import pytest

from latc.derive.safety import adverse_event_analysis, ae_overview, ae_summary_by_term, exposure_by_agent, treatment_exposure
from latc.synth import synthesize


@pytest.fixture(scope="module")
def study():
    return synthesize(400, seed=11).tables


def test_clean_synthetic_tables(study):
    ae, problems = adverse_event_analysis(study)
    assert problems.empty, problems.head().to_string()
    assert len(ae) == len(study["adverse_events"])
    expo, p2 = treatment_exposure(study)
    agents, p3 = exposure_by_agent(study["treatments"])
    assert p2.empty and p3.empty
    dosed = set(study["treatments"]["patient_id"])
    neo = set(study["patients"].loc[study["patients"]["cohort"].eq("neoadjuvant"), "patient_id"])
    assert set(expo.loc[expo["safety_population"].astype(bool), "patient_id"]) == dosed & neo
    # the generator places every event between the first dose and the end of therapy, before surgery
    assert ae["treatment_emergent"].astype(bool).all()
    assert (expo["exposure_days"].dropna() >= 1).all()
    assert agents["relative_dose_intensity_min"].dropna().between(0, 1).all()
    assert (agents["relative_dose_intensity_min"] <= agents["relative_dose_intensity_max"]).dropna().all()


def test_summaries_agree_with_the_event_table(study):
    ae, _ = adverse_event_analysis(study)
    expo, _ = treatment_exposure(study)
    o = ae_overview(ae, expo).set_index("measure")
    te = ae[ae["treatment_emergent"].astype(bool)]
    assert o.loc["any", "patients"] == te["patient_id"].nunique()
    assert o.loc["any", "events"] == len(te)
    assert o.loc["any", "n_safety"] == int(expo["safety_population"].sum())
    s = ae_summary_by_term(ae, expo)
    per_term = te.groupby("ctcae_term")["patient_id"].nunique()
    assert dict(zip(s["ctcae_term"], s["patients_any_grade"])) == per_term.to_dict()
    by_class = ae_summary_by_term(ae, expo, by="agent_class")
    assert by_class.groupby("ctcae_term")["patients_any_grade"].sum().to_dict() == per_term.to_dict()
