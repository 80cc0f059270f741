"""``latc omics spatial run``: manifest → per-sample spatial features, figures, association tables.

Writes into ``out``:

* ``spatial_features.csv`` — one row per sample (manifest keys + features);
  ``spatial_feature_dictionary.csv`` — column, description;
* ``spatial_nhood_enrichment.csv`` — per sample, class pair, z (squidpy);
* ``spatial_tls.csv`` — one row per detected TLS;
* ``spatial_association.csv`` — with a subject table: feature × endpoint × timepoint tests with
  BH-FDR (see :func:`latc.omics.spatial.associate`);
* ``figures/`` — ``spatial_maps_classes``, ``spatial_maps_cd8``, ``spatial_nhood_enrichment`` and,
  with a subject table, the most significant feature by response (SVG + 300-dpi PNG).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import pandas as pd

from latc.omics._manifest import OmicsInputError
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
    """A ``subject``-like table (Parquet or CSV) with ``patient_id`` and endpoint columns."""
    path = Path(path)
    if not path.exists():
        raise OmicsInputError(f"subject table {path} does not exist")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:
        raise OmicsInputError(f"subject table {path}: cannot read: {type(exc).__name__}: {exc}") from None
    if "patient_id" not in df.columns:
        raise OmicsInputError(f"subject table {path} has no patient_id column")
    df["patient_id"] = df["patient_id"].astype("str")
    return df


def synthetic_subject(latent: pd.DataFrame) -> pd.DataFrame:
    """A subject-like table from the synthetic latent variables (``truth_patients.csv``):
    ``objective_response`` / ``mpr`` / ``pcr`` for the neoadjuvant cohort only (missing for upfront
    surgery) and a recurrence proxy ``rfs_time_days`` (recurrence or end of follow-up, days from
    time zero) / ``rfs_event``. For demonstrations; the real analysis uses the derived ``subject``."""
    neo = latent["cohort"].astype(str) == "neoadjuvant"
    out = pd.DataFrame({"patient_id": latent["patient_id"].astype("str")})
    for src, dst in (("objective_response_latent", "objective_response"), ("mpr", "mpr"), ("pcr", "pcr")):
        if src in latent:
            out[dst] = pd.to_numeric(latent[src], errors="coerce").where(neo)
    if {"tr_day", "end_day", "recurrence_observed"} <= set(latent.columns):
        tr = pd.to_numeric(latent["tr_day"], errors="coerce")
        ev = pd.to_numeric(latent["recurrence_observed"], errors="coerce")
        out["rfs_time_days"] = tr.where(ev == 1, pd.to_numeric(latent["end_day"], errors="coerce"))
        out["rfs_event"] = ev
    return out


def default_inputs(study_dir: str | Path, subject: str | Path | None, reference: str | Path | None,
                   data_root: str | Path | None = None) -> tuple[pd.DataFrame | Path | None, Path | None, str]:
    """The CLI defaults: ``truth_patients.csv`` beside a synthetic study as subject (via
    :func:`synthetic_subject`) and ``omics/spatial/sc_reference.h5ad`` (under ``data_root``, default
    the study folder) as reference, when present."""
    study_dir = Path(study_dir)
    base = Path(data_root) if data_root is not None else study_dir
    notes = []
    subj: pd.DataFrame | Path | None = subject
    if subject is None and (study_dir.parent / "truth_patients.csv").exists():
        subj = synthetic_subject(pd.read_csv(study_dir.parent / "truth_patients.csv"))
        notes.append(f"outcomes from {study_dir.parent / 'truth_patients.csv'} (synthetic truth)")
    ref = reference
    from latc.omics.spatial._synth import REFERENCE_FILE

    if reference is None and (base / REFERENCE_FILE).exists():
        ref = base / REFERENCE_FILE
        notes.append(f"single-cell reference {ref}")
    return subj, ref, "; ".join(notes)


@dataclass
class SpatialRun:
    out: Path
    n_samples: int
    n_pending: int
    deconvolution: str
    n_tests: int = 0
    n_significant: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        s = (f"{self.n_samples} spatial sample(s) ({self.n_pending} pending) → {self.out}; proportions by "
             f"{self.deconvolution}")
        if self.n_tests:
            s += f"; {self.n_tests} association tests, {self.n_significant} FDR-significant"
        return s


def run_spatial(study_dir: str | Path, out: str | Path, *, subject: str | Path | pd.DataFrame | None = None,
                reference: str | Path | Reference | None = None, method: str = "poisson", n_perms: int = 1000,
                seed: int = 0, max_maps: int = 12, data_root: str | Path | None = None) -> SpatialRun:
    """Run the spatial pipeline on every spatial sample of the study's (validated) manifest (module
    docstring); ``file_ref`` paths are relative to ``data_root`` (default: the study folder)."""
    from latc.omics._manifest import load_manifest, resolve_data_root, samples_for
    from latc.omics.spatial._plots import plot_feature_by_group, plot_nhood_heatmap, plot_spatial_maps, save_figure

    out = Path(out)
    root = resolve_data_root(study_dir, data_root)
    manifest = load_manifest(study_dir)
    pending = samples_for(manifest, "spatial", root).attrs.get("pending", 0)
    samples = read_spatial_samples(root, manifest)
    if not samples:
        raise OmicsInputError(f"no spatial samples with data files in the manifest of {study_dir}")
    ref = load_reference(reference) if isinstance(reference, (str, Path)) else reference
    subj = load_subject(subject) if isinstance(subject, (str, Path)) else subject
    res = spatial_features(samples, reference=ref, method=method, n_perms=n_perms, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "spatial_features.csv", out / "spatial_feature_dictionary.csv", out / "spatial_nhood_enrichment.csv",
             out / "spatial_tls.csv"]
    res.features.to_csv(files[0], index=False)
    pd.DataFrame({"column": list(FEATURE_DESCRIPTIONS), "description": list(FEATURE_DESCRIPTIONS.values())}).to_csv(files[1], index=False)
    res.nhood.to_csv(files[2], index=False)
    res.tls.to_csv(files[3], index=False)
    figs = out / "figures"
    files += save_figure(plot_spatial_maps(res.samples, color="spot_class", max_samples=max_maps), figs / "spatial_maps_classes")
    files += save_figure(plot_spatial_maps(res.samples, color="cd8_t", max_samples=max_maps), figs / "spatial_maps_cd8")
    files += save_figure(plot_nhood_heatmap(res.nhood), figs / "spatial_nhood_enrichment")
    run = SpatialRun(out, len(samples), int(pending), res.features["deconvolution"].iloc[0], files=files)
    if subj is not None:
        assoc = associate(res.features, subj)
        p = out / "spatial_association.csv"
        assoc.to_csv(p, index=False)
        files.append(p)
        run.n_tests = int(assoc["p_value"].notna().sum())
        run.n_significant = int(assoc["significant"].sum())
        tested = assoc[assoc["test"] == "mann_whitney_u"].dropna(subset=["p_value"])
        if len(tested):
            best = tested.sort_values("p_value").iloc[0]
            grp = as_binary(res.features[["patient_id"]].merge(subj[["patient_id", best["endpoint"]]], on="patient_id",
                                                                  how="left")[best["endpoint"]])
            fig = plot_feature_by_group(res.features, best["feature"], grp.map({True: "yes", False: "no"}),
                                        title=f"{best['feature']} by {best['endpoint']}")
            files += save_figure(fig, figs / "spatial_top_feature_by_response")
    return run
