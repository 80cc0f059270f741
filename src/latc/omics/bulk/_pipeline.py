"""``latc omics bulk run``: QC, scores and DE of a study's bulk RNA-seq, written as CSV + figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, load_manifest, resolve_data_root, validated_form
from latc.omics._outcomes import Outcomes, binary_values
from latc.omics._output import Output, Progress, no_progress, write_run_json
from latc.omics import _figures
from latc.omics.bulk._de import de_paired, de_response
from latc.omics.bulk._io import read_bulk
from latc.omics.bulk._qc import sample_qc, sex_check
from latc.omics.bulk._scores import bulk_scores, normalized_log2


@dataclass
class BulkRun:
    """What a bulk run wrote and found (tables also on disk under ``out``)."""

    out: Path
    n_samples: int
    qc: pd.DataFrame
    scores: pd.DataFrame
    de: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def response_from_subject(subject: pd.DataFrame, column: str) -> pd.Series:
    """``responder`` / ``non_responder`` by patient_id from a subject-like table (booleans, 1/0,
    yes/no, true/false, the labels themselves or CR/PR/SD/PD); missing stays missing."""
    if "patient_id" not in subject or column not in subject:
        raise OmicsInputError(f"subject table needs columns patient_id and {column!r}")
    v = subject.drop_duplicates("patient_id").set_index("patient_id")[column]
    return binary_values(v).map({True: "responder", False: "non_responder"}).astype("object")


def _study_table(study_dir: Path, form: str) -> pd.DataFrame | None:
    """The validated (clean) ``form`` table of the study, or None when the study has none: a row
    that validation quarantines is not used (:func:`latc.omics._manifest.validated_form`)."""
    return validated_form(study_dir, form)


def run_bulk(study_dir: str | Path, out: str | Path, *, subject: str | Path | pd.DataFrame | Outcomes | None = None,
             response_column: str | list[str] | None = None, time_col: str | None = None, event_col: str | None = None,
             counts: str | Path | None = None,
             response_timepoint: str = "baseline", pre: str = "baseline", post: str = "surgery",
             tissue: str = "tumour", shrink: bool = True, n_cpus: int | None = None, strict: bool = True,
             data_root: str | Path | None = None, figures: bool = True, progress: Progress | None = None) -> BulkRun:
    """Read the bulk samples named by the manifest, then write to ``out`` (the omics output layout,
    :mod:`latc.omics._output`):

    * ``tables/bulk_qc.csv`` (library size, detected genes, PCA / correlation outliers, sex check);
    * ``tables/bulk_scores.csv`` (one row per sample: sample keys, TDS, ERK, BRS, immune scores,
      ``cohort`` and ``response``);
    * ``tables/de_response.csv`` — responders vs non-responders among ``tissue`` samples at
      ``response_timepoint`` (first response column); ``tables/de_paired.csv`` — ``post`` vs ``pre``
      paired by patient (``~ patient + timepoint``);
    * ``tables/bulk_association.csv`` — every score against every response column (Mann–Whitney)
      and RFS (Cox per SD), per timepoint and tissue, BH-FDR (:func:`latc.omics._associate.associate`);
    * ``adata.h5ad`` (counts, samples × genes; ``obs`` keys, QC, cohort, response);
    * ``figures/`` volcano plots and score distributions by response (SVG + 300-dpi PNG);
    * ``skipped.csv``, ``run.json``.

    Outcomes: ``subject`` (table, path or `latc derive`/`latc run` output folder), else the subject
    table found beside the study (:mod:`latc.omics._outcomes`; never the synthetic truth unless
    named). The manifest and the patients / diagnosis tables are the validated ones; ``file_ref``
    paths are relative to ``data_root`` (default: the study folder).
    """
    import time

    from latc.omics._outcomes import is_output_folder, load_outcomes, study_data_root
    from latc.omics._output import files_checksum, manifest_checksum
    from latc.omics._associate import associate

    step = progress or no_progress
    t0 = time.perf_counter()
    study_dir, out = Path(study_dir), Path(out)
    if data_root is None and is_output_folder(study_dir):
        data_root = study_data_root(study_dir)
    root = resolve_data_root(study_dir, data_root)
    step("reading the validated biospecimen manifest and the subject table")
    manifest = load_manifest(study_dir)
    o = subject if isinstance(subject, Outcomes) else load_outcomes(study_dir, subject, response=response_column,
                                                                   time=time_col, event=event_col)
    oo = Output(out)
    oo.root.mkdir(parents=True, exist_ok=True)
    step("reading the bulk RNA-seq counts")
    adata = read_bulk(manifest, root, counts=counts, strict=strict)
    notes: list[str] = []
    skipped: list[dict] = []
    miss = adata.uns.get("missing_samples", [])
    if len(miss):
        notes.append(f"{len(miss)} counts file(s) named in the manifest are absent and were skipped: {', '.join(miss[:5])}"
                     + (" …" if len(miss) > 5 else ""))

    step(f"sample QC and scores of {adata.n_obs} samples")
    qc = sample_qc(adata)
    patients = _study_table(study_dir, "patients")
    sx = sex_check(adata, patients.set_index("patient_id")["sex"] if patients is not None and "sex" in patients else None)
    qc = qc.merge(sx, on="sample_id", how="left")
    qc = adata.obs[SAMPLE_KEYS].reset_index(drop=True).merge(qc, on="sample_id")
    oo.table(qc, "bulk_qc")

    logx = normalized_log2(adata)
    braf = ras = None
    dx = _study_table(study_dir, "diagnosis")
    if dx is not None and {"braf_v600e", "ras", "histology"} <= set(dx.columns):
        d = dx.drop_duplicates("patient_id").set_index("patient_id")
        pid = adata.obs["patient_id"]
        ptc = (pid.map(d["histology"]) == "ptc").to_numpy() & (adata.obs["tissue"] == "tumour").to_numpy()
        braf = ptc & (pid.map(d["braf_v600e"]) == "positive").to_numpy()
        ras = ptc & (pid.map(d["ras"]) == "positive").to_numpy() & ~braf
        if braf.sum() < 3 or ras.sum() < 3:
            notes.append(f"BRS not computed: {int(braf.sum())} BRAF-mutant and {int(ras.sum())} RAS-mutant PTC samples (need ≥ 3 each)")
            skipped.append({"analysis": "brs", "reason": notes[-1]})
            braf = ras = None
    else:
        notes.append("BRS not computed: no diagnosis table with BRAF/RAS status to define the centroids")
        skipped.append({"analysis": "brs", "reason": notes[-1]})
    scores = bulk_scores(logx, braf_mutant=braf, ras_mutant=ras)
    score_cols = list(scores.columns)
    scores = adata.obs[SAMPLE_KEYS].join(scores).reset_index(drop=True)

    cohort = patients.drop_duplicates("patient_id").set_index("patient_id")["cohort"] \
        if patients is not None and "cohort" in patients else None
    pc = o.patient_columns(scores["patient_id"], cohort)
    for c in pc.columns:
        scores[c] = pc[c].astype("object").to_numpy()
    response = o.response_labels()
    if response is not None:
        response.index = response.index.astype(str)
    oo.table(scores, "bulk_scores")
    subj = o.frame()
    if subj is not None and (o.responses or o.has_rfs):
        step("association of the scores with the outcomes")
        assoc = associate(scores, subj, responses=o.responses, rfs=(o.time, o.event) if o.has_rfs else None,
                          feature_columns=score_cols)
        oo.table(assoc, "bulk_association")
    skipped += [{"analysis": "outcomes", "reason": s_} for s_ in o.skipped]

    de: dict[str, pd.DataFrame] = {}
    if response is not None:
        step(f"responder DE at {response_timepoint} (pydeseq2)")
        sel = ((adata.obs["timepoint"] == response_timepoint) & (adata.obs["tissue"] == tissue)).to_numpy()
        try:
            de["response"] = de_response(adata[sel].copy(), response, shrink=shrink, n_cpus=n_cpus or 1)
        except OmicsInputError as exc:
            notes.append(f"responder DE skipped: {exc}")
            skipped.append({"analysis": "de_response", "tissue": tissue, "contrast": response_timepoint, "reason": str(exc)})
        sub = scores[(scores["timepoint"] == response_timepoint) & (scores["tissue"] == tissue) & scores["response"].notna()]
        if len(sub) and figures:
            cols = [c for c in ["tds", "brs", "erk", "immune_Cytotoxic_cells", "immune_CD8_T_cells", "immune_IFNG_6"] if c in sub]
            oo.figure(_figures.distributions(sub, cols, "response", f"Scores at {response_timepoint} ({tissue}) by response",
                                             order=["non_responder", "responder"]), "scores_by_response")
    else:
        skipped.append({"analysis": "de_response", "tissue": tissue, "contrast": response_timepoint,
                        "reason": "; ".join(o.skipped) or "no response column"})
    step(f"paired DE {post} vs {pre} (pydeseq2)")
    try:
        tum = adata[(adata.obs["tissue"] == tissue).to_numpy()].copy()
        de["paired"] = de_paired(tum, pre=pre, post=post, shrink=shrink, n_cpus=n_cpus or 1)
    except OmicsInputError as exc:
        notes.append(f"paired DE skipped: {exc}")
        skipped.append({"analysis": "de_paired", "tissue": tissue, "contrast": f"{post} vs {pre}", "reason": str(exc)})
    titles = {"response": f"Responders vs non-responders ({response_timepoint}, {tissue})",
              "paired": f"{post} vs {pre}, paired by patient ({tissue})"}
    for name, res in de.items():
        oo.table(res, f"de_{name}")
        if figures:
            n_sig = int((res["padj"] < 0.05).sum())
            oo.figure(_figures.volcano(res, f"{titles[name]}: {n_sig} genes padj < 0.05"), f"volcano_{name}")
    step("writing adata.h5ad and run.json")
    a = adata.copy()
    for c in pc.columns:
        a.obs[c] = pd.Categorical(pc[c].astype("object").to_numpy())
    for k in list(a.uns):
        if not isinstance(a.uns[k], (str, int, float, dict)):
            a.uns[k] = np.asarray(a.uns[k], dtype=str)
    a.write_h5ad(oo.adata_path, compression="gzip")
    oo.files.append(oo.adata_path)
    oo.skipped(skipped)
    files = {}
    if counts is not None:
        files["counts"] = Path(counts)
    else:
        from latc.omics._manifest import samples_for

        files = {str(r_.sample_id): r_.path for r_ in samples_for(manifest, "bulk_rna_seq", root, require_files=False).itertuples()
                 if r_.exists}
    inputs = {"study": str(study_dir.resolve()), "data_root": str(Path(root).resolve()), "manifest": manifest_checksum(manifest),
              "subject": files_checksum({"subject": o.source}) if o.source and Path(o.source).is_file() else None,
              "data_files": files_checksum(files)}
    params = {"response_timepoint": response_timepoint, "pre": pre, "post": post, "tissue": tissue, "shrink": shrink,
              "n_cpus": n_cpus, "strict": strict, "figures": figures, "response_columns": o.responses,
              "time_column": o.time, "event_column": o.event}
    write_run_json(oo, command="latc omics bulk run", parameters=params, inputs=inputs, outcomes=o.record(),
                   timings={"total": time.perf_counter() - t0}, steps=["read", "qc", "scores", "de"],
                   counts={"n_samples": int(adata.n_obs), "n_genes": int(adata.n_vars)})
    notes = [o.message()] + notes
    return BulkRun(out=out, n_samples=adata.n_obs, qc=qc, scores=scores, de=de, files=list(oo.files) + [oo.run_json],
                   notes=[n for n in notes if n])
