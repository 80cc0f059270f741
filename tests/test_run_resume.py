"""`latc run --resume` (issue 17 item 3): a stage is kept only when its input, options, output and
the latc version are provably those of the recorded run; the first changed stage and every stage
after it run again. The decision (`latc._resume.plan_resume`) is tested on records built here; one
real pipeline run then checks the whole journey through the CLI."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from latc._resume import STAGE_OUTPUTS, options_key, plan_resume
from latc.manifest import output_checksum

V, DICT = "9.9.9", "d" * 64


def _folder(tmp_path: Path) -> tuple[Path, dict]:
    """A run folder with one file per stage output and the record that checksummed them."""
    stages = {}
    for stage, rel in STAGE_OUTPUTS.items():
        d = tmp_path / rel
        d.mkdir(parents=True)
        (d / f"{stage}.txt").write_text(stage)
        stages[stage] = {"output": {"path": rel, "combined": output_checksum(d)}, "parameters": {}}
    stages["validate"]["input"] = {"combined": "study-sha"}
    stages["validate"]["parameters"] = {"data_cut_used": "2026-06-30"}
    stages["analyze"]["resume_key"] = "k-analyze"
    stages["report"]["resume_key"] = "k-report"
    return tmp_path, {"latc_version": V, "dictionary": {"sha256": DICT}, "stages": stages}


def _plan(folder, record, **kw):
    args = dict(folder=folder, study_checksum="study-sha", data_cut="2026-06-30",
                keys={"analyze": "k-analyze", "report": "k-report"}, latc_version=V, dictionary_sha256=DICT)
    args.update(kw)
    return plan_resume(record, **args)


def test_everything_unchanged_keeps_every_stage(tmp_path):
    folder, rec = _folder(tmp_path)
    p = _plan(folder, rec)
    assert list(p.keep) == ["validate", "derive", "analyze", "report"] and not p.run
    assert "running nothing" in p.line()


@pytest.mark.parametrize("change, first", [
    (dict(study_checksum="other"), "validate"),                      # a study file changed
    (dict(data_cut="2026-07-01"), "validate"),                       # another data cut (or "today" moved on)
    (dict(latc_version="9.9.10"), "validate"),                       # a new release may derive differently
    (dict(dictionary_sha256="e" * 64), "validate"),
    (dict(keys={"analyze": "other", "report": "k-report"}), "analyze"),   # e.g. --bootstrap 200
    (dict(keys={"analyze": "k-analyze", "report": "other"}), "report"),   # e.g. --no-pdf
])
def test_the_first_changed_stage_and_every_later_one_run(tmp_path, change, first):
    folder, rec = _folder(tmp_path)
    p = _plan(folder, rec, **change)
    order = ["validate", "derive", "analyze", "report"]
    assert list(p.run) == order[order.index(first):] and list(p.keep) == order[:order.index(first)]
    assert p.run[first] and all(p.run[s] == f"{order[i - 1]} runs again"
                                for i, s in enumerate(order) if s in p.run and s != first)


def test_the_reason_names_the_options_that_changed(tmp_path):
    """"the report options differ" alone sent the tester looking for which one (2026-12-05)."""
    folder, rec = _folder(tmp_path)
    rec["stages"]["analyze"]["parameters"] = {"prognostic_bootstrap": 100, "caliper": 0.2, "landmarks_months": [12.0]}
    rec["stages"]["report"]["parameters"] = {"pdf": True, "png": False}
    p = _plan(folder, rec, keys={"analyze": "other", "report": "k-report"},
              options={"analyze": {"prognostic_bootstrap": 12, "caliper": 0.2, "landmarks_months": (12.0,), "n_jobs": 2}})
    assert p.run["analyze"] == "the analyze options differ from the earlier run's (prognostic_bootstrap 100 → 12)"
    p = _plan(folder, rec, keys={"analyze": "k-analyze", "report": "other"}, options={"report": {"pdf": True, "png": True}})
    assert p.run["report"].endswith("(png False → True)")
    p = _plan(folder, rec, keys={"analyze": "k-analyze", "report": "other"})  # no values: the plain reason
    assert p.run["report"] == "the report options differ from the earlier run's"


def test_an_edited_or_removed_output_runs_its_stage_again(tmp_path):
    folder, rec = _folder(tmp_path)
    (folder / "derived" / "derive.txt").write_text("edited by hand")
    p = _plan(folder, rec)
    assert list(p.keep) == ["validate"] and "derived/" in p.run["derive"]
    folder, rec = _folder(tmp_path / "b")
    (folder / "report" / "report.txt").unlink()
    assert list(_plan(folder, rec).run) == ["report"]
    # the validation summary page is written after derive: it does not count
    folder, rec = _folder(tmp_path / "c")
    (folder / "validation" / "summary.html").write_text("<html>")
    assert not _plan(folder, rec).run


def test_a_desktops_litter_in_an_output_folder_does_not_count(tmp_path):
    """Opening derived/ in Finder or tables.xlsx in LibreOffice / Excel leaves files behind; they do
    not make --resume redo a stage (tester, 2026-12-05). A file a person adds does."""
    folder, rec = _folder(tmp_path)
    (folder / "derived" / ".DS_Store").write_bytes(b"\0")
    (folder / "report" / ".~lock.tables.xlsx#").write_text("x")
    (folder / "report" / "~$tables.xlsx").write_text("x")
    (folder / "analysis" / ".cache").mkdir()
    (folder / "analysis" / ".cache" / "x").write_text("x")
    assert not _plan(folder, rec).run
    (folder / "analysis" / "NOTES.txt").write_text("a note")
    assert list(_plan(folder, rec).run) == ["analyze", "report"]


def test_stale_missing_or_foreign_entries_are_not_kept(tmp_path):
    folder, rec = _folder(tmp_path)
    assert _plan(folder, None).run["validate"] == "no earlier run record in the output folder"
    for mutate, stage in ((lambda r: r["stages"]["analyze"].update(stale="derive re-ran"), "analyze"),
                          (lambda r: r["stages"].pop("derive"), "derive"),
                          (lambda r: r["stages"]["validate"].update(recorded_in="/elsewhere"), "validate"),
                          (lambda r: r["stages"]["validate"].pop("output"), "validate")):
        r = copy.deepcopy(rec)
        mutate(r)
        assert next(iter(_plan(folder, r).run)) == stage


def test_options_key_ignores_speed_only_options():
    from latc.analysis import AnalysisOptions

    assert options_key({"a": 1, "n_jobs": 2}) == options_key({"a": 1, "n_jobs": 1}) == options_key({"a": 1})
    assert options_key(AnalysisOptions()) != options_key(AnalysisOptions(prognostic_bootstrap=7))


def test_run_resume_end_to_end(tmp_path):
    """Run, then --resume unchanged (nothing runs, outputs untouched), then --resume with another
    analysis option (validate and derive kept, analyze and report run with it)."""
    from latc.cli import app
    from latc.synth import write_synthetic_study

    synth = write_synthetic_study(tmp_path / "s", n_patients=120, n_centers=3, seed=4)
    cut = json.loads(Path(synth.truth_path).read_text())["data_cut"]
    out = tmp_path / "run"
    base = ["run", str(synth.study_path), "--out", str(out), "--data-cut", cut, "--no-pdf", "--bootstrap", "10",
            "-m", "2", "--quiet"]
    runner = CliRunner()
    r = runner.invoke(app, base)
    assert r.exit_code == 0, r.output
    results = out / "analysis" / "results.json"
    mtimes = {p: p.stat().st_mtime_ns for p in (results, out / "derived" / "subject.parquet",
                                                 out / "report" / "report.html")}
    r = runner.invoke(app, base + ["--resume"])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert "kept validate, derive, analyze, report" in flat and "running nothing" in flat
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    rec = json.loads((out / "manifest.json").read_text())
    assert rec["resumed"]["kept"] == ["validate", "derive", "analyze", "report"] and rec["resumed"]["ran"] == {}
    r = runner.invoke(app, base[:-5] + ["--bootstrap", "12", "-m", "2", "--quiet", "--resume"])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert "kept validate, derive" in flat and "running analyze, report" in flat and "options differ" in flat
    rec = json.loads((out / "manifest.json").read_text())
    assert rec["parameters"]["analyze"]["prognostic_bootstrap"] == 12
    assert not any(e.get("stale") for e in rec["stages"].values())
    assert (out / "derived" / "subject.parquet").stat().st_mtime_ns == mtimes[out / "derived" / "subject.parquet"]
    assert results.stat().st_mtime_ns != mtimes[results]
    assert date.fromisoformat(rec["stages"]["validate"]["parameters"]["data_cut_used"]) == date.fromisoformat(cut)
