"""End-to-end single-cell run: QC → normalise/embed → annotate → signatures → malignant versus
normal epithelial cells (:func:`process`, the slow part), then the statistics
(:func:`run_statistics`: composition/DA → malignant summary → pseudobulk DE → sample features +
association with response/RFS), the T-cell receptor clonotypes when V(D)J files lie beside the
libraries (:func:`latc.omics.sc.tcr_step`) → figures; tables as CSV.

Output (the layout of every omics command, :mod:`latc.omics._output`): ``tables/`` —
``qc_summary``, ``composition``, ``da_paired``, ``da_response``, ``malignant_summary``,
``cnv_segments``, ``pseudobulk_de``, ``pseudobulk_fits``, ``features``, ``feature_changes``,
``associations`` and the ``tcr_*`` tables (``.csv``); ``skipped.csv`` (analyses not run and why);
``adata.h5ad`` (processed cells; ``obs`` carries the sample keys, ``cohort`` and ``response``);
``tcr.h5ad`` (the analysed T-cell receptors); ``figures/`` (``umap_cell_type``,
``umap_by_outcome``, ``marker_dotplot``, composition and paired plots, ``cnv_heatmap``,
``tcr_*``); ``run.json``.

Outcomes come from `latc derive`'s subject table (:mod:`latc.omics._outcomes`). Changing it does not
need the embedding again: :func:`stats_from_h5ad` (``latc omics sc stats OUT``) reruns the statistics
on the saved ``adata.h5ad`` (and ``tcr.h5ad``).
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
# annotate_outcomes and the patients-form cohort live in the shared outcome layer (spatial uses them too)
from latc.omics._outcomes import Outcomes, annotate_outcomes, load_outcomes
from latc.omics._outcomes import cohort_from_study as _cohort_from_study
from latc.omics._output import Output, Progress, files_checksum, manifest_checksum, no_progress, write_run_json
from latc.omics.sc._annotate import UNASSIGNED, annotate
from latc.omics.sc._composition import composition, differential_abundance
from latc.omics.sc._features import associate_features, feature_changes, sample_features
from latc.omics.sc._malignant import call_malignant, summarise_malignant
from latc.omics.sc._pipeline import DEFAULT_CORRECTION, embed, normalise
from latc.omics.sc._pseudobulk import FIT_COLUMNS, DeSpec, pseudobulk, pseudobulk_de_many
from latc.omics.sc._qc import qc_filter, qc_metrics, qc_summary
from latc.omics.sc._signatures import score_signatures
from latc.omics.sc._tcr import TCR_TABLES, read_tcr, tcr_figures, tcr_step, write_tcr_h5ad

__all__ = ["COMPARISONS", "ScResult", "run_sc", "process", "run_statistics", "annotate_outcomes", "run_study",
           "stats_from_h5ad", "write_outputs"]

#: (tissue, pre, post) comparisons tried when both samples exist for ≥ 3 patients.
COMPARISONS: list[tuple[str, str, str]] = [
    ("tumour", "baseline", "surgery"), ("lymph_node", "baseline", "surgery"),
    ("blood", "baseline", "on_treatment"), ("blood", "baseline", "surgery"),
]

#: result tables, in the order they are written
TABLES = ["qc_summary", "composition", "da_paired", "da_response", "malignant_summary", "cnv_segments", "pseudobulk_de",
          "pseudobulk_fits", "features", "feature_changes", "associations", *TCR_TABLES]


@dataclass
class ScResult:
    """Tables of a run (DataFrames) and the processed AnnData."""

    adata: AnnData
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    outcomes: Outcomes | None = None
    steps: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        a = self.adata
        ct = a.obs["cell_type"].astype(str)
        n_un = int((ct == UNASSIGNED).sum())
        lines = [f"{a.n_obs:,} cells × {a.n_vars:,} genes in {a.obs['sample_id'].nunique()} samples; "
                 f"{ct[ct != UNASSIGNED].nunique()} cell types"
                 + (f"; {n_un:,} cells ({n_un / max(a.n_obs, 1):.1%}) unassigned (no modelled type fits; left out of "
                    "composition and pseudobulk)" if n_un else "")]
        m = self.tables.get("malignant_summary")
        if m is not None and len(m) and m["n_epithelial"].sum():
            pts = m.drop_duplicates("patient_id") if "patient_id" in m else m
            n_clone = int(pts["clone_detected"].fillna(False).astype(bool).sum()) if "clone_detected" in pts else 0
            lines.append(f"malignant cells: {int(m['n_malignant'].sum()):,} of {int(m['n_epithelial'].sum()):,} "
                         f"epithelial cells ({int(m['n_normal'].sum()):,} normal, {int(m['n_undetermined'].sum()):,} "
                         f"undetermined); a copy-number clone in {n_clone} of {len(pts)} patients")
        f = self.tables.get("tcr_features")
        if f is not None and len(f):
            lines.append(f"TCR: {int(f['n_cells'].sum()):,} T cells with a receptor, "
                         f"{int(f['tcr_n_clonotypes'].sum()):,} clonotypes (per sample, summed) in {len(f)} samples")
        for name in ("da_paired", "da_response", "pseudobulk_de", "associations", "tcr_associations"):
            t = self.tables.get(name)
            if t is not None and len(t):
                qcol = "q" if "q" in t else "padj"
                lines.append(f"{name}: {len(t):,} tests, {int((t[qcol] < 0.05).sum()):,} with FDR < 0.05")
            if name == "pseudobulk_de":
                lines += _fits_summary(self.tables.get("pseudobulk_fits"))
        if self.skipped:
            lines.append(f"{len(self.skipped)} analyses skipped (reasons in skipped.csv)")
        return "\n".join(lines)


def _fits_summary(fits: pd.DataFrame | None) -> list[str]:
    """One line on the pseudobulk fits whose dispersion trend was not their own parametric one."""
    if fits is None or not len(fits) or "dispersion_fit" not in fits:
        return []
    k = fits["dispersion_fit"].astype(str).value_counts()
    parts = []
    if k.get("mean_fallback", 0):
        parts.append(f"{k['mean_fallback']} fell back to a mean dispersion trend (parametric trend did not converge)")
    shared = int(k.get("shared_parametric", 0) + k.get("shared_mean", 0))
    if shared:
        parts.append(f"{shared} (thin data) used the trend shared with the other cell types")
    if not parts:
        return []
    return [f"pseudobulk fits: {len(fits)}; " + "; ".join(parts) + " — tables/pseudobulk_fits.csv"]


def process(adata: AnnData, *, qc: bool = True, doublets: bool = True, batch_key: str | None = "center_id",
            correction: str = DEFAULT_CORRECTION, resolution: float = 1.0, umap: bool = True, seed: int = 0,
            annotation_level: str = "cluster", neighbors_method: str = "umap", malignant: bool = True,
            progress: Progress | None = None) -> AnnData:
    """QC (when counts are present) → normalise → embed → annotate → signature scores → malignant
    versus normal epithelial cells (copy-number inference, :func:`latc.omics.sc.call_malignant`;
    ``malignant=False`` skips it).

    Accepts raw counts or already log-normalised data (no QC filtering by counts, no pseudobulk).
    Returns the processed (filtered) AnnData; ``uns["qc_summary"]`` holds the per-sample QC table.
    When the malignant call cannot run (no reference or epithelial cells, too few genes with a
    genome position) the reason is in ``uns["latc_sc"]["malignant_skipped"]``.
    ``progress`` is called with the name of each step before it runs.
    """
    step = progress or no_progress
    if qc:
        step(f"QC{' and doublet detection' if doublets else ''}: {adata.n_obs:,} cells")
        qc_metrics(adata, doublets=doublets, seed=seed)
        adata_f = qc_filter(adata)
        summ = qc_summary(adata)
        adata = adata_f
    else:
        summ = None
    step(f"normalise, PCA, {correction} correction, neighbours, Leiden{', UMAP' if umap else ''}: {adata.n_obs:,} cells")
    normalise(adata)
    embed(adata, batch_key=batch_key, correction=correction, resolution=resolution, umap=umap, seed=seed,
          neighbors_method=neighbors_method)
    step("annotate cell types, score signatures")
    annotate(adata, level=annotation_level, seed=seed)
    score_signatures(adata, seed=seed)
    if malignant:
        step("malignant vs normal epithelial cells (inferred copy number)")
        try:
            call_malignant(adata, batch_key=batch_key, seed=seed)
        except OmicsInputError as exc:
            adata.uns.setdefault("latc_sc", {})["malignant_skipped"] = str(exc)
    else:
        adata.uns.setdefault("latc_sc", {})["malignant_skipped"] = "not asked for (malignant=False)"
    if summ is not None:
        adata.uns["qc_summary"] = summ
    return adata


def _stats_input(subject, outcomes, response, time_col, event_col) -> Outcomes:
    if outcomes is not None:
        return outcomes
    if subject is None:
        return Outcomes(skipped=["no subject table: response and RFS analyses skipped"])
    return load_outcomes(subject=subject, response=response, time=time_col, event=event_col)


def run_statistics(adata: AnnData, *, outcomes: Outcomes | None = None, subject: pd.DataFrame | None = None,
                   response: str | list[str] | None = None, time_col: str | None = None, event_col: str | None = None,
                   de_cell_types: list[str] | None = None, min_cells_de: int = 10,
                   paired_de: tuple | None = None,
                   progress: Progress | None = None, n_jobs: int | None = None) -> ScResult:
    """The statistics on a processed AnnData (:func:`process` output, or a saved ``adata.h5ad``):
    composition and differential abundance (paired pre/post; responders vs non-responders),
    pseudobulk DE, sample features and their association with response and RFS.

    Outcomes: ``outcomes`` (:func:`latc.omics._outcomes.load_outcomes`), or ``subject`` (one row per
    ``patient_id``) with ``response`` / ``time_col`` / ``event_col`` (default: `latc derive`'s
    ``objective_response``, ``rfs_time_months``, ``rfs_event``). Without them the responder
    comparisons and associations are skipped (listed in ``skipped``). ``paired_de``: the paired
    (post vs pre) pseudobulk DE rows, their skip records and (optionally) their fit records of an
    earlier run on the same AnnData — they do not depend on the outcomes, so
    :func:`stats_from_h5ad` reuses them instead of refitting.
    ``n_jobs``: worker processes for the pseudobulk fits (default: the CPU count; results do not
    depend on it). One row per fit, with the dispersion trend used and the warnings pydeseq2
    raised, goes to ``tables["pseudobulk_fits"]``.
    """
    step = progress or no_progress
    t0 = time.perf_counter()
    o = _stats_input(subject, outcomes, response, time_col, event_col)
    res = ScResult(adata=adata, outcomes=o)
    skip = res.skipped
    secs: dict[str, float] = {}
    a = adata
    if "qc_summary" in a.uns:
        q = a.uns.pop("qc_summary")
        res.tables["qc_summary"] = q if isinstance(q, pd.DataFrame) else pd.DataFrame(q)
    step("composition and differential abundance")
    comp = composition(a)
    res.tables["composition"] = comp
    resp = o.responders()
    no_resp = "; ".join(s for s in o.skipped if "response" in s.lower()) or "no response column"
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
        skip.append({"analysis": "da_response", "tissue": "", "contrast": "", "reason": no_resp})
    res.tables["da_paired"] = pd.concat(paired, ignore_index=True) if paired else pd.DataFrame()
    dr = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame()
    if len(dr):
        dr.insert(0, "outcome", o.response)
    res.tables["da_response"] = dr
    secs["composition"] = time.perf_counter() - t0

    _malignant_tables(a, res)

    step("pseudobulk differential expression (pydeseq2)")
    de: list[pd.DataFrame] = []
    fits = pd.DataFrame(columns=FIT_COLUMNS)
    if "counts" in a.layers:
        pb = pseudobulk(a)
        types = de_cell_types or [t for t in pb.obs["cell_type"].unique() if t != UNASSIGNED]
        # the fits to make, in output order; the paired ones of an earlier run are reused as they are
        items: list[tuple] = []
        specs: list[DeSpec] = []
        for tissue, pre, post in COMPARISONS:
            if paired_de is not None:  # outcome-independent: the earlier run's rows, in the same order
                prev, prev_skip = paired_de[0], paired_de[1]
                label = f"{post} vs {pre} (~ patient_id + timepoint)"
                if len(prev):
                    items.append(("rows", prev[(prev["tissue"].astype(str) == tissue)
                                               & (prev["contrast"].astype(str) == label)]))
                items.append(("skips", [r for r in prev_skip if str(r.get("tissue")) == tissue
                                        and str(r.get("contrast", "")).endswith(f": {post} vs {pre}")]))
            else:
                for ct in types:
                    items.append(("fit", len(specs), tissue, f"{ct}: {post} vs {pre}"))
                    specs.append(DeSpec(ct, design="paired", tissue=tissue, pre=pre, post=post, min_cells=min_cells_de))
            if resp is not None:
                for ct in types:
                    items.append(("fit", len(specs), tissue, f"{ct}: response at {pre}"))
                    specs.append(DeSpec(ct, design="response", tissue=tissue, response=resp, timepoint=pre,
                                        min_cells=min_cells_de))
        results, fits, errors = pseudobulk_de_many(pb, specs, n_jobs=n_jobs)
        if paired_de is not None and len(paired_de) > 2 and len(paired_de[2]):   # the reused fits' records
            fits = pd.concat([paired_de[2], fits], ignore_index=True) if len(fits) else paired_de[2]
        for it in items:
            if it[0] == "rows":
                de.append(it[1])
            elif it[0] == "skips":
                skip += it[1]
            elif results[it[1]] is not None:
                de.append(results[it[1]])
            else:
                skip.append({"analysis": "pseudobulk_de", "tissue": it[2], "contrast": it[3], "reason": str(errors[it[1]])})
        if resp is None:
            skip.append({"analysis": "pseudobulk_de", "tissue": "", "contrast": "response", "reason": no_resp})
    else:
        skip.append({"analysis": "pseudobulk_de", "tissue": "", "contrast": "", "reason": "no raw counts (data given normalised)"})
    de = [d for d in de if len(d)]
    res.tables["pseudobulk_de"] = pd.concat(de, ignore_index=True) if de else pd.DataFrame()
    res.tables["pseudobulk_fits"] = fits
    secs["pseudobulk_de"] = time.perf_counter() - t0 - sum(secs.values())

    step("sample features and their association with the outcomes")
    feats = sample_features(a)
    res.tables["features"] = feats
    changes = [feature_changes(feats, pre=pre, post=post, tissue=tissue) for tissue, pre, post in COMPARISONS]
    changes = [c for c in changes if len(c)]
    res.tables["feature_changes"] = pd.concat(changes, ignore_index=True) if changes else pd.DataFrame()
    subj = o.frame()
    if subj is not None and (o.responses or o.has_rfs):
        kw = dict(response=o.responses, time=o.time, event=o.event)
        assoc = [associate_features(feats, subj, **kw)]
        if changes:
            assoc.append(associate_features(res.tables["feature_changes"], subj, **kw))
        res.tables["associations"] = pd.concat(assoc, ignore_index=True)
    else:
        skip.append({"analysis": "associations", "tissue": "", "contrast": "",
                     "reason": "; ".join(o.skipped) or "no outcome column"})
    if not o.has_rfs and subj is not None:
        skip.append({"analysis": "associations", "tissue": "", "contrast": "RFS",
                     "reason": "; ".join(s for s in o.skipped if "RFS" in s)})
    secs["features"] = time.perf_counter() - t0 - sum(secs.values())
    res.seconds = secs
    return res


def _malignant_tables(a: AnnData, res: ScResult) -> None:
    """``malignant_summary`` (one row per sample) and ``cnv_segments`` (the clones' altered
    segments) from :func:`process`'s malignant call, or a ``skipped`` record saying why there is none."""
    if "malignant" not in a.obs:
        reason = str(a.uns.get("latc_sc", {}).get("malignant_skipped", "")) or "no malignant call in this AnnData"
        res.skipped.append({"analysis": "malignant", "tissue": "", "contrast": "", "reason": reason})
        return
    res.tables["malignant_summary"] = summarise_malignant(a)
    seg = a.uns.get("latc_malignant", {}).get("segments")
    res.tables["cnv_segments"] = seg.rename(columns={"group": "patient_id"}) if isinstance(seg, pd.DataFrame) \
        else pd.DataFrame(columns=["patient_id", "chromosome", "start", "end", "kind", "n_windows", "mean_shift"])


