"""latc.omics.integrate: the patient × feature matrix and MOFA+ (mofapy2) on planted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.omics import OmicsInputError
from latc.omics.integrate import (build_feature_matrix, check_feature_table, clinical_matrix, feature_columns,
                                  read_feature_tables, run_mofa)


def _table(pids, assay: str, feats: dict[str, np.ndarray], timepoint="baseline", tissue="tumour", tp_code="BL"):
    t = pd.DataFrame({"sample_id": [f"{p}-{tp_code}_TU_{assay}" for p in pids], "patient_id": list(pids),
                      "center_id": [p.split("-")[0] for p in pids], "timepoint": timepoint, "tissue": tissue})
    for k, v in feats.items():
        t[k] = v
    return t


def test_matrix_prefixes_modalities_and_keeps_missing_modality_as_nan():
    bulk = _table(["C01-0001", "C01-0002", "C01-0003"], "BK", {"tds": [1.0, 2.0, 3.0], "erk": [0.1, 0.2, 0.3]})
    flow = _table(["C01-0002", "C01-0004"], "FL", {"cd8_pct": [20.0, 30.0]}, tissue="blood")
    fm = build_feature_matrix({"bulk": bulk, "flow": flow})
    assert list(fm.values.columns) == ["bulk:tds", "bulk:erk", "flow:cd8_pct"]
    assert list(fm.values.index) == ["C01-0001", "C01-0002", "C01-0003", "C01-0004"]
    assert np.isnan(fm.values.loc["C01-0001", "flow:cd8_pct"])
    assert fm.values.loc["C01-0004"].isna().tolist() == [True, True, False]
    assert fm.availability.loc["C01-0001"].tolist() == [True, False]
    assert fm.availability.loc["C01-0002"].tolist() == [True, True]
    assert fm.modalities == {"bulk": ["bulk:tds", "bulk:erk"], "flow": ["flow:cd8_pct"]}
    assert list(fm.complete_patients()) == ["C01-0002"]


def test_matrix_chooses_timepoint_per_modality_and_builds_deltas():
    pids = ["C01-0001", "C01-0002"]
    base = _table(pids, "BK", {"tds": [1.0, 2.0]})
    on = _table(pids, "BK", {"tds": [4.0, 1.0]}, timepoint="on_treatment", tp_code="OT")
    bulk = pd.concat([base, on], ignore_index=True)
    fm = build_feature_matrix({"bulk": bulk})
    assert fm.values["bulk:tds"].tolist() == [1.0, 2.0]                # baseline by default
    fm2 = build_feature_matrix({"bulk": bulk}, timepoint={"bulk": "on_treatment"})
    assert fm2.values["bulk:tds"].tolist() == [4.0, 1.0]
    fm3 = build_feature_matrix({"bulk": bulk}, delta={"bulk": ("baseline", "on_treatment")})
    assert fm3.values["bulk:delta:tds"].tolist() == [3.0, -1.0]        # later − earlier
    assert fm3.modalities["bulk"] == ["bulk:tds", "bulk:delta:tds"]


def test_matrix_averages_repeated_rows_of_a_sample_and_ignores_metadata_columns():
    t = _table(["C01-0001", "C01-0001", "C01-0002"], "US", {"area": [10.0, 20.0, 5.0]})
    t["lesion_id"] = ["L1", "L2", "L1"]
    t["spacing_mm"] = [0.1, 0.1, 0.2]
    assert feature_columns(t) == ["area"]
    fm = build_feature_matrix({"ultrasound": t})
    assert fm.values["ultrasound:area"].tolist() == [15.0, 5.0]


def test_matrix_reindexes_to_subject_patients():
    t = _table(["C01-0001"], "BK", {"tds": [1.0]})
    fm = build_feature_matrix({"bulk": t}, patients=["C01-0001", "C01-0009"])
    assert list(fm.values.index) == ["C01-0001", "C01-0009"]
    assert fm.availability["bulk"].tolist() == [True, False]


def test_mismatched_sample_id_is_named():
    t = _table(["C01-0001", "C01-0002"], "BK", {"tds": [1.0, 2.0]})
    t.loc[1, "sample_id"] = "C01-0003-BL_TU_BK"                        # belongs to another patient
    with pytest.raises(OmicsInputError, match=r"row 2: sample_id 'C01-0003-BL_TU_BK' does not belong to patient_id 'C01-0002'"):
        build_feature_matrix({"bulk": t})


def test_manifest_disagreement_and_unknown_sample_are_errors():
    t = _table(["C01-0001", "C01-0002"], "BK", {"tds": [1.0, 2.0]})
    manifest = t[["sample_id", "patient_id", "center_id", "timepoint", "tissue"]].copy()
    build_feature_matrix({"bulk": t}, manifest=manifest)              # agrees: no error
    m2 = manifest.copy()
    m2.loc[0, "timepoint"] = "surgery"
    with pytest.raises(OmicsInputError, match="C01-0001-BL_TU_BK has timepoint='baseline' but the manifest says 'surgery'"):
        build_feature_matrix({"bulk": t}, manifest=m2)
    with pytest.raises(OmicsInputError, match="not in the manifest: C01-0002-BL_TU_BK"):
        build_feature_matrix({"bulk": t}, manifest=manifest.iloc[:1])


def test_missing_columns_timepoint_and_features_are_errors():
    t = _table(["C01-0001"], "BK", {"tds": [1.0]})
    with pytest.raises(OmicsInputError, match="lacks column"):
        check_feature_table(t.drop(columns="timepoint"), "bulk")
    with pytest.raises(OmicsInputError, match="no numeric feature columns"):
        check_feature_table(t.drop(columns="tds"), "bulk")
    with pytest.raises(OmicsInputError, match="bulk: no sample at timepoint 'surgery'.*baseline"):
        build_feature_matrix({"bulk": t}, timepoint="surgery")
    with pytest.raises(OmicsInputError, match="no feature tables"):
        build_feature_matrix({})


def test_read_feature_tables(tmp_path):
    t = _table(["C01-0001"], "BK", {"tds": [1.0]})
    (tmp_path / "feat").mkdir()
    t.to_parquet(tmp_path / "feat" / "bulk.parquet")
    t.to_csv(tmp_path / "feat" / "flow.csv", index=False)
    tabs = read_feature_tables([tmp_path / "feat", f"us={tmp_path / 'feat' / 'flow.csv'}"])
    assert sorted(tabs) == ["bulk", "flow", "us"]
    assert tabs["flow"]["tds"].tolist() == [1.0]
    with pytest.raises(OmicsInputError, match="not found"):
        read_feature_tables([tmp_path / "nope.parquet"])
    with pytest.raises(OmicsInputError, match="second feature table for modality 'bulk'"):
        read_feature_tables([tmp_path / "feat", tmp_path / "feat" / "bulk.parquet"])


def test_clinical_matrix_dummy_codes_and_keeps_missing_as_nan():
    subject = pd.DataFrame({"patient_id": ["A-001", "A-002", "A-003"], "ct": ["T4a", "T4b", None],
                            "age_at_diagnosis": [50, 60, 70], "braf_v600e": [True, False, True]})
    M = clinical_matrix(subject, ["ct", "age_at_diagnosis", "braf_v600e"])
    assert list(M.columns) == ["ct=T4b", "age_at_diagnosis", "braf_v600e"]
    assert M["ct=T4b"].tolist()[:2] == [0.0, 1.0] and np.isnan(M.loc["A-003", "ct=T4b"])
    assert M["braf_v600e"].tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(OmicsInputError, match="no column"):
        clinical_matrix(subject, ["histology"])


# ----------------------------------------------------------------------------------------------
# MOFA+
# ----------------------------------------------------------------------------------------------
def _two_view_study(seed=7, n=80, missing=15):
    """A shared factor z drives view A (30 features) and view B (20 features); noise SD 1; a
    random 15 patients lack view A and another 15 lack view B."""
    rng = np.random.default_rng(seed)
    pids = [f"C01-{i:04d}" for i in range(n)]
    z = rng.normal(size=n)
    tables = {}
    for name, assay, p in (("bulk", "BK", 30), ("flow", "FL", 20)):
        X = np.outer(z, rng.normal(0, 1, p)) + rng.normal(size=(n, p))
        drop = rng.choice(n, missing, replace=False)
        keep = np.setdiff1d(np.arange(n), drop)
        tables[name] = _table([pids[i] for i in keep], assay, {f"g{j}": X[keep, j] for j in range(p)})
    return pids, z, tables


def test_mofa_recovers_planted_shared_factor_with_missing_views():
    pids, z, tables = _two_view_study()
    fm = build_feature_matrix(tables)
    assert (~fm.availability).any().all()                              # each view misses patients
    res = run_mofa(fm, n_factors=3, seed=1)
    f = res.factors.reindex(pids)
    ok = f.notna().all(axis=1).to_numpy()
    r = max(abs(np.corrcoef(f[c].to_numpy()[ok], z[ok])[0, 1]) for c in f.columns)
    # stated recovery: |corr(best factor, planted z)| ≥ 0.9 (loadings ~N(0,1), noise SD 1)
    assert r >= 0.9, r
    # the shared factor explains variance in both views; variance tables are consistent
    top = res.variance_explained.sum(axis=0).idxmax()
    assert (res.variance_explained[top] > 10).all()
    assert set(res.weights["modality"]) == {"bulk", "flow"}
    assert len(res.weights) == (30 + 20) * res.factors.shape[1]
    # patients missing one view still get factors (MOFA's likelihood skips missing rows)
    only_one = fm.availability.sum(axis=1) == 1
    assert res.factors.loc[fm.availability.index[only_one]].notna().all().all()


def test_mofa_is_deterministic_per_seed():
    _, _, tables = _two_view_study(seed=3, n=40)
    fm = build_feature_matrix(tables)
    a = run_mofa(fm, n_factors=2, seed=5, iterations=200)
    b = run_mofa(fm, n_factors=2, seed=5, iterations=200)
    pd.testing.assert_frame_equal(a.factors, b.factors)


def test_mofa_needs_enough_patients():
    t = _table(["C01-0001", "C01-0002"], "BK", {"a": [1.0, 2.0], "b": [2.0, 1.0]})
    with pytest.raises(OmicsInputError, match="MOFA needs"):
        run_mofa(build_feature_matrix({"bulk": t}))
