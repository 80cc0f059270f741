"""``latc omics imaging run``: ultrasonomics, delta-radiomics and H&E features for a study folder.

Writes into ``out`` (the layout of every omics command, :mod:`latc.omics._output`):

* ``tables/radiomics.csv`` (+ ``radiomics_parameters.json``: IBSI preprocessing and software versions)
* ``tables/delta_radiomics.csv`` (long: patient, lesion, from → to timepoint, feature, absolute/relative change)
* ``tables/histology.csv`` (per sample), ``tables/histology_tiles.csv`` (per tile), ``histology_parameters.json``
* ``tables/association.csv`` (Mann–Whitney + BH-FDR per timepoint and response column) and
  ``tables/association_rfs.csv`` (Cox per SD + BH-FDR) when a subject table is found — `latc derive`'s
  (:mod:`latc.omics._outcomes`; never the synthetic truth unless named)
* ``missing_files.csv`` — manifest samples whose file is absent (skipped unless ``strict``)
* ``figures/`` — example overlays (SVG + 300-dpi PNG); ``skipped.csv``, ``run.json``
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from latc._paths import safe_filename
from latc.omics._manifest import (OmicsInputError, check_sample_metadata, drop_outside, load_manifest,
                                  resolve_data_root, samples_for)
from latc.omics._outcomes import Outcomes
from latc.omics._output import Output, Progress, no_progress, write_run_json
from latc.omics.imaging._delta import delta_radiomics
from latc.omics.imaging._features import feature_columns, join_subject, univariate_association
from latc.omics.imaging._histology import HistologySettings, histology_tables
from latc.omics.imaging._radiomics import RadiomicsSettings, extract_radiomics

@dataclass
class ImagingResult:
    radiomics: pd.DataFrame
    delta: pd.DataFrame
    histology: pd.DataFrame
    association: pd.DataFrame
    missing: pd.DataFrame
    written: list[Path] = field(default_factory=list)
    subject_source: str | None = None
    outcomes: Outcomes | None = None


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
                outcomes: list[str] | str | None = None, time_col: str | None = None, event_col: str | None = None,
                n_examples: int = 2, sample_ids: list[str] | None = None, figures: bool = True,
                progress: Progress | None = None) -> ImagingResult:
    """Extract and write the imaging feature tables of a study folder (module docstring).

    ``subject``: DataFrame, CSV/Parquet path or `latc derive`/`latc run` output folder with
    ``patient_id`` and outcome columns (default: found beside the study, :mod:`latc.omics._outcomes`);
    ``outcomes``: its binary response column(s) (default ``objective_response``); ``time_col`` /
    ``event_col``: its RFS columns (default ``rfs_time_months`` / ``rfs_event``).
    ``strict``: a manifest file that is absent is an error instead of being skipped.
    ``sample_ids``: restrict to these samples (all when None).
    ``data_root``: the folder ``file_ref`` paths are relative to (default: the study folder).
    The manifest is the validated one (:func:`latc.omics.load_manifest`); figure file names are
    made from sample ids with :func:`latc._paths.safe_filename`.
    """
    import time

    import numpy as np

    from latc.omics._outcomes import is_output_folder, load_outcomes, study_data_root
    from latc.omics._output import files_checksum, manifest_checksum
    from latc.omics.imaging._histology import tile_features
    from latc.omics.imaging._io import load_he_tiles, load_ultrasound
    from latc.omics.imaging._plots import plot_nuclei_overlay, plot_ultrasound_overlay

    step = progress or no_progress
    t0 = time.perf_counter()
    study_dir, out = Path(study_dir), Path(out)
    if data_root is None and is_output_folder(study_dir):
        data_root = study_data_root(study_dir)
    root = resolve_data_root(study_dir, data_root)
    step("reading the validated biospecimen manifest and the subject table")
    manifest = load_manifest(study_dir)
    o = subject if isinstance(subject, Outcomes) else load_outcomes(study_dir, subject, response=outcomes,
                                                                   time=time_col, event=event_col)
    if sample_ids:
        unknown = sorted(set(sample_ids) - set(manifest["sample_id"].astype(str)))
        if unknown:
            raise OmicsInputError(f"sample(s) not in the manifest: {', '.join(unknown[:5])}")
        manifest = manifest[manifest["sample_id"].isin(sample_ids)]
    rs = radiomics_settings or RadiomicsSettings()
    hs = histology_settings or HistologySettings()
    us, miss_us = _samples(manifest, "ultrasound", root, strict)
    he, miss_he = _samples(manifest, "he_slide", root, strict)
    oo = Output(out)
    oo.root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    step(f"radiomics of {len(us)} ultrasound image(s)")
    rad = extract_radiomics(us, rs)
    if len(rad):
        check_sample_metadata(rad, manifest, what="radiomics table")
    delta = delta_radiomics(rad, feature_columns=feature_columns(rad)) if len(rad) else delta_radiomics(
        pd.DataFrame(columns=["sample_id", "patient_id", "timepoint", "tissue"]))
    step(f"histology features of {len(he)} H&E slide(s)")
    hist, tiles = histology_tables(he, hs)
    if len(hist):
        check_sample_metadata(hist, manifest, what="histology table")

    for name, table in (("radiomics", rad), ("delta_radiomics", delta), ("histology", hist),
                        ("histology_tiles", tiles)):
        written.append(oo.table(table, name))
    for name, params in (("radiomics_parameters.json", rs.to_dict()), ("histology_parameters.json", hs.to_dict())):
        p = out / name
        p.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
        written.append(p)
    missing = pd.concat([miss_us, miss_he], ignore_index=True)
    p = out / "missing_files.csv"
    missing.to_csv(p, index=False, lineterminator="\n")
    written.append(p)

    subj = o.frame()
    assoc = pd.DataFrame()
    skipped = [{"analysis": "association", "reason": s_} for s_ in o.skipped]
    if subj is not None and o.responses:
        step("association of the features with the response")
        frames = []
        for table, kind in ((rad, "radiomics"), (hist, "histology")):
            if table.empty:
                continue
            j = join_subject(table, subj, o.responses)
            feats = feature_columns(table)
            for oc in o.responses:
                a = univariate_association(j, oc, feats)
                frames.append(a.assign(modality=kind))
        if frames:
            assoc = pd.concat(frames, ignore_index=True)
        written.append(oo.table(assoc, "association"))
    if subj is not None and o.has_rfs:
        from latc.omics._associate import associate

        step("association of the features with RFS")
        frames = []
        for table, kind in ((rad, "radiomics"), (hist, "histology")):
            if table.empty:
                continue
            feats = [c for c in feature_columns(table) if pd.api.types.is_numeric_dtype(table[c])]
            frames.append(associate(table, subj, responses=[], rfs=(o.time, o.event), feature_columns=feats)
                          .assign(modality=kind))
        written.append(oo.table(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(), "association_rfs"))

    fig_dir = oo.figures_dir
    if figures:
        step("example figures")
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
    oo.files = list(written)
    oo.skipped(skipped)
    files = {f"{r_['sample_id']}": r_["path"] for r_ in pd.concat([us, he], ignore_index=True).to_dict("records")}
    inputs = {"study": str(study_dir.resolve()), "data_root": str(Path(root).resolve()), "manifest": manifest_checksum(manifest),
              "subject": files_checksum({"subject": o.source}) if o.source and Path(o.source).is_file() else None,
              "data_files": files_checksum(files)}
    params = {"radiomics": rs.to_dict(), "histology": hs.to_dict(), "strict": strict, "figures": figures,
              "sample_ids": sample_ids, "response_columns": o.responses, "time_column": o.time, "event_column": o.event}
    write_run_json(oo, command="latc omics imaging run", parameters=params, inputs=inputs, outcomes=o.record(),
                   timings={"total": time.perf_counter() - t0}, steps=["radiomics", "histology", "association"],
                   counts={"n_ultrasound": int(len(rad)), "n_he": int(len(hist))})
    written += [oo.skipped_csv, oo.run_json]
    source = o.source if o.table is not None else None
    return ImagingResult(rad, delta, hist, assoc, missing, written, source, o)
