"""The synthetic cohort follows the clinical rules the derivations check, so a clean study raises no
derivation problem that is really a generator inconsistency:

* RECIST 1.1 target selection (Eisenhauer et al., Eur J Cancer 2009;45:228, §4.2: at most 5 target
  lesions, at most 2 per organ; the EORTC RECIST FAQ counts all lymph nodes as one organ) —
  checked with ``latc.derive.recist.check_target_lesions``;
* ypN / pN after a neck dissection (AJCC 8th ed., thyroid chapter: N1a = level VI/VII, N1b =
  lateral / retropharyngeal, NX = regional nodes cannot be assessed) — ypT0 never with NX, so the
  AJCC stage is never ambiguous (``latc.derive.pathology``);
* screen failures of the upfront-surgery cohort only on criteria that apply to it (the
  RECIST-measurable lesion does not: docs/validation.md, "Cohorts") — checked with
  ``latc.validate``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from latc.derive.pathology import derive_pathological_response
from latc.derive.recist import check_target_lesions
from latc.synth import synthesize
from latc.synth._patients import NOT_APPLICABLE_UPFRONT

SEEDS = (11, 20261125, 3)


@pytest.fixture(scope="module", params=SEEDS)
def cohort(request):
    return synthesize(n_patients=3000, n_centers=8, seed=request.param)


def test_target_lesions_follow_recist_and_the_eortc_nodal_rule(cohort):
    les = cohort.tables["lesions"]
    assert len(check_target_lesions(les)) == 0  # RECIST 1.1 §4.2 (the module's own reading)
    # the same rules counted directly from the table
    tgt = les[les["lesion_role"].eq("target")]
    organ = np.where(tgt["is_lymph_node"].astype(bool), "lymph node", tgt["site"].astype(str))
    assert tgt.groupby("patient_id").size().max() <= 5
    assert pd.Series(1, index=[tgt["patient_id"].to_numpy(), organ]).groupby(level=[0, 1]).size().max() <= 2
    # the rule bit: patients with two nodal targets keep their third involved node as a non-target
    nodal_targets = tgt[tgt["is_lymph_node"].astype(bool)].groupby("patient_id").size()
    two = set(nodal_targets.index[nodal_targets == 2])
    nodal_nt = les[les["lesion_role"].eq("non_target") & les["is_lymph_node"].astype(bool)]
    assert len(two & set(nodal_nt.loc[nodal_nt["site"].eq("mediastinal_node"), "patient_id"])) > 0
    # target nodes measurable (short axis >= 15 mm, §3.1.1); the primary is always a target unless
    # the patient failed screening on the measurable-lesion criterion
    assert (tgt.loc[tgt["is_lymph_node"].astype(bool), "baseline_diameter_mm"] >= 15).all()
    no_measurable = set(cohort.latent.loc[cohort.latent["screen_failure"].eq("inc_measurable_lesion"), "patient_id"])
    primary_target = set(tgt.loc[tgt["site"].eq("thyroid"), "patient_id"])
    assert primary_target == set(les["patient_id"]) - no_measurable


def test_pathological_n_follows_the_nodes_examined(cohort):
    p = cohort.tables["pathology"]
    examined = p["nodes_examined"].astype(int).to_numpy()
    positive = p["nodes_positive"].astype(int).to_numpy()
    pn = p["pn"].astype(str).to_numpy()
    # NX exactly when no node was examined (AJCC: regional nodes cannot be assessed)
    np.testing.assert_array_equal(pn == "NX", examined == 0)
    # N0 ⇔ no positive node among those examined; N1a/N1b ⇒ at least one
    assessed = examined > 0
    np.testing.assert_array_equal((pn == "N0")[assessed], (positive == 0)[assessed])
    # after neoadjuvant therapy the nodes are always examined (central dissection), so ypT0 never has ypNX
    yp = p["tnm_prefix"].eq("yp").to_numpy()
    assert yp.sum() > 500 and (examined[yp] > 0).all()
    assert (p["pt"].eq("T0").to_numpy() & yp).sum() > 10
    assert not (p["pt"].eq("T0").to_numpy() & (pn == "NX")).any()
    # ... and MTC always has its central compartment dissected (ATA MTC guideline 2015)
    mtc = p["histology"].eq("mtc").to_numpy()
    assert (examined[mtc] > 0).all()
    # NX still occurs: upfront cN0 patients without a neck dissection
    assert (pn == "NX").any()


def test_no_stage_is_ambiguous_on_a_clean_study(cohort):
    t = cohort.tables
    _, problems = derive_pathological_response(t)
    assert len(problems) == 0, problems["rule"].value_counts().to_dict()


def test_upfront_screen_failures_only_on_criteria_that_apply(cohort):
    lat = cohort.latent
    upfront_fail = lat[lat["cohort"].eq("upfront_surgery") & ~lat["eligible"].astype(bool)]
    assert len(upfront_fail) > 20
    assert not upfront_fail["screen_failure"].isin(NOT_APPLICABLE_UPFRONT).any()
    # truth.json counts agree with the eligibility form
    truth = cohort.truth["cohorts"]
    e = cohort.tables["eligibility"].set_index("patient_id")
    assert truth["screen_failures"] == int((~lat["eligible"].astype(bool)).sum())
    assert sum(truth["screen_failures_by_reason"].values()) == truth["screen_failures"]
    for reason, k in truth["screen_failures_by_reason"].items():
        if reason == "inc_m1_benefit_documented":
            assert int((e[reason] == "no").sum()) == k
        elif reason.startswith("inc_"):
            assert int((~e[reason].astype(bool)).sum()) == k, reason
        else:
            assert int(e[reason].astype(bool).sum()) == k, reason
    # redrawn reasons come with consistent data (the checks of test_synth for the whole cohort)
    d = cohort.tables["diagnosis"].set_index("patient_id")
    p = cohort.tables["patients"].set_index("patient_id")
    assert ((d["ct"] == "T3b") == ~e["inc_t4_mdt"].astype(bool)).all()
    assert ((p["ecog"].astype(int) > 2) == ~e["inc_ecog_0_2"].astype(bool)).all()


def test_validation_finds_exactly_the_generators_screen_failures(tmp_path):
    """Validation's eligibility (protocol criteria checked against the data) equals the generator's,
    in both cohorts (before the fix an upfront "no measurable lesion" failure was eligible)."""
    from latc.io import read_study
    from latc.synth import write_synthetic_study
    from latc.validate import validate_study

    r = write_synthetic_study(tmp_path / "s", n_patients=1500, n_centers=6, seed=5)
    lat = pd.read_csv(r.latent_path, dtype={"patient_id": str}).set_index("patient_id")
    result = validate_study(read_study(r.study_path), data_cut=date(2026, 6, 30))
    el = result.eligibility.set_index("patient_id")["eligible"].astype(str).str.lower().isin(["true", "1"])
    eligible = lat["eligible"].astype(bool)
    assert (el.reindex(lat.index) == eligible).all()
    upfront = lat["cohort"].eq("upfront_surgery")
    assert (~eligible[upfront]).sum() > 5
