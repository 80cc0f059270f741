"""Synthetic ultrasound / H&E writers → ``run_imaging`` / ``latc omics imaging run``: planted
truths recovered, files and parameters written, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from latc.cli import app
from latc.omics import OmicsInputError, check_sample_metadata
from latc.omics.imaging import run_imaging
from latc.omics.imaging._synth import write_he_slide, write_ultrasound

PATIENTS = [f"C01-{i:04d}" for i in range(1, 7)]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    latent = pd.DataFrame({"patient_id": PATIENTS, "response_latent": [-3.0, -1.5, -0.5, 0.5, 1.5, 3.0],
                           "depth_pct": [15.0, 5.0, -20.0, -40.0, -60.0, -85.0]})
    latent["objective_response_latent"] = latent["response_latent"] > 0
    latent["objective_response"] = latent["objective_response_latent"].map({True: "1", False: "0"})
    rows = []
    for p in PATIENTS:
        for tp, code in (("baseline", "BL"), ("on_treatment", "OT")):
            rows.append((f"{p}-{code}_TU_US", p, tp, "tumour", "ultrasound", "png"))
        rows.append((f"{p}-SX_TU_HE", p, "surgery", "tumour", "he_slide", "tif"))
    m = pd.DataFrame(rows, columns=["sample_id", "patient_id", "timepoint", "tissue", "assay", "ext"])
    m["center_id"] = "C01"
    m["file_ref"] = "omics/" + m["assay"] + "/" + m["sample_id"] + "." + m["ext"]
    m = m.drop(columns="ext")
    # one pending sample (no file written) to exercise the skip / strict paths
    pending = pd.DataFrame([{"sample_id": "C01-0099-BL_TU_US", "patient_id": "C01-0099", "timepoint": "baseline",
                             "tissue": "tumour", "assay": "ultrasound", "center_id": "C01",
                             "file_ref": "omics/ultrasound/C01-0099-BL_TU_US.png"}])
    import latc.omics.imaging._synth as S

    old = (S.US_PATIENTS, S.HE_PATIENTS)
    S.US_PATIENTS = S.HE_PATIENTS = len(PATIENTS)
    try:
        t_us = write_ultrasound(m[m.assay == "ultrasound"], latent, {}, root, seed=5)
        t_he = write_he_slide(m[m.assay == "he_slide"], latent, {}, root, seed=5)
    finally:
        S.US_PATIENTS, S.HE_PATIENTS = old
    pd.concat([m, pending]).to_csv(root / "biospecimens.csv", index=False)
    subject = latent[["patient_id", "objective_response"]]
    return root, t_us, t_he, subject


def test_writers_create_images_masks_and_truth(study):
    root, t_us, t_he, _ = study
    assert t_us["n_files"] == 12 and t_he["n_files"] == 6
    for s in t_us["samples"]:
        assert (root / "omics/ultrasound" / f"{s['sample_id']}.png").exists()
        assert (root / "omics/ultrasound" / f"{s['sample_id']}_mask.png").exists()
    json.dumps(t_us) and json.dumps(t_he)


def test_determinism(study, tmp_path):
    root, t_us, _, _ = study
    m = pd.read_csv(root / "biospecimens.csv", dtype=str)
    m = m[m.patient_id.isin(PATIENTS)]
    latent = pd.DataFrame({"patient_id": PATIENTS, "response_latent": 0.0, "depth_pct": 0.0,
                           "objective_response_latent": False})
    a = write_ultrasound(m[m.assay == "ultrasound"], latent, {}, tmp_path / "a", seed=9, scale=0.1)
    b = write_ultrasound(m[m.assay == "ultrasound"], latent, {}, tmp_path / "b", seed=9, scale=0.1)
    assert a == b
    f = a["samples"][0]["sample_id"]
    pa = (tmp_path / "a/omics/ultrasound" / f"{f}.png").read_bytes()
    assert pa == (tmp_path / "b/omics/ultrasound" / f"{f}.png").read_bytes()


@pytest.fixture(scope="module")
def result(study, tmp_path_factory):
    root, _, _, subject = study
    out = tmp_path_factory.mktemp("out")
    return run_imaging(root, out, subject=subject), out


def test_run_writes_tables_parameters_and_figures(result):
    r, out = result
    for name in ("tables/radiomics.csv", "tables/delta_radiomics.csv", "tables/histology.csv", "tables/histology_tiles.csv",
                 "radiomics_parameters.json", "histology_parameters.json", "tables/association.csv", "missing_files.csv",
                 "run.json", "skipped.csv"):
        assert (out / name).exists(), name
    params = json.loads((out / "radiomics_parameters.json").read_text())
    assert params["discretisation"] == "fixed_bin_number" and params["n_bins"] == 32
    assert len(list((out / "figures").glob("*.svg"))) == 4 and len(list((out / "figures").glob("*.png"))) == 4
    assert list(pd.read_csv(out / "missing_files.csv").sample_id) == ["C01-0099-BL_TU_US"]
    assert len(r.radiomics) == 12 and len(r.histology) == 6
    assert (r.radiomics.spacing_source == "file").all() and np.allclose(r.radiomics.spacing_mm, 0.2)


def test_planted_lesion_shrinkage_is_recovered(result, study):
    r, _ = result
    _, t_us, _, _ = study
    truth = pd.DataFrame(t_us["samples"]).set_index("sample_id")
    area = r.radiomics.set_index("sample_id")["morph_area_mm2"]
    assert np.allclose(area, truth.loc[area.index, "area_mm2"], rtol=0.02)
    d = r.delta.query("feature == 'morph_area_mm2' and from_timepoint == 'baseline' and to_timepoint == 'on_treatment'")
    planted = truth.query("timepoint == 'on_treatment'").set_index("patient_id")["radius_mm"] / \
        truth.query("timepoint == 'baseline'").set_index("patient_id")["radius_mm"]
    got = d.set_index("patient_id")["relative_change"]
    assert np.allclose(got.loc[planted.index], planted ** 2 - 1, atol=0.12)


def test_planted_heterogeneity_and_til_density_order(result, study):
    r, _ = result
    _, t_us, t_he, _ = study
    truth = pd.DataFrame(t_us["samples"]).query("timepoint == 'baseline'").set_index("sample_id")
    cov = r.radiomics.set_index("sample_id").loc[truth.index, "stat_cov"]
    assert spearmanr(cov, truth["heterogeneity"]).statistic > 0.8
    he = pd.DataFrame(t_he["samples"]).set_index("sample_id")
    dens = r.histology.set_index("sample_id").loc[he.index, "til_density_per_mm2"]
    assert spearmanr(dens, he["til_density_placed_per_mm2"]).statistic > 0.9
    assert np.allclose(dens, he["til_density_placed_per_mm2"], rtol=0.15, atol=15)


def test_strict_missing_file_and_unknown_sample(study, tmp_path):
    root, *_ = study
    with pytest.raises(OmicsInputError, match="C01-0099-BL_TU_US"):
        run_imaging(root, tmp_path, strict=True)
    with pytest.raises(OmicsInputError, match="not in the manifest: C09-0001"):
        run_imaging(root, tmp_path, sample_ids=["C09-0001-BL_TU_US"])


def test_feature_rows_with_mismatched_metadata_are_refused(result, study):
    r, _ = result
    root, *_ = study
    manifest = pd.read_csv(root / "biospecimens.csv", dtype=str)
    bad = r.radiomics.copy()
    bad.loc[0, "timepoint"] = "surgery"
    with pytest.raises(OmicsInputError, match=f"{bad.loc[0, 'sample_id']} has timepoint='surgery'"):
        check_sample_metadata(bad, manifest, what="radiomics table")
    foreign = r.radiomics.assign(sample_id="C07-0001-BL_TU_US")
    with pytest.raises(OmicsInputError, match="not in the manifest"):
        check_sample_metadata(foreign, manifest)


def test_cli_runs_and_reports_data_errors_without_traceback(study, tmp_path):
    root, *_ = study
    runner = CliRunner()
    res = runner.invoke(app, ["omics", "imaging", "run", str(root), "--out", str(tmp_path / "o"),
                              "--discretisation", "fixed_bin_size", "--bin-width", "16"])
    assert res.exit_code == 0, res.output
    assert "radiomics: 12 ultrasound samples" in res.output
    cols = pd.read_csv(tmp_path / "o" / "tables" / "radiomics.csv", nrows=0).columns
    assert any(c.endswith("_fbs_w16.0") for c in cols)
    res = runner.invoke(app, ["omics", "imaging", "run", str(root), "--out", str(tmp_path / "o2"), "--strict"])
    assert res.exit_code == 2 and "C01-0099-BL_TU_US" in res.output and "Traceback" not in res.output
