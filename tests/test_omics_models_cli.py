"""``latc omics biomarkers``: end to end on planted feature tables, and one-line errors (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from latc.cli import app

runner = CliRunner()


def _study(tmp_path, n=90, seed=0):
    """Bulk (3 planted markers among 40) for all patients, flow (20 noise) for 2/3 of them; subject
    with mpr, clinical covariates and RFS whose hazard depends on the first marker."""
    rng = np.random.default_rng(seed)
    pids = [f"C0{1 + i % 3}-{i:04d}" for i in range(n)]
    mpr = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)]).astype(int)
    bulk = rng.normal(size=(n, 40))
    bulk[:, :3] += 1.3 * mpr[:, None]
    flow = rng.normal(size=(n, 20))

    def table(assay, X, rows, prefix):
        t = pd.DataFrame({"sample_id": [f"{pids[i]}-BL_TU_{assay}" for i in rows],
                          "patient_id": [pids[i] for i in rows], "center_id": [pids[i][:3] for i in rows],
                          "timepoint": "baseline", "tissue": "tumour"})
        return pd.concat([t, pd.DataFrame(X[rows], columns=[f"{prefix}{j}" for j in range(X.shape[1])])], axis=1)

    feat = tmp_path / "features"
    feat.mkdir()
    table("BK", bulk, np.arange(n), "gene").to_parquet(feat / "bulk.parquet")
    table("FL", flow, np.arange(0, n, 3).tolist() + np.arange(1, n, 3).tolist(), "pop").to_csv(feat / "flow.csv", index=False)
    t = rng.exponential(30 * np.exp(-0.8 * bulk[:, 0]))
    c = rng.uniform(10, 60, n)
    subject = pd.DataFrame({"patient_id": pids, "mpr": mpr.astype(bool), "ct": rng.choice(["T4a", "T4b"], n),
                            "braf_v600e": rng.choice(["positive", "negative"], n),
                            "rfs_months": np.minimum(t, c), "rfs_event": (t <= c).astype(int)})
    subject.to_parquet(tmp_path / "subject.parquet")
    return feat, tmp_path / "subject.parquet"


ARGS = ["--n-boot", "100", "--n-permutations", "4", "--folds", "3", "--n-features", "10", "--mofa-factors", "2"]


def test_biomarkers_binary_outcome_end_to_end(tmp_path):
    feat, subj = _study(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["omics", "biomarkers", "--features", str(feat), "--subject", str(subj),
                            "--outcome", "mpr", "--out", str(out), *ARGS])
    assert r.exit_code == 0, r.output
    perf = pd.read_csv(out / "tables" / "model_performance.csv").set_index("model")
    assert list(perf.index) == ["omics", "clinical", "clinical+omics"]
    assert perf.loc["omics", "lower"] > 0.5                           # planted markers predict MPR
    assert perf.loc["clinical", "lower"] < 0.5 < perf.loc["clinical", "upper"]   # random clinical covariates
    comp = pd.read_csv(out / "tables" / "model_comparison.csv")
    assert set(comp["model_b"]) == {"omics", "clinical+omics"} and (comp["difference"] > 0).all()
    screen = pd.read_csv(out / "tables" / "screen.csv")
    hits = set(screen.loc[screen["q_value"] <= 0.05, "feature"])
    assert {"bulk:gene0", "bulk:gene1", "bulk:gene2"} <= hits
    assert not any(h.startswith("flow:") for h in hits)
    avail = pd.read_csv(out / "tables" / "modality_availability.csv", index_col=0)
    assert avail["bulk"].all() and avail["flow"].sum() == 60
    assert (out / "tables" / "mofa_factors.csv").exists() and (out / "tables" / "mofa_variance_explained.csv").exists()
    for fig in ("roc", "volcano", "score_distribution", "mofa_factors", "mofa_variance_explained", "selection_stability"):
        assert (out / "figures" / f"{fig}.svg").stat().st_size > 1000
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_patients"] == 90 and summary["modalities"] == {"bulk": 40, "flow": 20}
    assert len(summary["permutation"]) == 1 and 0 < summary["permutation"][0]["p_permutation"] <= 1
    assert "omics: auc" in r.output


def test_biomarkers_rfs_end_to_end(tmp_path):
    feat, subj = _study(tmp_path, seed=1)
    out = tmp_path / "out"
    r = runner.invoke(app, ["omics", "biomarkers", "-f", str(feat / "bulk.parquet"), "--subject", str(subj),
                            "--outcome", "rfs", "--out", str(out), "--no-mofa", *ARGS])
    assert r.exit_code == 0, r.output
    perf = pd.read_csv(out / "tables" / "model_performance.csv").set_index("model")
    assert perf.loc["omics", "metric"] == "harrell_c" and perf.loc["omics", "estimate"] > 0.6
    screen = pd.read_csv(out / "tables" / "screen.csv")
    assert screen.iloc[0]["feature"] == "bulk:gene0" and screen.iloc[0]["hazard_ratio_per_sd"] > 1
    assert not (out / "tables" / "mofa_factors.csv").exists()


@pytest.mark.parametrize("case, pattern", [
    ("missing_file", "feature file or folder not found"),
    ("missing_subject", "subject file not found"),
    ("mismatched_sample", "does not belong to patient_id"),
    ("absent_outcome", "outcome column 'pcr' is not in subject"),
    ("unknown_patients", "no patient of the feature tables is in subject"),
    ("no_rfs_columns", "needs columns rfs_time"),
])
def test_biomarkers_errors_are_one_line_exit_2(tmp_path, case, pattern):
    feat, subj = _study(tmp_path, n=30)
    outcome = "mpr"
    features = str(feat)
    if case == "missing_file":
        features = str(tmp_path / "nope.parquet")
    elif case == "missing_subject":
        subj = tmp_path / "nope_subject.parquet"
    elif case == "mismatched_sample":
        t = pd.read_parquet(feat / "bulk.parquet")
        t.loc[4, "sample_id"] = "C09-9999-BL_TU_BK"
        t.to_parquet(feat / "bulk.parquet")
    elif case == "absent_outcome":
        outcome = "pcr"
    elif case == "unknown_patients":
        s = pd.read_parquet(subj)
        s["patient_id"] = "X" + s["patient_id"]
        s.to_parquet(subj)
    elif case == "no_rfs_columns":
        s = pd.read_parquet(subj).drop(columns=["rfs_months"])
        s.to_parquet(subj)
        outcome = "rfs"
    r = runner.invoke(app, ["omics", "biomarkers", "--features", features, "--subject", str(subj),
                            "--outcome", outcome, "--out", str(tmp_path / "out"), *ARGS])
    assert r.exit_code == 2, r.output
    assert pattern in r.output
    assert "Traceback" not in r.output