def run_sc(adata: AnnData, out: str | Path | None = None, *, subject: pd.DataFrame | None = None,
           outcomes: Outcomes | None = None, response: str | list[str] | None = None, time_col: str | None = None,
           event_col: str | None = None, de_cell_types: list[str] | None = None, min_cells_de: int = 10,
           figures: bool = True, seed: int = 0, progress: Progress | None = None, cohort: pd.Series | None = None,
           n_jobs: int | None = None, **process_kw) -> ScResult:
    """:func:`process` then :func:`run_statistics` on the libraries in ``adata``; written to ``out``
    (:func:`write_outputs`) when given. ``subject``: one row per ``patient_id`` with the outcome
    columns (default names: `latc derive`'s ``objective_response``, ``rfs_time_months``,
    ``rfs_event``); without it the responder comparisons and associations are skipped.
    """
    t0 = time.perf_counter()
    o = _stats_input(subject, outcomes, response, time_col, event_col)
    a = process(adata, seed=seed, progress=progress, **process_kw)
    secs = {"process": time.perf_counter() - t0}
    annotate_outcomes(a, o, cohort=cohort)
    res = run_statistics(a, outcomes=o, de_cell_types=de_cell_types, min_cells_de=min_cells_de, progress=progress,
                         n_jobs=n_jobs)
    res.seconds = {**secs, **res.seconds}
    res.steps = ["process", "statistics"]
    if out is not None:
        write_outputs(res, Path(out), figures=figures, progress=progress,
                      parameters={"seed": seed, "de_cell_types": de_cell_types, "min_cells_de": min_cells_de,
                                  **{k: v for k, v in process_kw.items()}})
    return res


