"""Delta-radiomics arithmetic (Fave et al. 2017 absolute and relative change) and the imaging
association screen (Mann–Whitney + BH-FDR)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.omics import OmicsInputError
from latc.omics.imaging import delta_radiomics, delta_wide, join_subject, univariate_association


def _table():
    return pd.DataFrame({
        "sample_id": ["P1-BL", "P1-OT", "P1-SX", "P2-BL", "P2-OT", "P3-OT"],
        "patient_id": ["P1", "P1", "P1", "P2", "P2", "P3"],
        "center_id": ["C01"] * 6,
        "timepoint": ["baseline", "on_treatment", "surgery", "baseline", "on_treatment", "on_treatment"],
        "tissue": ["tumour"] * 6,
        "spacing_mm": [0.2] * 6,
        "morph_area_mm2": [10.0, 7.0, 5.0, 0.0, 4.0, 3.0],
        "stat_mean": [50.0, 60.0, 45.0, 20.0, 10.0, 1.0],
    })


def _get(d, pid, a, b, feat):
    r = d[(d.patient_id == pid) & (d.from_timepoint == a) & (d.to_timepoint == b) & (d.feature == feat)]
    assert len(r) == 1
    return r.iloc[0]


def test_absolute_and_relative_change_per_pair():
    d = delta_radiomics(_table())
    r = _get(d, "P1", "baseline", "on_treatment", "morph_area_mm2")
    assert (r.value_from, r.value_to, r.absolute_change, r.relative_change) == (10.0, 7.0, -3.0, pytest.approx(-0.3))
    r = _get(d, "P1", "on_treatment", "surgery", "stat_mean")
    assert r.absolute_change == -15.0 and r.relative_change == pytest.approx(-0.25)
    r = _get(d, "P1", "baseline", "surgery", "morph_area_mm2")
    assert r.relative_change == pytest.approx(-0.5)
    r = _get(d, "P2", "baseline", "on_treatment", "morph_area_mm2")
    assert r.absolute_change == 4.0 and np.isnan(r.relative_change)  # from 0: undefined
    assert "spacing_mm" not in set(d.feature)  # descriptive column, not a feature
    assert "P3" not in set(d.patient_id)  # a single timepoint has no change
    # 3 pairs for P1, 1 for P2, 2 features each
    assert len(d) == (3 + 1) * 2
    w = delta_wide(d, "absolute_change")
    assert w.loc[(w.patient_id == "P1") & (w.to_timepoint == "surgery") & (w.from_timepoint == "baseline"),
                 "morph_area_mm2"].item() == -5.0


def test_lesions_are_kept_apart_and_duplicates_refused():
    t = pd.concat([_table(), _table().assign(tissue="lymph_node", morph_area_mm2=1.0)], ignore_index=True)
    d = delta_radiomics(t)
    assert set(d.lesion) == {"tumour", "lymph_node"}
    assert (d[d.lesion == "lymph_node"].query("feature == 'morph_area_mm2'").absolute_change == 0).all()
    dup = pd.concat([_table(), _table().iloc[[0]].assign(sample_id="P1-BL2")], ignore_index=True)
    with pytest.raises(OmicsInputError, match="P1.*several samples"):
        delta_radiomics(dup)


def _screen_data(seed, shift):
    rng = np.random.default_rng(seed)
    n = 60
    y = np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int)
    x = rng.standard_normal((n, 40))
    x[:, 0] += shift * y
    t = pd.DataFrame(x, columns=[f"f{i}" for i in range(40)])
    t.insert(0, "sample_id", [f"S{i}" for i in range(n)])
    t.insert(1, "patient_id", [f"P{i}" for i in range(n)])
    t.insert(2, "timepoint", "baseline")
    subject = pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], "objective_response": y.astype(str)})
    return join_subject(t, subject, ["objective_response"])


def test_screen_finds_planted_feature_and_auc_matches_pair_counting():
    j = _screen_data(1, 2.0)
    a = univariate_association(j, "objective_response")
    sig = set(a.loc[a.q_value < 0.05, "feature"])
    assert sig == {"f0"}
    # AUC = P(responder value > non-responder value), counted over all pairs
    y = j["objective_response"].astype(int).to_numpy().astype(bool)
    x = j["f0"].to_numpy()
    auc = (x[y][:, None] > x[~y][None, :]).mean()
    assert a.set_index("feature").loc["f0", "auc"] == pytest.approx(auc)


def test_null_data_gives_no_fdr_finding():
    for seed in (2, 3, 4):
        a = univariate_association(_screen_data(seed, 0.0), "objective_response")
        assert (a.q_value >= 0.05).all()


def test_non_binary_outcome_and_missing_column_are_reported():
    j = _screen_data(1, 0.0)
    j["objective_response"] = "2"
    with pytest.raises(OmicsInputError, match="binary"):
        univariate_association(j, "objective_response")
    with pytest.raises(OmicsInputError, match="pcr"):
        univariate_association(j, "pcr")
