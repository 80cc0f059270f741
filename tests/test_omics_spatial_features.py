"""Per-sample spatial features and their association with response / RFS (BH-FDR), on synthetic
cohorts with a planted response association (surgery samples) and on a null cohort; plus the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from latc.omics import OmicsInputError
from latc.omics.spatial import FEATURE_DESCRIPTIONS, associate, reference_profiles, simulate_reference, spatial_features
from latc.omics.spatial._features import as_binary
from latc.omics.spatial._synth import simulate_cohort, write_spatial

N = 40          # neoadjuvant patients, alternating responders
SCALE = 0.5     # 21 × 21 spots per slide


def _cohort(effect: float, seed: int):
    pid = [f"C0{1 + i % 3}-{i:04d}" for i in range(N)]
    latent = pd.DataFrame({"patient_id": pid, "cohort": "neoadjuvant", "objective_response_latent": np.arange(N) % 2 == 0})
    rows = []
    for p in pid:
        rows.append({"sample_id": f"{p}-SX_TU_SP", "patient_id": p, "center_id": p[:3], "timepoint": "surgery", "tissue": "tumour"})
    for p in pid[: N // 2]:
        rows.append({"sample_id": f"{p}-BL_TU_SP", "patient_id": p, "center_id": p[:3], "timepoint": "baseline", "tissue": "tumour"})
    slides, plan = simulate_cohort(pd.DataFrame(rows), latent, seed=seed, scale=SCALE, effect=effect)
    subject = pd.DataFrame({"patient_id": pid, "objective_response": latent["objective_response_latent"].astype(int)})
    return slides, plan, subject


@pytest.fixture(scope="module")
def reference():
    return reference_profiles(simulate_reference(np.random.default_rng(3)))


@pytest.fixture(scope="module")
def planted(reference):
    slides, plan, subject = _cohort(1.0, seed=21)
    res = spatial_features({k: v.adata for k, v in slides.items()}, reference=reference, n_perms=100)
    return slides, plan, subject, res


def test_features_table_one_row_per_sample_with_documented_columns(planted):
    slides, plan, _, res = planted
    f = res.features
    assert len(f) == len(slides) and f["sample_id"].is_unique
    assert list(f.columns) == ["sample_id", "patient_id", "center_id", "timepoint", "tissue", *FEATURE_DESCRIPTIONS]
    assert (f["deconvolution"] == "poisson").all()
    true_tls = pd.Series({k: v.summary["tls_count"] for k, v in slides.items()})
    got = f.set_index("sample_id")["tls_count"]
    assert (got == true_tls[got.index]).mean() >= 0.9      # TLS count exact in ≥ 90 % of slides
    true_cd8 = pd.Series({k: v.proportions["cd8_t"].mean() for k, v in slides.items()})
    assert np.corrcoef(f.set_index("sample_id")["prop_cd8_t"], true_cd8[got.index])[0, 1] > 0.95
    assert set(res.nhood.columns) == {"sample_id", "a", "b", "z"}
    assert len(res.tls) == int(f["tls_count"].sum())


def test_association_finds_the_planted_response_effect_at_surgery_only(planted):
    _, _, subject, res = planted
    a = associate(res.features, subject)
    sig = a[a["significant"]]
    assert set(sig["timepoint"]) == {"surgery"}   # nothing planted at baseline
    s = a[a["timepoint"] == "surgery"].set_index("feature")
    for feat in ("tls_count", "cd8_intratumoural_fraction", "nhood_z_cd8_tumour"):
        assert s.loc[feat, "significant"] and s.loc[feat, "effect"] > 0.75, feat   # AUC: responders higher
    assert s.loc["cd8_distance_to_tumour_median", "effect"] < 0.3                   # responders' CD8 closer
    assert ((a["q_value"] >= a["p_value"]) | a["p_value"].isna()).all()
    assert s.loc["tls_count", "n"] == N and s.loc["tls_count", "n_positive"] == N // 2


def test_null_cohort_gives_no_fdr_significant_result(reference):
    slides, _, subject = _cohort(0.0, seed=22)
    res = spatial_features({k: v.adata for k, v in slides.items()}, reference=reference, n_perms=100, keep=False)
    a = associate(res.features, subject)
    assert a["p_value"].notna().sum() > 40
    assert not a["significant"].any(), a.sort_values("p_value").head(3)


def test_rfs_cox_association_per_sd(planted):
    """RFS planted on the TLS count (hazard ratio exp(-1) per SD of tls_count): the Cox row shows
    HR < 1 with q < 0.05, and a feature unrelated by construction is not forced significant."""
    _, _, subject, res = planted
    f = res.features[res.features["timepoint"] == "surgery"].set_index("patient_id")
    z = (f["tls_count"] - f["tls_count"].mean()) / f["tls_count"].std()
    rng = np.random.default_rng(4)
    t = rng.exponential(1.0 / np.exp(-1.0 * z.to_numpy()))
    c = rng.exponential(2.0, len(t))
    subj = subject.set_index("patient_id").assign(rfs_time=pd.Series(np.minimum(t, c), index=f.index),
                                                  rfs_event=pd.Series((t <= c).astype(int), index=f.index)).reset_index()
    a = associate(res.features, subj, responses=[], rfs=("rfs_time", "rfs_event"), feature_columns=["tls_count", "n_spots"])
    row = a[(a["timepoint"] == "surgery") & (a["feature"] == "tls_count")].iloc[0]
    assert row["test"] == "cox_wald" and row["effect"] < 1 and row["ci_high"] < 1 and row["significant"]
    assert a[a["feature"] == "n_spots"]["note"].eq("constant feature").all()  # all slides have 441 spots


def test_association_input_errors(planted):
    _, _, subject, res = planted
    with pytest.raises(OmicsInputError, match="no patient_id"):
        associate(res.features, subject.rename(columns={"patient_id": "pid"}))
    with pytest.raises(OmicsInputError, match="more than one row for patient"):
        associate(res.features, pd.concat([subject, subject.head(1)]))
    with pytest.raises(OmicsInputError, match="no endpoint column"):
        associate(res.features, subject[["patient_id"]])
    assert as_binary(pd.Series(["Yes", "no", "1", "x", None])).tolist() == [True, False, True, pd.NA, pd.NA]


def _study(tmp_path, n: int = 6):
    pid = [f"C01-{i:04d}" for i in range(1, n + 1)]
    sids = [f"{p}-SX_TU_SP" for p in pid]
    m = pd.DataFrame({"sample_id": sids, "patient_id": pid, "center_id": "C01", "collection_date": "2025-01-01",
                      "timepoint": "surgery", "tissue": "tumour", "assay": "spatial",
                      "file_ref": [f"omics/spatial/{s}.h5ad" for s in sids]})
    latent = pd.DataFrame({"patient_id": pid, "cohort": "neoadjuvant", "objective_response_latent": np.arange(n) % 2 == 0})
    study = tmp_path / "study"
    write_spatial(m, latent, {}, study, seed=1, scale=0.3)
    m.to_csv(study / "biospecimens.csv", index=False)
    subject = tmp_path / "subject.csv"
    pd.DataFrame({"patient_id": pid, "objective_response": (np.arange(n) % 2 == 0).astype(int)}).to_csv(subject, index=False)
    return study, subject, m


def test_cli_run_writes_tables_and_figures(tmp_path):
    from latc.cli import app

    study, subject, _ = _study(tmp_path)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["omics", "spatial", "run", str(study), "--out", str(out), "--subject", str(subject),
                                 "--n-perms", "50"])
    assert r.exit_code == 0, r.output
    assert "6 spatial sample(s)" in r.output and "poisson" in r.output  # the reference beside the study is used
    f = pd.read_csv(out / "tables" / "spatial_features.csv")
    assert len(f) == 6 and f["sample_id"].str.endswith("_SP").all()
    a = pd.read_csv(out / "tables" / "spatial_association.csv")
    assert set(a["endpoint"]) == {"objective_response"} and (a["n"] <= 6).all()
    for name in ("spatial_maps_classes", "spatial_maps_cd8", "spatial_nhood_enrichment"):
        assert (out / "figures" / f"{name}.svg").stat().st_size > 0 and (out / "figures" / f"{name}.png").exists()
    assert len(pd.read_csv(out / "tables" / "spatial_feature_dictionary.csv")) == len(FEATURE_DESCRIPTIONS)


def test_cli_errors_are_one_line_exit_2(tmp_path):
    from latc.cli import app

    study, subject, m = _study(tmp_path, n=3)
    (study / m["file_ref"].iloc[1]).unlink()
    r = CliRunner().invoke(app, ["omics", "spatial", "run", str(study), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "C01-0002-SX_TU_SP" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["omics", "spatial", "run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no biospecimen manifest" in r.output
    study2, _, _ = _study(tmp_path / "b", n=3)
    r = CliRunner().invoke(app, ["omics", "spatial", "run", str(study2), "--out", str(tmp_path / "o"),
                                 "--subject", str(tmp_path / "missing.parquet")])
    assert r.exit_code == 2 and "subject table" in r.output and "does not exist" in r.output
