"""The shared omics association (latc.omics._associate), used by spatial, bulk, flow and imaging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from latc.omics import OmicsInputError
from latc.omics._associate import associate
from latc.omics.spatial import associate as spatial_associate


@pytest.fixture()
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    pids = [f"P{i:02d}" for i in range(12)]
    resp = np.array([1, 0] * 6)
    feats = pd.DataFrame({
        "sample_id": [f"S{i}" for i in range(12)], "patient_id": pids, "center_id": 1,  # numeric sample key
        "timepoint": "baseline", "tissue": "tumour",
        "score": resp * 2.0 + rng.normal(size=12), "n_spots": rng.integers(100, 200, 12),
        "deconvolution": "markers"})
    subject = pd.DataFrame({"patient_id": pids, "objective_response": resp})
    return feats, subject


def test_default_features_are_the_numeric_non_key_columns(tables):
    feats, subject = tables
    a = associate(feats, subject)
    assert sorted(a["feature"]) == ["n_spots", "score"]          # not center_id, not deconvolution
    row = a.set_index("feature").loc["score"]
    x, y = feats["score"], subject["objective_response"] == 1
    u, p = mannwhitneyu(x[y], x[~y], alternative="two-sided")
    assert row["effect"] == pytest.approx(u / 36) and row["p_value"] == pytest.approx(p)
    assert row["n"] == 12 and row["n_positive"] == 6


def test_spatial_associate_is_the_shared_one_on_the_spatial_features(tables):
    feats, subject = tables
    # spatial's default feature columns are its own feature dictionary: n_spots, not "score"
    s = spatial_associate(feats, subject)
    assert s["feature"].tolist() == ["n_spots"]
    pd.testing.assert_frame_equal(s, associate(feats, subject, feature_columns=["n_spots"]))


def test_duplicate_patient_in_subject_is_refused(tables):
    feats, subject = tables
    with pytest.raises(OmicsInputError, match="more than one row for patient P00"):
        associate(feats, pd.concat([subject, subject.head(1)]))
