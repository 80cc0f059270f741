"""`latc derive` end to end (typer CliRunner): from a raw study, from a validation folder, from a
`latc run` output folder; unusable arguments exit with code 2 and one line."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from latc.cli import app
from latc.synth import write_synthetic_study

runner = CliRunner()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn")
    return write_synthetic_study(out, n_patients=150, n_centers=4, seed=9)


def test_derive_from_raw_study_and_from_its_validation_folder(synthetic, tmp_path):
    cut = json.loads(synthetic.truth_path.read_text())["data_cut"]
    r1 = runner.invoke(app, ["derive", str(synthetic.study_path), "--out", str(tmp_path / "a"), "--data-cut", cut])
    assert r1.exit_code == 0, r1.output
    assert "raw study" in r1.output and "analysis set" in r1.output
    derived = tmp_path / "a" / "derived"
    for name in ("subject", "response", "tumour", "tte", "ae", "metadata", "problems"):
        assert (derived / f"{name}.csv").exists(), name
    assert (tmp_path / "a" / "validation" / "clean" / "patients.parquet").exists()

    # the validation folder: detected, data cut taken from its summary.json
    r2 = runner.invoke(app, ["derive", str(tmp_path / "a" / "validation"), "--out", str(tmp_path / "b")])
    assert r2.exit_code == 0, r2.output
    assert "validated tables" in r2.output and f"data cut {cut}" in r2.output
    a = pd.read_csv(derived / "subject.csv", dtype=str)
    b = pd.read_csv(tmp_path / "b" / "derived" / "subject.csv", dtype=str)
    pd.testing.assert_frame_equal(a, b)
    subj = pd.read_parquet(derived / "subject.parquet")
    assert len(subj) == synthetic.counts["patients"]


def test_latc_run_writes_derived_and_derive_reads_its_output_folder(synthetic, tmp_path):
    cut = json.loads(synthetic.truth_path.read_text())["data_cut"]
    run_out = tmp_path / "run"
    r = runner.invoke(app, ["run", str(synthetic.study_path), "--out", str(run_out), "--data-cut", cut])
    assert r.exit_code == 0, r.output
    manifest = json.loads((run_out / "manifest.json").read_text())
    assert manifest["outputs"]["derived"] == "derived/"
    assert "derive" in manifest["timings_seconds"]
    assert manifest["counts"]["derived"]["subjects"] == synthetic.counts["patients"]
    assert manifest["parameters"]["derive"]["response_source"] == "computed"
    assert "derived datasets" in (run_out / "validation" / "summary.html").read_text()
    # `latc derive RUN_OUT` finds RUN_OUT/validation and reproduces the run's datasets
    r2 = runner.invoke(app, ["derive", str(run_out), "--out", str(tmp_path / "again"), "--response-source", "investigator"])
    assert r2.exit_code == 0, r2.output
    a = pd.read_parquet(run_out / "derived" / "subject.parquet")
    b = pd.read_parquet(tmp_path / "again" / "derived" / "subject.parquet")
    assert a["patient_id"].tolist() == b["patient_id"].tolist()
    assert a["analysis_set"].equals(b["analysis_set"])
    assert set(b["response_source"].dropna()) <= {"computed", "investigator"}
    assert json.loads((tmp_path / "again" / "derived" / "parameters.json").read_text())["parameters"]["response_source"] == "investigator"


@pytest.mark.parametrize("args, message", [
    (["derive", "/no/such/study", "--out", "X"], "not found"),
    (["derive", ".", "--out", "X", "--response-source", "central"], "--response-source"),
    (["derive", ".", "--out", "X", "--time-zero", "birth"], "--time-zero"),
    (["derive", ".", "--out", "X", "--data-cut", "30/06/2026"], "--data-cut"),
])
def test_unusable_arguments_exit_2_with_one_line(args, message, tmp_path):
    args = [a if a != "X" else str(tmp_path / "x") for a in args]
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output
