"""Surgical outcomes on the seeded synthetic cohort (latc.synth): clean data give no problems and
the derived columns agree with how the generator built the operations (docs/synthetic.md)."""

from __future__ import annotations

import pandas as pd
import pytest

from latc.derive.surgery import complications_analysis, surgical_outcome_rates, surgical_outcomes
from latc.synth import synthesize


@pytest.fixture(scope="module")
def study():
    return synthesize(400, seed=11).tables


def test_clean_synthetic_tables_give_no_problems_and_one_row_per_patient(study):
    out, problems = surgical_outcomes(study)
    assert problems.empty, problems.head().to_string()
    assert out["patient_id"].tolist() == study["patients"]["patient_id"].tolist()
    curative = study["surgery"].loc[study["surgery"]["surgical_intent"].eq("curative"), "patient_id"].nunique()
    assert int(out["curative_surgery"].sum()) == curative
    # planned laryngectomy + no laryngectomy performed, counted directly from the forms
    ops = study["surgery"][study["surgery"]["surgical_intent"].eq("curative")].merge(study["diagnosis"], on="patient_id")
    direct = int((ops["planned_laryngectomy"].astype(bool) & ops["laryngectomy"].eq("none")).sum())
    assert int(out["larynx_preserved"].sum()) == direct
    assert int(out["larynx_preserved"].notna().sum()) == int(ops["planned_laryngectomy"].astype(bool).sum())


def test_synthetic_deficits_resolved_within_six_months_are_transient(study):
    # the generator resolves transient hypoparathyroidism / RLN palsy within ~6 months and leaves
    # permanent ones unresolved; so a derived "permanent" event must be an unresolved one
    c, problems = complications_analysis(study)
    assert problems.empty
    deficits = c[c["complication_type"].isin(["hypoparathyroidism", "rln_palsy"])]
    assert deficits["permanence"].notna().all()
    assert not deficits.loc[deficits["permanence"].eq("permanent"), "resolved"].any()
    assert deficits.loc[deficits["resolved"].astype(bool), "permanence"].eq("transient").all()
    assert c.loc[~c["complication_type"].isin(["hypoparathyroidism", "rln_palsy"]), "permanence"].isna().all()


def test_rates_table_is_consistent_with_the_outcomes(study):
    out, _ = surgical_outcomes({k: study[k] for k in ("patients", "diagnosis", "surgery", "complications")})
    rates = surgical_outcome_rates(out).set_index(["cohort", "measure"])
    for cohort, grp in out.groupby("cohort"):
        assert rates.loc[(cohort, "curative_surgery"), "n"] == len(grp)
        assert rates.loc[(cohort, "major_complication"), "events"] == int(grp["major_complication"].sum())
        assert rates.loc[(cohort, "major_complication"), "n"] == int(grp["curative_surgery"].sum())
    assert pd.api.types.is_float_dtype(rates["percent"])
