"""End to end: `latc synth --omics scrna_seq` → `latc omics sc run` (QC, annotation, DA, pseudobulk,
features, figures) and its one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from latc.cli import app

runner = CliRunner()


def test_missing_study_is_a_one_line_error(tmp_path):
    r = runner.invoke(app, ["omics", "sc", "run", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "study folder not found" in r.output and "Traceback" not in r.output


def test_missing_file_with_strict_names_the_sample(tmp_path):
    study = tmp_path / "study"
    study.mkdir()
    pd.DataFrame([{"sample_id": "C01-0001-BL_TU_SC", "patient_id": "C01-0001", "center_id": "C01",
                   "collection_date": "2024-01-01", "timepoint": "baseline", "tissue": "tumour",
                   "assay": "scrna_seq", "file_ref": "omics/scrna_seq/C01-0001-BL_TU_SC.h5ad"}]).to_csv(
        study / "biospecimens.csv", index=False)
    r = runner.invoke(app, ["omics", "sc", "run", str(study), "--out", str(tmp_path / "o"), "--strict"])
    assert r.exit_code == 2 and "C01-0001-BL_TU_SC" in r.output
    r = runner.invoke(app, ["omics", "sc", "run", str(study), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no scrna_seq file found" in r.output


@pytest.mark.slow
def test_synth_then_run_recovers_planted_effects(tmp_path):
    out = tmp_path / "synth"
    r = runner.invoke(app, ["synth", "--out", str(out), "-n", "300", "--omics", "scrna_seq", "--seed", "3"])
    assert r.exit_code == 0, r.output
    truth = json.loads((out / "truth.json").read_text())["omics"]["scrna_seq"]
    assert truth["n_samples_written"] == len(list((out / "study/omics/scrna_seq").glob("*.h5ad")))
    # the planted effects follow the synthetic truth: name it (never a default outside the demo)
    r = runner.invoke(app, ["omics", "sc", "run", str(out / "study"), "--out", str(tmp_path / "res"),
                            "--subject", str(out / "truth_patients.csv")])
    assert r.exit_code == 0, r.output
    d = tmp_path / "res"
    for name in ("composition", "da_paired", "pseudobulk_de", "features", "associations", "qc_summary"):
        assert (d / "tables" / f"{name}.csv").exists(), name
    assert (d / "adata.h5ad").exists() and (d / "figures" / "umap_cell_type.svg").exists()
    import anndata as ad

    a = ad.read_h5ad(d / "adata.h5ad")
    assert {"cell_type", "lineage", "sample_id", "patient_id", "timepoint", "tissue"} <= set(a.obs.columns)
    qc = pd.read_csv(d / "tables" / "qc_summary.csv")
    assert (qc["n_doublets"] + qc["n_low_quality"]).sum() > 0
    de = pd.read_csv(d / "tables" / "pseudobulk_de.csv")
    e = truth["expression_effects"]
    hits = de[(de["cell_type"] == "cd8_t_effector") & (de["padj"] < 0.05)]["gene"]
    assert len(set(hits) & (set(e["de_genes_up"]) | set(e["de_genes_down"]))) >= 5
