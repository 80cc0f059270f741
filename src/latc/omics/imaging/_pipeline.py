"""``latc omics imaging run``: ultrasonomics, delta-radiomics and H&E features for a study folder.

Writes into ``out``:

* ``radiomics.csv`` + ``radiomics_parameters.json`` (IBSI preprocessing and software versions)
* ``delta_radiomics.csv`` (long: patient, lesion, from → to timepoint, feature, absolute/relative change)
* ``histology.csv`` (per sample), ``histology_tiles.csv`` (per tile), ``histology_parameters.json``
* ``association.csv`` (Mann–Whitney + BH-FDR per timepoint and outcome) when a subject table is given
  (or, for a synthetic study, ``truth_patients.csv`` is found beside the study folder)
* ``missing_files.csv`` — manifest samples whose file is absent (skipped unless ``strict``)
* ``figures/`` — example overlays (SVG + 300-dpi PNG)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from latc._paths import safe_filename
from latc.omics._manifest import (OmicsInputError, check_sample_metadata, drop_outside, load_manifest,
                                  resolve_data_root, samples_for)
from latc.omics.imaging._delta import delta_radiomics
from latc.omics.imaging._features import feature_columns, join_subject, univariate_association
from latc.omics.imaging._histology import HistologySettings, histology_features
from latc.omics.imaging._radiomics import RadiomicsSettings, extract_radiomics

#: Binary outcome columns screened by default when present in the subject table.
DEFAULT_OUTCOMES = ["objective_response", "objective_response_latent", "pcr", "mpr"]


@dataclass
class ImagingResult:
    radiomics: pd.DataFrame
    delta: pd.DataFrame
    histology: pd.DataFrame
    association: pd.DataFrame
    missing: pd.DataFrame
    written: list[Path] = field(default_factory=list)
    subject_source: str | None = None


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False).replace({"": pd.NA})


def _resolve_subject(study_dir: Path, subject) -> tuple[pd.DataFrame | None, str | None]:
    if isinstance(subject, pd.DataFrame):
        return subject, "subject table"
    if subject is not None:
        p = Path(subject)
        if not p.exists():
            raise OmicsInputError(f"subject table {p} not found")
        return _read_table(p), p.name
    truth = study_dir.parent / "truth_patients.csv"
    if truth.exists():
        return _read_table(truth), f"{truth.name} (synthetic truth)"
    return None, None


def _samples(manifest: pd.DataFrame, assay: str, root: Path, strict: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    m = manifest[manifest["assay"] == assay]
    if m.empty:
        samples_for(manifest, assay, root, require_files=strict)  # reports this assay's quarantined rows
        return m.assign(path=[], exists=[]), pd.DataFrame(columns=["assay", "sample_id", "file_ref"])
    s = samples_for(manifest, assay, root, require_files=strict)
    if assay == "ultrasound":  # the lesion mask beside the image must stay inside the data root too
        from latc.omics.imaging._io import mask_path_for

        s = drop_outside(s, root, assay, mask_path_for)
    missing = s.loc[~s["exists"], ["sample_id", "file_ref"]].assign(assay=assay)[["assay", "sample_id", "file_ref"]]
    return s[s["exists"]].reset_index(drop=True), missing


def run_imaging(study_dir: str | Path, out: str | Path, *, subject=None, strict: bool = False,
                data_root: str | Path | None = None,
                radiomics_settings: RadiomicsSettings | None = None,
                histology_settings: HistologySettings | None = None,
                outcomes: list[str] | None = None, n_examples: int = 2,
                sample_ids: list[str] | None = None) -> ImagingResult:
    """Extract and write the imaging feature tables of a study folder (module docstring).

    ``subject``: DataFrame or CSV/Parquet path with ``patient_id`` and binary outcome columns.
    ``strict``: a manifest file that is absent is an error instead of being skipped.
    ``sample_ids``: restrict to these samples (all when None).
    ``data_root``: the folder ``file_ref`` paths are relative to (default: the study folder).
    The manifest is the validated one (:func:`latc.omics.load_manifest`); figure file names are
    made from sample ids with :func:`latc._paths.safe_filename`.
    """
    import numpy as np

    from latc.omics.imaging._histology import tile_features
    from latc.omics.imaging._io import load_he_tiles, load_ultrasound
    from latc.omics.imaging._plots import plot_nuclei_overlay, plot_ultrasound_overlay

    study_dir, out = Path(study_dir), Path(out)
    root = resolve_data_root(study_dir, data_root)
    manifest = load_manifest(study_dir)
    if sample_ids:
        unknown = sorted(set(sample_ids) - set(manifest["sample_id"].astype(str)))
        if unknown:
            raise OmicsInputError(f"sample(s) not in the manifest: {', '.join(unknown[:5])}")
        manifest = manifest[manifest["sample_id"].isin(sample_ids)]
    rs = radiomics_settings or RadiomicsSettings()
    hs = histology_settings or HistologySettings()
    us, miss_us = _samples(manifest, "ultrasound", root, strict)
    he, miss_he = _samples(manifest, "he_slide", root, strict)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    rad = extract_radiomics(us, rs)
    if len(rad):
        check_sample_metadata(rad, manifest, what="radiomics table")
    delta = delta_radiomics(rad, feature_columns=feature_columns(rad)) if len(rad) else delta_radiomics(
        pd.DataFrame(columns=["sample_id", "patient_id", "timepoint", "tissue"]))
    hist = histology_features(he, hs)
    if len(hist):
        check_sample_metadata(hist, manifest, what="histology table")
    tiles = hist.attrs.get("tiles", pd.DataFrame())

    for name, table in (("radiomics.csv", rad), ("delta_radiomics.csv", delta), ("histology.csv", hist),
                        ("histology_tiles.csv", tiles)):
        p = out / name
        table.to_csv(p, index=False, lineterminator="\n")
        written.append(p)
    for name, params in (("radiomics_parameters.json", rs.to_dict()), ("histology_parameters.json", hs.to_dict())):
        p = out / name
        p.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
        written.append(p)
    missing = pd.concat([miss_us, miss_he], ignore_index=True)
    p = out / "missing_files.csv"
    missing.to_csv(p, index=False, lineterminator="\n")
    written.append(p)

    subj, source = _resolve_subject(study_dir, subject)
    assoc = pd.DataFrame()
    if subj is not None:
        wanted = outcomes or [c for c in DEFAULT_OUTCOMES if c in subj.columns]
        frames = []
        for table, kind in ((rad, "radiomics"), (hist, "histology")):
            if table.empty or not wanted:
                continue
            j = join_subject(table, subj, wanted)
            feats = feature_columns(table)
            for o in wanted:
                a = univariate_association(j, o, feats)
                frames.append(a.assign(modality=kind))
        if frames:
            assoc = pd.concat(frames, ignore_index=True)
        p = out / "association.csv"
        assoc.to_csv(p, index=False, lineterminator="\n")
        written.append(p)

    fig_dir = out / "figures"
    for rec in us.head(n_examples).to_dict("records"):
        img = load_ultrasound(str(rec["sample_id"]), rec["path"])
        written += plot_ultrasound_overlay(img.image, img.mask, fig_dir / f"ultrasound_{safe_filename(rec['sample_id'])}",
                                           title=f"{rec['sample_id']} lesion mask", spacing_mm=img.spacing_mm)
    for rec in he.head(n_examples).to_dict("records"):
        tiles_, mpp = load_he_tiles(str(rec["sample_id"]), rec["path"])
        _, labels, nuc = tile_features(tiles_[0], mpp or hs.microns_per_pixel, hs, return_labels=True)
        til = nuc.loc[nuc["til_like"], "label"].to_numpy(dtype=np.int64) if len(nuc) else []
        written += plot_nuclei_overlay(tiles_[0], labels, til, fig_dir / f"he_{safe_filename(rec['sample_id'])}",
                                       title=f"{rec['sample_id']} tile 1: nuclei (blue), TIL-like (red)")
    return ImagingResult(rad, delta, hist, assoc, missing, written, source)