def _json_safe_uns(a: AnnData) -> None:
    for k, v in list(a.uns.get("latc_sc", {}).items()):
        if isinstance(v, (list, tuple)):
            a.uns["latc_sc"][k] = np.asarray(v, dtype=str)
    for k in ("sample_files", "skipped_samples"):
        v = a.uns.get(k)
        if isinstance(v, (list, tuple)):
            a.uns[k] = np.asarray(v, dtype=str)


def write_outputs(res: ScResult, out: Path, *, figures: bool = True, responders: pd.Series | None = None,
                  adata: bool = True, progress: Progress | None = None, command: str = "latc omics sc run",
                  parameters: dict | None = None, inputs: dict | None = None, tcr: AnnData | None = None) -> Path:
    """Write the tables (``tables/*.csv``), ``skipped.csv``, ``adata.h5ad``, figures and ``run.json``
    into ``out`` (the omics output layout, :mod:`latc.omics._output`); returns ``out``. ``tcr``: the
    analysed T-cell receptor cells of :func:`latc.omics.sc.tcr_step`, written as ``tcr.h5ad`` (a
    ``tcr.h5ad`` of an earlier run in ``out`` is removed when there is none)."""
    step = progress or no_progress
    o = Output(out)
    o.root.mkdir(parents=True, exist_ok=True)
    step(f"writing tables{', adata.h5ad' if adata else ''}{' and figures' if figures else ''} → {o.root}")
    for name in TABLES:
        if name in res.tables:
            o.table(res.tables[name], name)
    stale = [o.tables_dir / f"{n}.csv" for n in TABLES if n not in res.tables]
    for p in stale:  # a table of an earlier run in the same folder that this run did not produce
        p.unlink(missing_ok=True)
    o.skipped(res.skipped)
    a = res.adata
    if adata:
        _json_safe_uns(a)
        a.write_h5ad(o.adata_path, compression="gzip")
        o.files.append(o.adata_path)
    if tcr is not None:
        o.files.append(write_tcr_h5ad(tcr, o.root / "tcr.h5ad"))
    elif adata:
        (o.root / "tcr.h5ad").unlink(missing_ok=True)
    if figures:
        responders = responders if responders is not None else (res.outcomes.responders() if res.outcomes else None)
        _figures(res, o, responders)
    elif o.figures_dir.is_dir():  # figures of an earlier run in this folder would show other outcomes: remove them
        for p in list(o.figures_dir.glob("*.svg")) + list(o.figures_dir.glob("*.png")):
            p.unlink()
    rec = res.outcomes.record() if res.outcomes is not None else None
    counts = {"n_cells": int(a.n_obs), "n_genes": int(a.n_vars), "n_samples": int(a.obs["sample_id"].nunique()),
              "n_patients": int(a.obs["patient_id"].nunique()), "n_skipped_analyses": len(res.skipped)}
    if "response" in a.obs:
        counts["n_patients_with_response"] = int(a.obs.loc[a.obs["response"].notna(), "patient_id"].nunique())
    res.files = list(o.files)
    write_run_json(o, command=command, parameters=parameters or {}, inputs=inputs or {}, outcomes=rec,
                   timings=res.seconds, steps=res.steps, counts=counts,
                   extra={"processing": json.loads(json.dumps(_processing_record(a), default=str))})
    res.files.append(o.run_json)
    return o.root


