"""``latc omics bulk run``: QC, scores and DE of a study's bulk RNA-seq, written as CSV + figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, load_manifest, resolve_data_root, validated_form
from latc.omics.bulk import _figures
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
    """``responder`` / ``non_responder`` by patient_id from a subject-like table (1/0, yes/no,
    true/false or the labels themselves); other values are missing."""
    if "patient_id" not in subject or column not in subject:
        raise OmicsInputError(f"subject table needs columns patient_id and {column!r}")
    v = subject.drop_duplicates("patient_id").set_index("patient_id")[column].astype(str).str.strip().str.lower()
    lab = v.map(lambda s: "responder" if s in {"1", "1.0", "true", "yes", "responder"} else
                "non_responder" if s in {"0", "0.0", "false", "no", "non_responder"} else None)
    return lab


def _study_table(study_dir: Path, form: str) -> pd.DataFrame | None:
    """The validated (clean) ``form`` table of the study, or None when the study has none: a row
    that validation quarantines is not used (:func:`latc.omics._manifest.validated_form`)."""
    return validated_form(study_dir, form)


def synthetic_subject(study_dir: Path) -> pd.DataFrame | None:
    """Per-patient response from a synthetic study's ``truth_patients.csv`` (beside the study
    folder): ``objective_response`` = ``objective_response_latent`` for neoadjuvant patients."""
    path = Path(study_dir).parent / "truth_patients.csv"
    if not path.exists():
        return None
    t = pd.read_csv(path, dtype=str, keep_default_na=False)
    neo = t["cohort"] == "neoadjuvant"
    return pd.DataFrame({"patient_id": t["patient_id"], "objective_response": t["objective_response_latent"].where(neo, "")})


def run_bulk(study_dir: str | Path, out: str | Path, *, subject: pd.DataFrame | None = None,
             response_column: str = "objective_response", counts: str | Path | None = None,
             response_timepoint: str = "baseline", pre: str = "baseline", post: str = "surgery",
             tissue: str = "tumour", shrink: bool = True, n_cpus: int | None = None, strict: bool = True,
             data_root: str | Path | None = None) -> BulkRun:
    """Read the bulk samples named by the manifest, then write to ``out``:

    * ``bulk_qc.csv`` (library size, detected genes, PCA / correlation outliers, sex check);
    * ``bulk_scores.csv`` (one row per sample: sample keys, TDS, ERK, BRS, immune scores);
    * ``de_response.csv`` — responders vs non-responders among ``tissue`` samples at
      ``response_timepoint`` (when a response is known); ``de_paired.csv`` — ``post`` vs ``pre``
      paired by patient (``~ patient + timepoint``);
    * ``figures/`` volcano plots and score distributions by response (SVG + 300-dpi PNG).

    The manifest and the patients / diagnosis tables are the validated ones; ``file_ref`` paths are
    relative to ``data_root`` (default: the study folder).
    """
    study_dir, out = Path(study_dir), Path(out)
    root = resolve_data_root(study_dir, data_root)
    manifest = load_manifest(study_dir)
    out.mkdir(parents=True, exist_ok=True)
    adata = read_bulk(manifest, root, counts=counts, strict=strict)
    notes: list[str] = []
    miss = adata.uns.get("missing_samples", [])
    if len(miss):
        notes.append(f"{len(miss)} counts file(s) named in the manifest are absent and were skipped: {', '.join(miss[:5])}"
                     + (" …" if len(miss) > 5 else ""))
    files: list[Path] = []

    qc = sample_qc(adata)
    patients = _study_table(study_dir, "patients")
    sx = sex_check(adata, patients.set_index("patient_id")["sex"] if patients is not None and "sex" in patients else None)
    qc = qc.merge(sx, on="sample_id", how="left")
    qc = adata.obs[SAMPLE_KEYS].reset_index(drop=True).merge(qc, on="sample_id")
    files.append(out / "bulk_qc.csv")
    qc.to_csv(files[-1], index=False)

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
            braf = ras = None
    else:
        notes.append("BRS not computed: no diagnosis table with BRAF/RAS status to define the centroids")
    scores = bulk_scores(logx, braf_mutant=braf, ras_mutant=ras)
    scores = adata.obs[SAMPLE_KEYS].join(scores).reset_index(drop=True)

    if subject is None:
        subject = synthetic_subject(study_dir)
        if subject is not None:
            notes.append("response taken from the synthetic truth (truth_patients.csv: objective_response_latent)")
            response_column = "objective_response"
    response = response_from_subject(subject, response_column) if subject is not None else None
    if response is not None:
        scores["response"] = scores["patient_id"].map(response)
    files.append(out / "bulk_scores.csv")
    scores.to_csv(files[-1], index=False)

    de: dict[str, pd.DataFrame] = {}
    fig_dir = out / "figures"
    if response is not None:
        sel = ((adata.obs["timepoint"] == response_timepoint) & (adata.obs["tissue"] == tissue)).to_numpy()
        try:
            de["response"] = de_response(adata[sel].copy(), response, shrink=shrink, n_cpus=n_cpus or 1)
        except OmicsInputError as exc:
            notes.append(f"responder DE skipped: {exc}")
        sub = scores[(scores["timepoint"] == response_timepoint) & (scores["tissue"] == tissue) & scores["response"].notna()]
        if len(sub):
            cols = [c for c in ["tds", "brs", "erk", "immune_Cytotoxic_cells", "immune_CD8_T_cells", "immune_IFNG_6"] if c in sub]
            files += _figures.save(_figures.distributions(sub, cols, "response", f"Scores at {response_timepoint} ({tissue}) by response",
                                                          order=["non_responder", "responder"]), fig_dir / "scores_by_response")
    else:
        notes.append("responder DE skipped: no subject table with a response (use --subject)")
    try:
        tum = adata[(adata.obs["tissue"] == tissue).to_numpy()].copy()
        de["paired"] = de_paired(tum, pre=pre, post=post, shrink=shrink, n_cpus=n_cpus or 1)
    except OmicsInputError as exc:
        notes.append(f"paired DE skipped: {exc}")
    titles = {"response": f"Responders vs non-responders ({response_timepoint}, {tissue})",
              "paired": f"{post} vs {pre}, paired by patient ({tissue})"}
    for name, res in de.items():
        files.append(out / f"de_{name}.csv")
        res.to_csv(files[-1], index=False)
        n_sig = int((res["padj"] < 0.05).sum())
        title = f"{titles[name]}: {n_sig} genes padj < 0.05"
        files += _figures.save(_figures.volcano(res, title), fig_dir / f"volcano_{name}")
    return BulkRun(out=out, n_samples=adata.n_obs, qc=qc, scores=scores, de=de, files=files, notes=notes)
