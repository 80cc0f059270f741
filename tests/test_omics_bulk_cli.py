"""``latc synth --omics bulk_rna_seq`` then ``latc omics bulk run``: tables, DE results and figures,
with the planted QC problems found."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from latc.cli import app


@pytest.mark.slow  # ~15 s idle, ~40 s on a loaded 2-core box (pydeseq2 on ~45 + ~20 samples)
def test_bulk_cli_writes_qc_scores_de_and_figures(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["synth", "--out", str(tmp_path / "s"), "--patients", "400", "--centers", "4",
                            "--omics", "bulk_rna_seq", "--omics-scale", "0.2"])
    assert r.exit_code == 0, r.output
    truth = json.loads((tmp_path / "s" / "truth.json").read_text())["omics"]["bulk_rna_seq"]
    # the planted response genes follow the synthetic truth: name it (never a default outside the demo)
    r = runner.invoke(app, ["omics", "bulk", "run", str(tmp_path / "s" / "study"), "--out", str(tmp_path / "o"), "--no-shrink",
                            "--subject", str(tmp_path / "s" / "truth_patients.csv")])
    assert r.exit_code == 0, r.output
    out = tmp_path / "o"
    qc = pd.read_csv(out / "tables" / "bulk_qc.csv")
    assert len(qc) == truth["n_samples"]
    assert set(qc.loc[qc["outlier"], "sample_id"]) == set(truth["outlier_samples"])
    assert set(truth["sex_swapped_samples"]) <= set(qc.loc[qc["sex_mismatch"] == True, "sample_id"])  # noqa: E712
    scores = pd.read_csv(out / "tables" / "bulk_scores.csv")
    assert {"sample_id", "patient_id", "timepoint", "tissue", "tds", "erk", "immune_Cytotoxic_cells"} <= set(scores.columns)
    de = pd.read_csv(out / "tables" / "de_response.csv")
    sig = set(de.loc[de["padj"] < 0.05, "gene"])
    assert len(sig & set(truth["response_genes"])) >= 0.5 * len(truth["response_genes"])
    for stem in ("volcano_response", "scores_by_response"):
        assert (out / "figures" / f"{stem}.svg").exists() and (out / "figures" / f"{stem}.png").exists()
    assert "bulk samples; QC:" in r.output


def test_bulk_cli_reports_missing_study_cleanly(tmp_path):
    r = CliRunner().invoke(app, ["omics", "bulk", "run", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "no biospecimen manifest" in r.output and "Traceback" not in r.output