def _processing_record(a: AnnData) -> dict:
    info = dict(a.uns.get("latc_sc", {}))
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in info.items()}


def _figures(res: ScResult, o: Output, responders: pd.Series | None) -> None:
    from latc.omics.sc._plots import composition_bars, marker_dotplot, paired_plot, umap_by_cell_type, umap_panels

    a = res.adata
    o.figure(umap_by_cell_type(a), "umap_cell_type")
    o.figure(umap_panels(a), "umap_by_outcome")
    o.figure(marker_dotplot(a), "marker_dotplot")
    comp = res.tables["composition"]
    for tissue in comp["tissue"].unique():  # a data value in a file name: one safe path component
        o.figure(composition_bars(comp, tissue=tissue), f"composition_{safe_filename(tissue)}")
    for tissue, pre, post in COMPARISONS:
        c = comp[(comp["tissue"] == tissue) & (comp["cell_type"] == "cd8_t_effector")]
        if c["timepoint"].isin([pre]).any() and c["timepoint"].isin([post]).any():
            o.figure(paired_plot(c, value="proportion", pre=pre, post=post, group=responders,
                                 ylabel="CD8 effector share"),
                     f"paired_cd8_effector_{safe_filename(tissue)}_{safe_filename(post)}")
    for name, fig in tcr_figures(res.tables, responders=responders).items():
        o.figure(fig, name)
    if "malignant" in a.obs and "X_cnv" in a.obsm:
        from latc.omics.sc._malignant_plots import cnv_heatmap

        o.figure(cnv_heatmap(a), "cnv_heatmap")


