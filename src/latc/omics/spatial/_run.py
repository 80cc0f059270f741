"""``latc omics spatial run``: manifest → per-sample spatial features, figures, association tables.

Writes into ``out`` (the layout of every omics command, :mod:`latc.omics._output`):

* ``tables/spatial_features.csv`` — one row per sample (manifest keys + features);
  ``tables/spatial_feature_dictionary.csv`` — column, description;
* ``tables/spatial_nhood_enrichment.csv`` — per sample, class pair, z (squidpy);
* ``tables/spatial_tls.csv`` — one row per detected TLS;
* ``tables/spatial_association.csv`` — with a subject table: feature × endpoint × timepoint tests
  with BH-FDR (see :func:`latc.omics.spatial.associate`);
* ``adata.h5ad`` — every spot with its sample keys, ``spot_class``, ``cohort``, ``response`` and a
  UMAP of its cell-type proportions;
* ``figures/`` — ``spatial_maps_classes``, ``spatial_maps_cd8``, ``spatial_nhood_enrichment``,
  ``umap_by_outcome`` and, with a subject table, the most significant feature by response;
* ``run.json``, ``skipped.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from latc.omics._manifest import OmicsInputError
from latc.omics._outcomes import Outcomes
from latc.omics._output import Output, Progress, no_progress, write_run_json
from latc.omics.spatial._deconvolution import Reference, reference_profiles
from latc.omics.spatial._features import FEATURE_DESCRIPTIONS, associate, as_binary, spatial_features
from latc.omics.spatial._io import read_spatial_samples


def load_reference(path: str | Path, label_key: str = "cell_type") -> Reference:
    """A single-cell reference ``.h5ad`` (raw counts + ``obs[label_key]``) or a profile ``.csv``
    (genes in the first column × one column per cell type; RNA content taken as equal)."""
    path = Path(path)
    if not path.exists():
        raise OmicsInputError(f"reference {path} does not exist")
    try:
        if path.suffix == ".csv":
            prof = pd.read_csv(path, index_col=0).astype(float)
            if prof.shape[1] < 2 or (prof < 0).any().any():
                raise OmicsInputError(f"reference {path}: need ≥ 2 cell-type columns of non-negative values")
            return Reference(prof / prof.sum(axis=0), pd.Series(1.0, index=prof.columns, name="rna_content"))
        return reference_profiles(ad.read_h5ad(path), label_key)
    except OmicsInputError:
        raise
    except Exception as exc:
        raise OmicsInputError(f"reference {path}: cannot read: {type(exc).__name__}: {exc}") from None


def load_subject(path: str | Path) -> pd.DataFrame:
    """A ``subject``-like table (Parquet or CSV, or a `latc derive`/`latc run` output folder) with
    ``patient_id`` and endpoint columns."""
    from latc.omics._outcomes import load_outcomes

    path = Path(path)
    if not path.exists():
        raise OmicsInputError(f"subject table {path} does not exist")
    return load_outcomes(subject=path).table


def default_inputs(study_dir: str | Path, subject: str | Path | None, reference: str | Path | None,
                   data_root: str | Path | None = None) -> tuple[str | Path | None, Path | None, str]:
    """The CLI default of the reference: ``omics/spatial/sc_reference.h5ad`` (under ``data_root``,
    default the study folder) when present. ``subject`` is returned as given: the outcomes are found
    by :func:`latc.omics._outcomes.load_outcomes` (never the synthetic truth unless named)."""
    study_dir = Path(study_dir)
    base = Path(data_root) if data_root is not None else study_dir
    notes = []
    ref = reference
    from latc.omics.spatial._synth import REFERENCE_FILE

    if reference is None and (base / REFERENCE_FILE).exists():
        ref = base / REFERENCE_FILE
        notes.append(f"single-cell reference {ref}")
    return subject, ref, "; ".join(notes)


@dataclass
class SpatialRun:
    out: Path
    n_samples: int
    n_pending: int
    deconvolution: str
    n_tests: int = 0
    n_significant: int = 0
    files: list[Path] = field(default_factory=list)
    outcomes: Outcomes | None = None
    skipped: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        s = (f"{self.n_samples} spatial sample(s) ({self.n_pending} pending) → {self.out}; proportions by "
             f"{self.deconvolution}")
        if self.n_tests:
            s += f"; {self.n_tests} association tests, {self.n_significant} FDR-significant"
        return s


def spots_adata(samples: dict, outcomes: Outcomes | None, cohort: pd.Series | None = None) -> ad.AnnData:
    """All slides' spots in one AnnData: ``obs`` = sample keys, ``spot_class``, ``tls_score``,
    ``tls_id``, ``cohort``, ``response``; ``obsm["spatial"]`` (per-slide coordinates),
    ``obsm["celltype_proportions"]`` (columns in ``uns["celltype_proportion_names"]``)."""
    from latc.omics._manifest import SAMPLE_KEYS

    parts = []
    names = None
    for sid, r in samples.items():
        a = r.adata
        props = r.proportions
        names = list(props.columns) if names is None else names
        b = ad.AnnData(X=a.X, obs=a.obs[[c for c in SAMPLE_KEYS + ["spot_class", "tls_score", "tls_id"] if c in a.obs]].copy(),
                       var=pd.DataFrame(index=a.var_names.copy()))
        b.obs_names = [f"{sid}:{n}" for n in a.obs_names]
        b.obsm["spatial"] = np.asarray(a.obsm["spatial"], dtype=float)
        b.obsm["celltype_proportions"] = props.reindex(columns=names).to_numpy(dtype=float)
        parts.append(b)
    out = ad.concat(parts, join="outer", fill_value=0)
    for k in SAMPLE_KEYS + ["spot_class"]:
        if k in out.obs:
            out.obs[k] = out.obs[k].astype(str).astype("category")
    out.uns["celltype_proportion_names"] = np.asarray(names or [], dtype=str)
    from latc.omics._outcomes import annotate_outcomes

    annotate_outcomes(out, outcomes, cohort=cohort)
    return out


def _umap(a: ad.AnnData, seed: int) -> None:
    """UMAP of the spots by their cell-type proportions (15 neighbours)."""
    import scanpy as sc

    a.obsm["X_proportions"] = np.asarray(a.obsm["celltype_proportions"], dtype=np.float32)
    sc.pp.neighbors(a, n_neighbors=15, use_rep="X_proportions", random_state=seed,
                    transformer="sklearn" if a.n_obs <= 50_000 else None)
    sc.tl.umap(a, random_state=seed)


def run_spatial(study_dir: str | Path, out: str | Path, *, subject: str | Path | pd.DataFrame | Outcomes | None = None,
                response: str | list[str] | None = None, time_col: str | None = None, event_col: str | None = None,
                reference: str | Path | Reference | None = None, method: str = "poisson", n_perms: int = 1000,
                seed: int = 0, max_maps: int = 12, data_root: str | Path | None = None, figures: bool = True,
                umap: bool = True, progress: Progress | None = None) -> SpatialRun:
    """Run the spatial pipeline on every spatial sample of the study's (validated) manifest (module
    docstring); ``file_ref`` paths are relative to ``data_root`` (default: the study folder; for a
    `latc run` output folder, the study it ran on). Outcomes: ``subject`` (table, path or `latc
    derive` output folder), else found beside the study (:mod:`latc.omics._outcomes`), with
    ``response``/``time_col``/``event_col`` naming its columns (default derive's)."""
    import time

    from latc.omics._manifest import load_manifest, resolve_data_root, samples_for
    from latc.omics._outcomes import cohort_from_study, is_output_folder, load_outcomes, study_data_root
    from latc.omics.spatial._plots import plot_feature_by_group, plot_nhood_heatmap, plot_spatial_maps

    step = progress or no_progress
    t0 = time.perf_counter()
    study_dir = Path(study_dir)
    if data_root is None and is_output_folder(study_dir):
        data_root = study_data_root(study_dir)
        if data_root is None:
            raise OmicsInputError(f"{study_dir} is a `latc derive`/`latc validate` output folder: give the study folder "
                                  "the manifest's file_ref paths are relative to with --data-root")
    root = resolve_data_root(study_dir, data_root)
    step("reading the validated biospecimen manifest and the subject table")
    manifest = load_manifest(study_dir)
    o = subject if isinstance(subject, Outcomes) else load_outcomes(study_dir, subject, response=response, time=time_col,
                                                                   event=event_col)
    pending = samples_for(manifest, "spatial", root).attrs.get("pending", 0)
    step("reading the spatial samples")
    samples = read_spatial_samples(root, manifest)
    if not samples:
        raise OmicsInputError(f"no spatial samples with data files in the manifest of {study_dir}")
    ref = load_reference(reference) if isinstance(reference, (str, Path)) else reference
    step(f"deconvolution, neighbourhoods, infiltration and TLS of {len(samples)} slide(s)")
    res = spatial_features(samples, reference=ref, method=method, n_perms=n_perms, seed=seed)
    secs = {"features": time.perf_counter() - t0}
    o_out = Output(out)
    o_out.root.mkdir(parents=True, exist_ok=True)
    o_out.table(res.features, "spatial_features")
    o_out.table(pd.DataFrame({"column": list(FEATURE_DESCRIPTIONS), "description": list(FEATURE_DESCRIPTIONS.values())}),
                "spatial_feature_dictionary")
    o_out.table(res.nhood, "spatial_nhood_enrichment")
    o_out.table(res.tls, "spatial_tls")
    run = SpatialRun(o_out.root, len(samples), int(pending), res.features["deconvolution"].iloc[0], outcomes=o)
    subj = o.frame()
    best = None
    if subj is not None and (o.responses or o.has_rfs):
        step("association of the features with the outcomes")
        assoc = associate(res.features, subj, responses=o.responses, rfs=(o.time, o.event) if o.has_rfs else None)
        o_out.table(assoc, "spatial_association")
        run.n_tests = int(assoc["p_value"].notna().sum())
        run.n_significant = int(assoc["significant"].sum())
        tested = assoc[assoc["test"] == "mann_whitney_u"].dropna(subset=["p_value"])
        if len(tested):
            best = tested.sort_values("p_value").iloc[0]
        run.skipped += [{"analysis": "spatial_association", "reason": s_} for s_ in o.skipped]
    else:
        (o_out.tables_dir / "spatial_association.csv").unlink(missing_ok=True)
        run.skipped.append({"analysis": "spatial_association", "reason": "; ".join(o.skipped) or "no outcome column"})
    secs["association"] = time.perf_counter() - t0 - sum(secs.values())
    step("writing the spots (adata.h5ad)" + (" with a UMAP of their cell-type proportions" if umap else ""))
    spots = spots_adata(res.samples, o, cohort=cohort_from_study(study_dir))
    if umap:
        _umap(spots, seed)
    spots.write_h5ad(o_out.adata_path, compression="gzip")
    o_out.files.append(o_out.adata_path)
    secs["adata"] = time.perf_counter() - t0 - sum(secs.values())
    if figures:
        step("figures")
        o_out.figure(plot_spatial_maps(res.samples, color="spot_class", max_samples=max_maps), "spatial_maps_classes")
        o_out.figure(plot_spatial_maps(res.samples, color="cd8_t", max_samples=max_maps), "spatial_maps_cd8")
        o_out.figure(plot_nhood_heatmap(res.nhood), "spatial_nhood_enrichment")
        if umap:
            from latc.omics.sc import umap_panels  # sc's public plot of an embedding by obs column

            o_out.figure(umap_panels(spots, ["spot_class", "timepoint", "tissue", "cohort", "response"], unit="spots"),
                         "umap_by_outcome")
        if best is not None:
            grp = as_binary(res.features[["patient_id"]].merge(subj[["patient_id", best["endpoint"]]], on="patient_id",
                                                                  how="left")[best["endpoint"]])
            o_out.figure(plot_feature_by_group(res.features, best["feature"], grp.map({True: "yes", False: "no"}),
                                               title=f"{best['feature']} by {best['endpoint']}"),
                         "spatial_top_feature_by_response")
    o_out.skipped(run.skipped)
    from latc.omics._output import files_checksum, manifest_checksum

    files = {str(r_.sample_id): r_.path for r_ in samples_for(manifest, "spatial", root, require_files=False).itertuples()
             if r_.exists}
    inputs = {"study": str(study_dir.resolve()), "data_root": str(Path(root).resolve()), "manifest": manifest_checksum(manifest),
              "subject": files_checksum({"subject": o.source}) if o.source and Path(o.source).is_file() else None,
              "reference": str(reference) if isinstance(reference, (str, Path)) else ("given" if reference is not None else None),
              "data_files": files_checksum(files)}
    params = {"method": method, "n_perms": n_perms, "seed": seed, "max_maps": max_maps, "figures": figures, "umap": umap,
              "response_columns": o.responses, "time_column": o.time, "event_column": o.event}
    run.files = list(o_out.files)
    write_run_json(o_out, command="latc omics spatial run", parameters=params, inputs=inputs, outcomes=o.record(),
                   timings=secs, steps=["read", "features", "association", "adata"] + (["figures"] if figures else []),
                   counts={"n_samples": len(samples), "n_spots": int(spots.n_obs), "n_tests": run.n_tests,
                           "n_significant": run.n_significant})
    run.files.append(o_out.run_json)
    return run
