"""The bioinformatician's journey through the real CLI (issue 19): `latc synth` → `latc omics sc run`
before any `latc derive` (outcome analyses skipped, clearly, never from the synthetic truth) →
`latc derive` → `latc omics sc stats` (statistics only, from the saved adata.h5ad, outcomes from
derive's subject table by default) → `latc omics flow run` on the derive output folder.

One synthetic study and one full single-cell run are shared by every test (and by both xdist
workers, through a lock), so the file stays near a minute on two cores.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from latc.cli import app

runner = CliRunner()

#: library warning text that must never reach the user's terminal (it goes to OUT/warnings.log)
NOISE = ("FutureWarning", "DeprecationWarning", "Pandas4Warning", "UserWarning", "Numba", "numba", "WARNING:",
         "anndata/", "site-packages")


def _invoke(*args: str):
    t0 = time.perf_counter()
    r = runner.invoke(app, list(args))
    r.seconds = time.perf_counter() - t0
    assert r.exit_code == 0, r.output
    return r


def _quiet(r) -> None:
    for word in NOISE:
        assert word not in r.stderr, (word, r.stderr)
        assert word not in r.stdout, (word, r.stdout)


def _build(root: Path) -> dict:
    s = root / "s"
    _invoke("synth", "--out", str(s), "--patients", "60", "--centers", "2", "--seed", "3",
            "--omics", "scrna_seq,flow", "--omics-scale", "0.3")
    full = root / "sc_full"
    # the first run, before any `latc derive`: truth_patients.csv lies beside the study, no subject table
    r = _invoke("omics", "sc", "run", str(s / "study"), "--out", str(full), "--correction", "pc_centering",
                "--no-doublets", "--no-figures")
    (root / "sc_full.stdout").write_text(r.stdout)
    (root / "sc_full.stderr").write_text(r.stderr)
    # then derive, writing s/derived beside s/study (and making s a `latc derive` output folder)
    _invoke("derive", str(s / "study"), "--out", str(s))
    info = {"s": str(s), "full": str(full), "full_seconds": r.seconds}
    (root / "journey.json").write_text(json.dumps(info))
    return info


@pytest.fixture(scope="module")
def journey(tmp_path_factory, worker_id):
    """The shared study and first sc run (built once per test session, whichever worker comes first)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if worker_id != "master" else base) / "omics_journey"
    root.mkdir(exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            done = root / "journey.json"
            info = json.loads(done.read_text()) if done.is_file() else _build(root)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    info = {k: Path(v) if isinstance(v, str) else v for k, v in info.items()}
    info["root"] = root
    return info


def _copy_run(journey, tmp_path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(journey["full"], dst)
    return dst


def _subject(journey) -> pd.DataFrame:
    return pd.read_parquet(journey["s"] / "derived" / "subject.parquet")


def _expected_n(features: pd.DataFrame, subject: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Per (tissue, timepoint): patients with a sample there and known values of ``columns``."""
    known = set(subject.loc[subject[columns].notna().all(axis=1), "patient_id"].astype(str))
    f = features.assign(patient_id=features["patient_id"].astype(str))
    return f[f["patient_id"].isin(known)].groupby(["tissue", "timepoint"])["patient_id"].nunique()


def test_without_a_subject_table_outcomes_are_skipped_clearly_never_from_truth(journey):
    full = journey["full"]
    assert (journey["s"] / "truth_patients.csv").is_file()            # the truth was right there …
    out = (journey["root"] / "sc_full.stdout").read_text()
    err = (journey["root"] / "sc_full.stderr").read_text()
    flat = " ".join(out.split())
    assert "no subject table: response and RFS analyses skipped" in flat and "latc derive" in flat
    assert "truth" not in " ".join(out.split()).replace("synthetic truth file is never used", "")
    rec = json.loads((full / "run.json").read_text())
    assert rec["outcomes"]["subject"] is None and rec["outcomes"]["synthetic_truth"] is False
    assert not (full / "tables" / "associations.csv").exists()       # … and was not used
    skipped = pd.read_csv(full / "skipped.csv")
    assert skipped.loc[skipped["analysis"] == "associations", "reason"].str.contains("no subject table").all()
    assert skipped["analysis"].eq("da_response").any()
    a = ad.read_h5ad(full / "adata.h5ad")
    assert "response" not in a.obs and set(a.obs["cohort"].astype(str)) <= {"neoadjuvant", "upfront_surgery"}
    # --no-figures: none written, none promised; progress on stderr, library noise in warnings.log only
    assert not (full / "figures").exists() and "figure" not in out.lower()
    assert "QC: " in err and "normalise, PCA" in err and "warnings.log" in err
    for word in NOISE:
        assert word not in err and word not in out, word
    assert (full / "warnings.log").stat().st_size > 0
    assert {"command", "parameters", "inputs", "software", "timings_seconds"} <= set(rec)
    assert rec["inputs"]["manifest"]["sha256"] and len(rec["inputs"]["data_files"]["files"]) == rec["counts"]["n_samples"]


def test_stats_rerun_uses_derive_subject_by_default_without_redoing_the_embedding(journey, tmp_path):
    full = journey["full"]
    out = _copy_run(journey, tmp_path, "stats")
    r = _invoke("omics", "sc", "stats", str(out))
    _quiet(r)
    flat = " ".join(r.stdout.split())
    subject_path = journey["s"] / "derived" / "subject.parquet"
    assert f"outcomes from {subject_path}" in flat and "found beside the study folder" in flat
    # statistics only: no QC, no embedding — and the embedding in the h5ad is the earlier one
    assert "QC: " not in r.stderr and "normalise, PCA" not in r.stderr and "pseudobulk" in r.stderr
    rec = json.loads((out / "run.json").read_text())
    assert rec["steps"] == ["read_h5ad", "statistics", "tcr"] and "process" not in rec["timings_seconds"]
    assert rec["parameters"]["statistics_only"] is True
    first = json.loads((full / "run.json").read_text())
    assert sum(rec["timings_seconds"].values()) < first["timings_seconds"]["process"]
    a0, a1 = ad.read_h5ad(full / "adata.h5ad"), ad.read_h5ad(out / "adata.h5ad")
    for key in ("X_umap", "X_pca_corrected"):
        np.testing.assert_array_equal(a0.obsm[key], a1.obsm[key])
    assert a0.obs_names.equals(a1.obs_names) and (a0.obs["cell_type"] == a1.obs["cell_type"]).all()
    # the statistics that do not involve the outcomes are the full run's, to the last digit
    for name in ("composition", "da_paired", "features", "feature_changes", "qc_summary"):
        p0, p1 = full / "tables" / f"{name}.csv", out / "tables" / f"{name}.csv"
        if p0.stat().st_size > 1:
            pd.testing.assert_frame_equal(pd.read_csv(p0), pd.read_csv(p1))
    # paired pseudobulk DE does not depend on the outcomes either: reused, not refitted
    assert rec["parameters"]["paired_de_reused"] is True
    def paired_skips(folder):
        sk = pd.read_csv(folder / "skipped.csv", dtype=str, keep_default_na=False)
        return sk[(sk["analysis"] == "pseudobulk_de") & ~sk["contrast"].str.contains("response")].reset_index(drop=True)

    assert len(paired_skips(full))
    pd.testing.assert_frame_equal(paired_skips(full), paired_skips(out))
    de0 = full / "tables" / "pseudobulk_de.csv"
    if de0.stat().st_size > 1:  # a study this small may have no cell type with 3 pairs
        de1 = pd.read_csv(out / "tables" / "pseudobulk_de.csv")
        paired = de1[de1["contrast"].str.endswith("(~ patient_id + timepoint)")].reset_index(drop=True)
        pd.testing.assert_frame_equal(pd.read_csv(de0), paired)
    # response and RFS analyses from derive's subject: n = patients with a sample and an outcome
    subject = _subject(journey)
    assoc = pd.read_csv(out / "tables" / "associations.csv")
    feats = pd.read_csv(out / "tables" / "features.csv")
    for columns, test in ((["objective_response"], "response (Mann-Whitney)"),
                          (["rfs_time_months", "rfs_event"], "RFS (Cox, per SD)")):
        got = assoc[(assoc["test"] == test) & (assoc["timepoint"].isin(["baseline", "surgery", "on_treatment"]))]
        assert len(got), test
        want = _expected_n(feats, subject, columns)
        n = got.groupby(["tissue", "timepoint"])["n"].max()
        assert n.to_dict() == want.reindex(n.index, fill_value=0).to_dict(), (test, n, want)
    assert set(assoc.loc[assoc["test"].str.startswith("response"), "outcome"]) == {"objective_response"}
    # obs carries cohort, response and timepoint for colouring the UMAP (figure written)
    obs = a1.obs
    assert {"cohort", "response", "timepoint"} <= set(obs.columns)
    s = subject.set_index(subject["patient_id"].astype(str))
    want_resp = obs["patient_id"].astype(str).map(s["objective_response"].map({True: "responder", False: "non_responder"}))
    assert (obs["response"].astype(object).fillna("-") == want_resp.astype(object).fillna("-")).all()
    assert obs["response"].notna().any()
    assert (obs["cohort"].astype(str) == obs["patient_id"].astype(str).map(s["cohort"].astype(str))).all()
    assert (out / "figures" / "umap_by_outcome.svg").stat().st_size > 1000


def test_run_calls_malignant_cells_and_reads_the_tcr_files_beside_the_libraries(journey, tmp_path):
    """Issue 16 items 2 and 3 wired into `latc omics sc run`: the malignant call and the V(D)J files
    written by `latc synth` beside each library reach the tables, tcr.h5ad and run.json; the
    statistics-only re-run keeps the clonotypes and redoes the TCR associations with the outcomes."""
    full = journey["full"]
    s = journey["s"]
    truth = json.loads((s / "truth.json").read_text())["omics"]["scrna_seq"]
    vdj = sorted((s / "study" / "omics" / "scrna_seq").glob("*_filtered_contig_annotations.csv"))
    assert len(vdj) == truth["n_samples_written"] and truth["tcr"]
    a = ad.read_h5ad(full / "adata.h5ad")
    m = pd.read_csv(full / "tables" / "malignant_summary.csv")
    # the summary counts are the AnnData's calls, sample by sample
    calls = pd.crosstab(a.obs["sample_id"].astype(str), a.obs["malignant"].astype(str))
    got = m.set_index("sample_id")
    assert got["n_malignant"].to_dict() == calls.reindex(got.index).get("malignant", 0).fillna(0).astype(int).to_dict()
    assert (got["n_epithelial"] == got[["n_malignant", "n_normal", "n_undetermined"]].sum(axis=1)).all()
    # the planted clones are found: called-malignant cells are mostly truly malignant ones
    if "true_malignant" in a.obs and (a.obs["malignant"] == "malignant").sum() >= 20:
        called = a.obs["malignant"] == "malignant"
        assert a.obs.loc[called, "true_malignant"].astype(bool).mean() > 0.8
    seg = pd.read_csv(full / "tables" / "cnv_segments.csv")
    assert list(seg.columns[:5]) == ["patient_id", "chromosome", "start", "end", "kind"]
    assert set(seg["kind"]) <= {"gain", "loss"}
    # TCR: every library's V(D)J file read, checksummed in run.json, clonotypes in tables and obs
    rec = json.loads((full / "run.json").read_text())
    assert len(rec["inputs"]["vdj_files"]["files"]) == len(vdj) and "tcr" in rec["steps"]
    feats = pd.read_csv(full / "tables" / "tcr_features.csv")
    assert set(feats["sample_id"]) <= set(a.obs["sample_id"].astype(str)) and len(feats) == len(vdj)
    assert (full / "tcr.h5ad").is_file() and a.obs["tcr_clone_id"].notna().any()
    skipped = pd.read_csv(full / "skipped.csv", dtype=str, keep_default_na=False)
    assert not skipped["analysis"].eq("tcr").any() and not skipped["analysis"].eq("malignant").any()
    assert not (full / "tables" / "tcr_associations.csv").exists()   # no subject table in the first run
    out = (journey["root"] / "sc_full.stdout").read_text()
    assert "malignant cells:" in out and "TCR:" in out
    # statistics only: clonotypes and the malignant call unchanged, associations now with derive's outcomes
    rerun = _copy_run(journey, tmp_path, "tcr_stats")
    r = _invoke("omics", "sc", "stats", str(rerun), "--no-figures")
    _quiet(r)
    for name in ("tcr_clones", "tcr_features", "tcr_overlap", "tcr_qc", "malignant_summary", "cnv_segments"):
        pd.testing.assert_frame_equal(pd.read_csv(full / "tables" / f"{name}.csv"),
                                      pd.read_csv(rerun / "tables" / f"{name}.csv"), check_dtype=False)
    ta = pd.read_csv(rerun / "tables" / "tcr_associations.csv")
    assert len(ta) and set(ta["outcome"]) >= {"objective_response"}
    assert (rerun / "tcr.h5ad").is_file()


def test_stats_with_named_outcome_columns_and_one_line_errors(journey, tmp_path):
    out = _copy_run(journey, tmp_path, "named")
    subject = _subject(journey)
    custom = subject[["patient_id", "cohort", "mpr", "rfs_time_days", "rfs_event"]].rename(
        columns={"mpr": "major_response", "rfs_time_days": "days", "rfs_event": "relapsed"})
    custom.to_csv(tmp_path / "my_subject.csv", index=False)
    r = _invoke("omics", "sc", "stats", str(out), "--subject", str(tmp_path / "my_subject.csv"),
                "--response-column", "major_response", "--time-column", "days", "--event-column", "relapsed",
                "--no-figures")
    _quiet(r)
    assoc = pd.read_csv(out / "tables" / "associations.csv")
    assert set(assoc["outcome"]) == {"major_response", "rfs (days, relapsed)"}
    rec = json.loads((out / "run.json").read_text())
    assert rec["outcomes"]["response_columns"] == ["major_response"] and rec["outcomes"]["time_column"] == "days"
    obs = ad.read_h5ad(out / "adata.h5ad").obs
    n_known = subject.loc[subject["patient_id"].astype(str).isin(obs["patient_id"].astype(str)), "mpr"].notna().sum()
    assert obs.loc[obs["response"].notna(), "patient_id"].nunique() == n_known
    bad = runner.invoke(app, ["omics", "sc", "stats", str(out), "--subject", str(tmp_path / "my_subject.csv"),
                              "--response-column", "objective_response"])
    assert bad.exit_code == 2 and "no column 'objective_response' (--response-column)" in " ".join(bad.output.split())
    assert "Traceback" not in bad.output


def test_flow_on_a_derive_output_folder_reads_its_subject_table(journey, tmp_path):
    out = tmp_path / "flow"
    r = _invoke("omics", "flow", "run", str(journey["s"]), "--out", str(out), "--no-figures")
    _quiet(r)
    flat = " ".join(r.stdout.split())
    assert "STUDY is a `latc derive`/`latc run` output" in flat and "figures/" not in flat
    wide = pd.read_csv(out / "tables" / "flow_populations.csv")
    assoc = pd.read_csv(out / "tables" / "flow_association.csv")
    subject = _subject(journey)
    for endpoint, columns in (("objective_response", ["objective_response"]),
                              ("rfs (rfs_time_months, rfs_event)", ["rfs_time_months", "rfs_event"])):
        got = assoc[assoc["endpoint"] == endpoint].groupby(["tissue", "timepoint"])["n"].max()
        want = _expected_n(wide, subject, columns)
        assert len(got) and got.to_dict() == want.reindex(got.index, fill_value=0).to_dict(), endpoint
    assert not (out / "figures").exists()
    rec = json.loads((out / "run.json").read_text())
    assert Path(rec["inputs"]["data_root"]) == (journey["s"] / "study").resolve()


def test_refused_samples_csv_is_part_of_every_layout_and_never_stale(tmp_path):
    """One layout: OUT/refused_samples.csv is written even when every sample was analysed (header
    only, like skipped.csv) — before, it was absent then, and a re-run into the same OUT left the
    earlier run's refusals in place."""
    from latc.omics._session import omics_session

    out = tmp_path / "out"
    out.mkdir()
    (out / "refused_samples.csv").write_text("sample_id,assay,file_ref,rule,message\nS1,flow,../x.fcs,path,old run\n")
    with omics_session(out):
        pass
    df = pd.read_csv(out / "refused_samples.csv")
    assert list(df.columns) == ["sample_id", "assay", "file_ref", "rule", "message"] and df.empty
    never = tmp_path / "not_created"
    with omics_session(never):
        pass
    assert not never.exists()


def test_strict_stops_on_a_bad_vdj_file_before_processing(journey, tmp_path):
    """`--strict` checks the V(D)J files right after reading the libraries: a bad contig file stops
    the run before the minutes of QC and embedding, not after them (tester, 2026-12-05)."""
    from latc.omics import OmicsInputError
    from latc.omics.sc import run_study

    study = tmp_path / "study"
    shutil.copytree(journey["s"] / "study", study)
    vdj = sorted((study / "omics" / "scrna_seq").glob("*_filtered_contig_annotations.csv"))[0]
    df = pd.read_csv(vdj, dtype=str, keep_default_na=False)
    df.loc[3, "chain"] = "XYZ"
    df.to_csv(vdj, index=False)
    from latc.omics import load_manifest

    m = load_manifest(study)
    m = m[[(study / str(ref)).is_file() for ref in m["file_ref"]]]  # the synthetic study also plants missing files
    seen: list[str] = []
    with pytest.raises(OmicsInputError, match=rf"{vdj.name}: line 5: field chain"):
        run_study(study, tmp_path / "out", manifest=m, strict=True, progress=seen.append, figures=False)
    assert seen[-1] == "checking the V(D)J files (--strict)"  # nothing of the processing ran