def _merge_tcr(r: ScResult, t) -> None:
    """Add a TCR step's tables, skip records and timings to the single-cell result. A table that is
    empty because its analysis was skipped is left out, as the single-cell ``associations`` is."""
    skipped = {str(x.get("analysis")) for x in t.skipped}
    r.tables.update({k: v for k, v in t.tables.items() if len(v) or k not in skipped})
    r.skipped.extend(t.skipped)
    if t.tcr is not None or t.seconds:
        r.seconds["tcr"] = float(sum(t.seconds.values()))
        r.steps.append("tcr")


def load_subject(path: str | Path, **kw) -> tuple[pd.DataFrame, str]:
    """A subject table from CSV/Parquet (or a `latc derive` output folder) in derive's column names
    (the synthetic ``truth_patients.csv`` converted); returns ``(table, note)``."""
    o = load_outcomes(subject=path, **kw)
    return o.table, o.message()


def run_study(study_dir: str | Path, out: str | Path, *, manifest: str | Path | pd.DataFrame | None = None,
              subject: str | Path | pd.DataFrame | None = None, response: str | list[str] | None = None,
              time_col: str | None = None, event_col: str | None = None, strict: bool = False,
              data_root: str | Path | None = None, figures: bool = True, progress: Progress | None = None,
              **kw) -> tuple[ScResult, str]:
    """Read the study's scRNA-seq libraries through the manifest, :func:`run_sc` them and write the
    output layout (with ``run.json``) into ``out``.

    ``study_dir``: a study folder (``file_ref`` paths relative to it, or to ``data_root``), or a
    `latc run` output folder (its validated manifest, its ``derived/subject.parquet`` and, as data
    root, the study it ran on). ``manifest`` defaults to the study's. Outcomes: ``subject`` (a table,
    or a `latc derive`/`latc run` output folder), else found beside the study
    (:func:`latc.omics._outcomes.find_subject`); never the synthetic truth unless named.
    ``response``/``time_col``/``event_col``: subject columns (default derive's). Absent files are
    skipped and listed unless ``strict``. Returns the result and a note for the terminal.
    """
    from latc.omics._manifest import load_manifest, resolve_data_root
    from latc.omics._outcomes import is_output_folder, study_data_root
    from latc.omics.sc._io import read_samples

    step = progress or no_progress
    t0 = time.perf_counter()
    study_dir = Path(study_dir)
    if not study_dir.exists():
        raise OmicsInputError(f"study folder not found: {study_dir}")
    if data_root is None and is_output_folder(study_dir):
        data_root = study_data_root(study_dir)
        if data_root is None:
            raise OmicsInputError(f"{study_dir} is a `latc derive`/`latc validate` output folder: give the study folder "
                                  "the manifest's file_ref paths are relative to with --data-root (or pass the study "
                                  "folder as STUDY and this folder as --subject)")
    root = resolve_data_root(study_dir, data_root)
    step("reading the validated biospecimen manifest and the subject table")
    m = load_manifest(manifest if manifest is not None else study_dir)
    o = load_outcomes(study_dir, subject, response=response, time=time_col, event=event_col)
    cohort = _cohort_from_study(study_dir)
    step("reading the scRNA-seq libraries")
    a = read_samples(m, root, missing="error" if strict else "skip")
    files = a.uns.pop("sample_files", {})
    skipped = list(a.uns.get("skipped_samples", []))
    secs = {"read": time.perf_counter() - t0}
    if strict:  # fail fast: a bad V(D)J file stops the run before minutes of processing, not after
        step("checking the V(D)J files (--strict)")
        read_tcr(m, root, strict=True, sample_ids=sorted(a.obs["sample_id"].astype(str).unique()))
    r = run_sc(a, None, outcomes=o, progress=progress, cohort=cohort, **kw)
    r.seconds = {**secs, **r.seconds}
    r.steps = ["read", "process", "statistics"]
    # T-cell clonotypes from the V(D)J files beside the libraries (none: one skipped record)
    t = tcr_step(m, root, r.adata, outcomes=o, strict=strict, progress=progress)
    _merge_tcr(r, t)
    inputs = {"study": str(study_dir.resolve()), "data_root": str(Path(root).resolve()), "manifest": manifest_checksum(m),
              "subject": files_checksum({"subject": o.source}) if o.source and Path(o.source).is_file() else None,
              "data_files": files_checksum(files), "vdj_files": files_checksum(t.parameters.get("files", {}))}
    params = {"strict": strict, "figures": figures, "de_cell_types": kw.get("de_cell_types"),
              "min_cells_de": kw.get("min_cells_de", 10), **{k: v for k, v in kw.items()},
              "response_columns": o.responses, "time_column": o.time, "event_column": o.event}
    write_outputs(r, Path(out), figures=figures, progress=progress, parameters=params, inputs=inputs, tcr=t.tcr)
    notes = [o.message()]
    if skipped:
        notes.append(f"{len(skipped)} sample file(s) named in the manifest absent and skipped (their ids are in "
                     "adata.h5ad's uns['skipped_samples']): not delivered yet? `latc synth --omics` writes files for "
                     "a subset of the manifest's samples unless --omics-scale is raised")
    return r, "; ".join(n for n in notes if n)


