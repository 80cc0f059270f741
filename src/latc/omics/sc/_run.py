"""End-to-end single-cell run: QC → normalise/embed → annotate → signatures → composition/DA →
pseudobulk DE → sample features (+ association with response/RFS) → figures; tables as CSV.

Output folder (``out/sc/``): ``qc_summary.csv``, ``composition.csv``, ``da_paired.csv``,
``da_response.csv``, ``pseudobulk_de.csv``, ``features.csv``, ``feature_changes.csv``,
``associations.csv``, ``skipped.csv`` (analyses not run and why), ``adata.h5ad`` and
``figures/*.svg|png``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from latc._paths import safe_filename
from latc.omics._manifest import OmicsInputError
from latc.omics.sc._annotate import annotate
from latc.omics.sc._composition import composition, differential_abundance
from latc.omics.sc._features import associate_features, feature_changes, sample_features
from latc.omics.sc._pipeline import DEFAULT_CORRECTION, embed, normalise
from latc.omics.sc._pseudobulk import pseudobulk, pseudobulk_de
from latc.omics.sc._qc import qc_filter, qc_metrics, qc_summary
from latc.omics.sc._signatures import score_signatures

__all__ = ["COMPARISONS", "ScResult", "run_sc", "process"]

#: (tissue, pre, post) comparisons tried when both samples exist for ≥ 3 patients.
COMPARISONS: list[tuple[str, str, str]] = [
    ("tumour", "baseline", "surgery"), ("lymph_node", "baseline", "surgery"),
    ("blood", "baseline", "on_treatment"), ("blood", "baseline", "surgery"),
]


@dataclass
class ScResult:
    """Tables of a run (DataFrames) and the processed AnnData."""

    adata: AnnData
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        a = self.adata
        lines = [f"{a.n_obs:,} cells × {a.n_vars:,} genes in {a.obs['sample_id'].nunique()} samples; "
                 f"{a.obs['cell_type'].nunique()} cell types"]
        for name in ("da_paired", "da_response", "pseudobulk_de", "associations"):
            t = self.tables.get(name)
            if t is not None and len(t):
                qcol = "q" if "q" in t else "padj"
                lines.append(f"{name}: {len(t):,} tests, {int((t[qcol] < 0.05).sum()):,} with FDR < 0.05")
        if self.skipped:
            lines.append(f"{len(self.skipped)} analyses skipped (see skipped.csv)")
        return "\n".join(lines)


def process(adata: AnnData, *, qc: bool = True, doublets: bool = True, batch_key: str | None = "center_id",
            correction: str = DEFAULT_CORRECTION, resolution: float = 1.0, umap: bool = True, seed: int = 0,
            annotation_level: str = "cluster", neighbors_method: str = "umap") -> AnnData:
    """QC (when counts are present) → normalise → embed → annotate → signature scores.

    Accepts raw counts or already log-normalised data (no QC filtering by counts, no pseudobulk).
    Returns the processed (filtered) AnnData; ``uns["qc_summary"]`` holds the per-sample QC table.
    """
    if qc:
        qc_metrics(adata, doublets=doublets, seed=seed)
        adata_f = qc_filter(adata)
        summ = qc_summary(adata)
        adata = adata_f
    else:
        summ = None
    normalise(adata)
    embed(adata, batch_key=batch_key, correction=correction, resolution=resolution, umap=umap, seed=seed,
          neighbors_method=neighbors_method)
    annotate(adata, level=annotation_level)
    score_signatures(adata, seed=seed)
    if summ is not None:
        adata.uns["qc_summary"] = summ
    return adata


def _responders(subject: pd.DataFrame | None, response: str) -> pd.Series | None:
    if subject is None or response not in subject:
        return None
    s = subject.drop_duplicates("patient_id").set_index("patient_id")[response]
    return s.dropna().astype(bool)


def run_sc(adata: AnnData, out: str | Path | None = None, *, subject: pd.DataFrame | None = None,
           response: str = "responder", time_col: str = "rfs_months", event_col: str = "rfs_event",
           de_cell_types: list[str] | None = None, min_cells_de: int = 10, figures: bool = True,
           seed: int = 0, **process_kw) -> ScResult:
    """Run every analysis on the libraries in ``adata`` (see module docstring); write to
    ``out/sc/`` when ``out`` is given. ``subject``: one row per ``patient_id`` with the response
    (boolean) and RFS columns; without it the responder comparisons and associations are skipped.
    """
    t0 = time.perf_counter()
    secs: dict[str, float] = {}
    res = ScResult(adata=adata)
    skip = res.skipped
    a = process(adata, seed=seed, **process_kw)
    res.adata = a
    secs["process"] = time.perf_counter() - t0
    if "qc_summary" in a.uns:
        res.tables["qc_summary"] = a.uns.pop("qc_summary")
    comp = composition(a)
    res.tables["composition"] = comp
    resp = _responders(subject, response)
    paired, groups = [], []
    for tissue, pre, post in COMPARISONS:
        try:
            paired.append(differential_abundance(comp, design="paired", tissue=tissue, pre=pre, post=post))
        except OmicsInputError as exc:
            skip.append({"analysis": "da_paired", "tissue": tissue, "contrast": f"{post} vs {pre}", "reason": str(exc)})
    if resp is not None:
        for tissue in ("tumour", "lymph_node", "blood"):
            for tp in ("baseline", "change"):
                try:
                    post = "on_treatment" if tissue == "blood" else "surgery"
                    groups.append(differential_abundance(comp, design="groups", tissue=tissue, group=resp,
                                                         timepoint=tp, post=post))
                except OmicsInputError as exc:
                    skip.append({"analysis": "da_response", "tissue": tissue, "contrast": tp, "reason": str(exc)})
    else:
        skip.append({"analysis": "da_response", "tissue": "", "contrast": "", "reason": "no subject table with a response column"})
    res.tables["da_paired"] = pd.concat(paired, ignore_index=True) if paired else pd.DataFrame()
    res.tables["da_response"] = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame()
    secs["composition"] = time.perf_counter() - t0 - sum(secs.values())

    de = []
    if "counts" in a.layers:
        pb = pseudobulk(a)
        types = de_cell_types or list(pb.obs["cell_type"].unique())
        for tissue, pre, post in COMPARISONS:
            for ct in types:
                try:
                    de.append(pseudobulk_de(pb, ct, design="paired", tissue=tissue, pre=pre, post=post, min_cells=min_cells_de))
                except OmicsInputError as exc:
                    skip.append({"analysis": "pseudobulk_de", "tissue": tissue, "contrast": f"{ct}: {post} vs {pre}", "reason": str(exc)})
            if resp is not None:
                for ct in types:
                    try:
                        de.append(pseudobulk_de(pb, ct, design="response", tissue=tissue, response=resp,
                                                timepoint=pre, min_cells=min_cells_de))
                    except OmicsInputError as exc:
                        skip.append({"analysis": "pseudobulk_de", "tissue": tissue, "contrast": f"{ct}: response at {pre}", "reason": str(exc)})
    else:
        skip.append({"analysis": "pseudobulk_de", "tissue": "", "contrast": "", "reason": "no raw counts (data given normalised)"})
    res.tables["pseudobulk_de"] = pd.concat(de, ignore_index=True) if de else pd.DataFrame()
    secs["pseudobulk_de"] = time.perf_counter() - t0 - sum(secs.values())

    feats = sample_features(a)
    res.tables["features"] = feats
    changes = [feature_changes(feats, pre=pre, post=post, tissue=tissue) for tissue, pre, post in COMPARISONS]
    changes = [c for c in changes if len(c)]
    res.tables["feature_changes"] = pd.concat(changes, ignore_index=True) if changes else pd.DataFrame()
    if subject is not None:
        assoc = [associate_features(feats, subject, response=response, time=time_col, event=event_col)]
        if changes:
            assoc.append(associate_features(res.tables["feature_changes"], subject, response=response,
                                            time=time_col, event=event_col))
        res.tables["associations"] = pd.concat(assoc, ignore_index=True)
    secs["features"] = time.perf_counter() - t0 - sum(secs.values())
    res.seconds = secs
    if out is not None:
        write_outputs(res, Path(out), figures=figures, responders=resp)
    return res


def write_outputs(res: ScResult, out: Path, *, figures: bool = True, responders: pd.Series | None = None) -> Path:
    """Write the tables (CSV), ``adata.h5ad`` and figures under ``out/sc/``."""
    d = Path(out) / "sc"
    d.mkdir(parents=True, exist_ok=True)
    for name, t in res.tables.items():
        t.to_csv(d / f"{safe_filename(name)}.csv", index=False)
    pd.DataFrame(res.skipped, columns=["analysis", "tissue", "contrast", "reason"]).to_csv(d / "skipped.csv", index=False)
    a = res.adata
    for k, v in list(a.uns.get("latc_sc", {}).items()):
        if isinstance(v, (list, tuple)):
            a.uns["latc_sc"][k] = np.asarray(v, dtype=str)
    a.write_h5ad(d / "adata.h5ad", compression="gzip")
    (d / "run.json").write_text(json.dumps({"seconds": res.seconds, "n_cells": int(a.n_obs),
                                            "n_samples": int(a.obs["sample_id"].nunique())}, indent=2))
    if figures:
        import matplotlib.pyplot as plt

        from latc.omics.sc._plots import composition_bars, marker_dotplot, paired_plot, save_figure, umap_by_cell_type

        f = d / "figures"
        figs = {"umap_cell_type": umap_by_cell_type(a), "marker_dotplot": marker_dotplot(a)}
        comp = res.tables["composition"]
        for tissue in comp["tissue"].unique():  # a data value in a file name: one safe path component
            figs[f"composition_{safe_filename(tissue)}"] = composition_bars(comp, tissue=tissue)
        for tissue, pre, post in COMPARISONS:
            c = comp[(comp["tissue"] == tissue) & (comp["cell_type"] == "cd8_t_effector")]
            if c["timepoint"].isin([pre]).any() and c["timepoint"].isin([post]).any():
                figs[f"paired_cd8_effector_{safe_filename(tissue)}_{safe_filename(post)}"] = paired_plot(
                    c, value="proportion", pre=pre, post=post, group=responders, ylabel="CD8 effector share")
        for name, fig in figs.items():
            save_figure(fig, f / name)
            plt.close(fig)
    return d


def load_subject(path: str | Path) -> tuple[pd.DataFrame, str]:
    """A subject-like table from CSV/Parquet; the synthetic ``truth_patients.csv`` is converted with
    :func:`subject_from_latent`. Returns ``(table, note)``."""
    from latc.omics.sc._features import subject_from_latent

    p = Path(path)
    if not p.exists():
        raise OmicsInputError(f"subject table not found: {p}")
    t = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    if "patient_id" not in t:
        raise OmicsInputError(f"{p.name}: no patient_id column")
    if "objective_response_latent" in t and "responder" not in t:
        return subject_from_latent(t), f"outcomes from the synthetic truth {p.name} (responder = objective response, neoadjuvant)"
    return t, f"outcomes from {p.name}"


def run_study(study_dir: str | Path, out: str | Path, *, manifest: str | Path | pd.DataFrame | None = None,
              subject: str | Path | pd.DataFrame | None = None, strict: bool = False,
              data_root: str | Path | None = None, **kw) -> tuple[ScResult, str]:
    """Read the study's scRNA-seq libraries through the manifest and :func:`run_sc` them.

    ``manifest`` defaults to the study folder (``biospecimens.csv``); ``subject`` defaults to
    ``truth_patients.csv`` beside a synthetic study when present. Absent files are skipped and
    listed unless ``strict``. The manifest is the validated one (:func:`latc.omics.load_manifest`);
    ``file_ref`` paths are relative to ``data_root`` (default: the study folder).
    """
    from latc.omics._manifest import load_manifest, resolve_data_root
    from latc.omics.sc._io import read_samples

    study_dir = Path(study_dir)
    if not study_dir.exists():
        raise OmicsInputError(f"study folder not found: {study_dir}")
    root = resolve_data_root(study_dir, data_root)
    m = load_manifest(manifest if manifest is not None else study_dir)
    a = read_samples(m, root, missing="error" if strict else "skip")
    note = ""
    if subject is None:
        cand = study_dir.parent / "truth_patients.csv"
        if cand.exists():
            subject, note = load_subject(cand)
    elif not isinstance(subject, pd.DataFrame):
        subject, note = load_subject(subject)
    skipped = list(a.uns.get("skipped_samples", []))
    r = run_sc(a, out, subject=subject, **kw)
    if skipped:
        note = (note + "; " if note else "") + f"{len(skipped)} sample file(s) named in the manifest absent and skipped"
    return r, note
