"""``latc synth --omics flow`` then ``latc omics flow run``: every synthetic FCS file is gated and the
per-sample frequencies match the planted (label-derived) truth."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from latc.cli import app


def test_flow_cli_recovers_the_planted_frequencies_of_every_sample(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["synth", "--out", str(tmp_path / "s"), "--patients", "100", "--centers", "3",
                            "--omics", "flow", "--omics-scale", "0.5"])
    assert r.exit_code == 0, r.output
    truth = json.loads((tmp_path / "s" / "truth.json").read_text())["omics"]["flow"]
    r = runner.invoke(app, ["omics", "flow", "run", str(tmp_path / "s" / "study"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "flow samples gated" in r.output
    w = pd.read_csv(tmp_path / "o" / "tables" / "flow_populations.csv").set_index("sample_id")
    assert len(w) == truth["n_samples"] > 0
    worst = 0.0
    for sid, t in truth["samples"].items():
        for pop, pct in t["percent_of_parent"].items():
            worst = max(worst, abs(w.loc[sid, f"{pop}_pct_parent"] - pct))
    print(f"largest gating error over {len(w)} samples × 9 populations: {worst:.2f} percentage points")
    assert worst < 3.0
    assert (tmp_path / "o" / "figures" / "flow_populations_by_timepoint.svg").exists()
    assert (tmp_path / "o" / "figures" / "flow_populations_by_timepoint.png").exists()


def test_flow_cli_reports_a_missing_fcs_file_without_traceback(tmp_path):
    (tmp_path / "study").mkdir()
    pd.DataFrame([{"sample_id": "C01-0001-BL_PB_FL", "patient_id": "C01-0001", "center_id": "C01",
                   "timepoint": "baseline", "tissue": "blood", "assay": "flow",
                   "file_ref": "omics/flow/C01-0001-BL_PB_FL.fcs"}]).to_csv(tmp_path / "study" / "biospecimens.csv", index=False)
    r = CliRunner().invoke(app, ["omics", "flow", "run", str(tmp_path / "study"), "--out", str(tmp_path / "o"), "--strict"])
    assert r.exit_code == 2
    assert "C01-0001-BL_PB_FL → omics/flow/C01-0001-BL_PB_FL.fcs" in r.output
    assert "Traceback" not in r.output