def stats_from_h5ad(source: str | Path, out: str | Path | None = None, *,
                    subject: str | Path | pd.DataFrame | None = None, response: str | list[str] | None = None,
                    time_col: str | None = None, event_col: str | None = None, figures: bool = True,
                    progress: Progress | None = None, de_cell_types: list[str] | None = None,
                    min_cells_de: int = 10, n_jobs: int | None = None) -> tuple[ScResult, str]:
    """Rerun only the statistics on the ``adata.h5ad`` of an earlier run (no QC, no embedding).

    ``source``: an earlier run's output folder (``adata.h5ad`` + ``run.json``) or the ``.h5ad``;
    ``out``: where to write (default: that folder — tables, ``skipped.csv``, figures and ``run.json``
    are replaced; ``adata.h5ad`` is rewritten with the new ``cohort``/``response`` in ``obs`` and
    the embedding unchanged). Outcomes: ``subject`` when given, else the subject table the earlier
    run used (read again, so an updated table is picked up), else one found beside its study.
    """
    import anndata as ad

    step = progress or no_progress
    t0 = time.perf_counter()
    src = Path(source)
    h5 = src / "adata.h5ad" if src.is_dir() else src
    if not h5.is_file():
        raise OmicsInputError(f"no adata.h5ad found: {h5} (give the output folder of `latc omics sc run` or its adata.h5ad)")
    prev_path = h5.parent / "run.json"
    prev = {}
    if prev_path.is_file():
        try:
            prev = json.loads(prev_path.read_text(encoding="utf-8"))
        except ValueError:
            prev = {}
    study = (prev.get("inputs") or {}).get("study")
    pcols = prev.get("parameters") or {}
    how = ""
    if subject is None:
        recorded = (prev.get("outcomes") or {}).get("subject")
        if recorded and Path(recorded).is_file():
            subject, how = recorded, "the subject table of the earlier run, read again"
    # the columns the earlier run was told to use (not derive's defaults), unless named now
    from latc.omics._outcomes import DEFAULT_EVENT, DEFAULT_RESPONSE, DEFAULT_TIME

    if response is None and pcols.get("response_columns") and pcols["response_columns"] != [DEFAULT_RESPONSE]:
        response = pcols["response_columns"]
    if time_col is None and pcols.get("time_column") not in (None, DEFAULT_TIME):
        time_col = pcols["time_column"]
    if event_col is None and pcols.get("event_column") not in (None, DEFAULT_EVENT):
        event_col = pcols["event_column"]
    step("reading the subject table")
    if study and not Path(study).exists():
        study = None  # the earlier run's study moved: only --subject can give the outcomes
    o = load_outcomes(study, subject, response=response, time=time_col, event=event_col)
    o.how = how or o.how
    step(f"reading {h5}")
    a = ad.read_h5ad(h5)
    if "cell_type" not in a.obs or "sample_id" not in a.obs:
        raise OmicsInputError(f"{h5}: not a processed `latc omics sc run` AnnData (no obs cell_type/sample_id)")
    qc_prev = h5.parent / "tables" / "qc_summary.csv"
    paired = _earlier_paired_de(h5.parent, pcols, de_cell_types, min_cells_de)
    secs = {"read": time.perf_counter() - t0}
    annotate_outcomes(a, o)
    r = run_statistics(a, outcomes=o, de_cell_types=de_cell_types, min_cells_de=min_cells_de, paired_de=paired, n_jobs=n_jobs,
                       progress=progress)
    if qc_prev.is_file() and "qc_summary" not in r.tables:
        r.tables["qc_summary"] = pd.read_csv(qc_prev)  # QC is not rerun: keep the earlier run's table
    r.seconds = {**secs, **r.seconds}
    r.steps = ["read_h5ad", "statistics"]
    tcr = None
    tcr_h5 = h5.parent / "tcr.h5ad"
    if tcr_h5.is_file():  # the earlier run's analysed T-cell receptors: clonotypes kept, statistics redone
        from latc.omics.sc._tcr import run_tcr

        step(f"TCR statistics on {tcr_h5}")
        t = run_tcr(ad.read_h5ad(tcr_h5), adata=a, outcomes=o, progress=progress)
        _merge_tcr(r, t)
        tcr = t.tcr
        qc_tcr = h5.parent / "tables" / "tcr_qc.csv"
        if qc_tcr.is_file():  # chain QC counts cells the saved tcr.h5ad no longer holds: keep the earlier table
            r.tables["tcr_qc"] = pd.read_csv(qc_tcr)
    inputs = {**(prev.get("inputs") or {}), "adata": files_checksum({"adata": h5}),
              "subject": files_checksum({"subject": o.source}) if o.source and Path(o.source).is_file() else None}
    params = {**{k: v for k, v in pcols.items() if k not in ("response_columns", "time_column", "event_column")},
              "statistics_only": True, "from_h5ad": str(h5), "figures": figures,
              "de_cell_types": de_cell_types, "min_cells_de": min_cells_de, "paired_de_reused": paired is not None,
              "response_columns": o.responses, "time_column": o.time, "event_column": o.event}
    write_outputs(r, Path(out) if out is not None else h5.parent, figures=figures, progress=progress,
                  command="latc omics sc stats", parameters=params, inputs=inputs, tcr=tcr)
    return r, o.message()


def _earlier_paired_de(folder: Path, params: dict, de_cell_types, min_cells_de: int):
    """The paired pseudobulk DE rows and skip records an earlier run wrote in ``folder``, when they
    were computed with the same DE settings (None otherwise: they are refitted)."""
    de_csv, skipped_csv = folder / "tables" / "pseudobulk_de.csv", folder / "skipped.csv"
    if not (de_csv.is_file() and skipped_csv.is_file()) or not params:
        return None
    if params.get("de_cell_types") != de_cell_types or int(params.get("min_cells_de", 10)) != int(min_cells_de):
        return None
    try:
        prev = pd.read_csv(de_csv) if de_csv.stat().st_size > 1 else pd.DataFrame(columns=["tissue", "contrast"])
        sk = pd.read_csv(skipped_csv, dtype=str, keep_default_na=False)
    except (ValueError, OSError):
        return None
    # rows of an earlier latc version (before the per-fit dispersion record) are refitted: thin
    # cell types are now fitted with a shared trend
    if len(prev) and not {"tissue", "contrast", "dispersion_fit"} <= set(prev.columns):
        return None
    paired = "(~ patient_id + timepoint)"
    prev = prev[prev["contrast"].astype(str).str.endswith(paired)]
    rows = sk[(sk["analysis"] == "pseudobulk_de") & ~sk["contrast"].str.contains("response")].to_dict("records")
    fits_csv = folder / "tables" / "pseudobulk_fits.csv"
    fits = pd.DataFrame(columns=FIT_COLUMNS)
    if fits_csv.is_file() and fits_csv.stat().st_size > 1:
        try:
            f = pd.read_csv(fits_csv, keep_default_na=True)
            fits = f[f["contrast"].astype(str).str.endswith(paired)].reset_index(drop=True)
        except (ValueError, OSError, KeyError):
            pass
    return prev.reset_index(drop=True), rows, fits
