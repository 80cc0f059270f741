"""`latc export cbioportal`: write a run (and its omics outputs) as a cBioPortal study folder.

The folder holds exactly the files cBioPortal's importer reads (``meta_*.txt`` with their
``data_*.txt``, ``case_lists/``) plus ``latc_export.json`` — the export's record: latc and package
versions, the SHA-256 of every input file, the parameters, counts, and the notes (what could not be
exported and why; nothing is dropped silently). Layout and mappings: docs/cbioportal.md.

No identifiers: ids are the study's pseudonymous ``patient_id`` (checked against the dictionary's
pattern) and ids built from it; no calendar date is written (only days / months from the treatment
decision); a text value that looks like a direct identifier (e-mail, phone, long digit run,
date-of-birth label; ``latc.validate._privacy``) is written as NA and counted.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from latc.cbioportal._clinical import SAMPLE_ATTRIBUTES, patient_table, sample_table
from latc.cbioportal._inputs import OmicsInput, RunInputs, load_omics, load_run
from latc.cbioportal._meta import check_study_id, study_meta, write_case_list
from latc.cbioportal._molecular import Profile, expression_profiles, generic_assay_profiles, mutation_profile
from latc.cbioportal._timeline import timelines
from latc.cbioportal._writer import CbioportalExportError, Notes, write_clinical, write_meta, write_table

__all__ = ["ExportResult", "export_cbioportal", "RECORD"]

RECORD = "latc_export.json"
DEFAULT_STUDY_ID = "latc_neoadjuvant"


@dataclass
class ExportResult:
    """What the export wrote: the folder, its files (relative paths), counts and notes."""

    out: Path
    study_id: str
    files: list[str]
    counts: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _prepare(out: Path) -> None:
    """An empty ``out``, or one holding a previous export (its files are replaced)."""
    if out.exists() and not out.is_dir():
        raise CbioportalExportError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / RECORD).is_file():
            raise CbioportalExportError(f"--out {out}: not empty and not an earlier `latc export cbioportal` folder "
                                        f"(no {RECORD}); choose a new folder")
        for p in out.iterdir():
            if p.is_dir() and p.name == "case_lists":
                shutil.rmtree(p)
            elif p.is_file() and (p.name.startswith(("meta_", "data_")) or p.name in (RECORD, "cancer_type.txt")):
                p.unlink()
    (out / "case_lists").mkdir(parents=True, exist_ok=True)


def _mask_identifiers(frame: pd.DataFrame, skip: set[str], notes: Notes, what: str) -> pd.DataFrame:
    from latc.validate._privacy import identifier_kind

    out = frame
    for col in frame.columns:
        if col in skip or pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            continue
        values = frame[col]
        text = values.where(values.map(lambda v: isinstance(v, str)))
        kind = identifier_kind(text.astype("str"))
        hit = kind.notna().to_numpy()
        if hit.any():
            if out is frame:
                out = frame.copy()
            out.loc[hit, col] = pd.NA
            notes.add(f"{what} {col}: {int(hit.sum())} value(s) looked like a direct identifier "
                      f"({kind.dropna().iloc[0]}); written as NA")
    return out


def _sha(paths: Sequence[Path]) -> dict[str, str]:
    from latc.manifest import file_sha256

    return {str(p): file_sha256(p) for p in paths if p.is_file()}


def _write_profile(out: Path, study_id: str, p: Profile) -> list[str]:
    data_path = out / p.filename
    if p.meta.get("genetic_alteration_type") == "MUTATION_EXTENDED":
        write_table(data_path, p.data, na="")
    else:
        p.data.to_csv(data_path, sep="\t", index=False, na_rep="NA", float_format="%.6g", lineterminator="\n")
    meta_name = "meta_" + p.filename.removeprefix("data_")
    write_meta(out / meta_name, {"cancer_study_identifier": study_id, **p.meta, "data_filename": p.filename})
    return [meta_name, p.filename]


def _omics_profiles(omics: Sequence[OmicsInput], mapping: dict[str, str], study_id: str,
                    notes: Notes) -> list[Profile]:
    profiles: list[Profile] = []
    for o in omics:
        if o.kind == "bulk":
            profiles += expression_profiles(o, mapping, study_id, notes)
        profiles += generic_assay_profiles(o, mapping, notes)
    seen: set[str] = set()
    for p in profiles:
        if p.stable_id in seen:
            raise CbioportalExportError(f"--omics: two folders give the profile {p.stable_id!r}; pass one "
                                        f"`latc omics` output folder per assay")
        seen.add(p.stable_id)
    return profiles


def export_cbioportal(run_dir: str | Path, out: str | Path, *, omics: Sequence[str | Path] = (),
                      study_id: str = DEFAULT_STUDY_ID) -> ExportResult:
    """Write the run folder ``run_dir`` (and the ``omics`` output folders) as the cBioPortal study
    folder ``out`` (module docstring; docs/cbioportal.md). Raises
    :class:`~latc.cbioportal.CbioportalExportError` (one line naming the file and field) for an
    input it cannot use."""
    import latc
    from latc.manifest import software_versions

    check_study_id(study_id)
    inputs: RunInputs = load_run(run_dir)
    omics_in = [load_omics(o) for o in omics]
    out = Path(out)
    notes = Notes()

    p_attrs, patients = patient_table(inputs, notes)
    samples, mapping = sample_table(inputs, notes)
    lines = timelines(inputs, samples, notes)
    profiles: list[Profile] = []
    mut = mutation_profile(inputs, notes)
    if mut is not None:
        profiles.append(mut)
    profiles += _omics_profiles(omics_in, mapping, study_id, notes)

    patients = _mask_identifiers(patients, {"PATIENT_ID"}, notes, "patient attribute")
    samples = _mask_identifiers(samples, {"SAMPLE_ID", "PATIENT_ID"}, notes, "sample attribute")
    for t in lines:
        t.table = _mask_identifiers(t.table, {"PATIENT_ID", "SAMPLE_ID"}, notes, f"timeline {t.name}")

    _prepare(out)
    files: list[str] = []
    n_centers = int(inputs.subject["center_id"].nunique())
    write_meta(out / "meta_study.txt", study_meta(study_id, n_patients=len(patients), n_centers=n_centers,
                                                  data_cut=inputs.data_cut, version=latc.__version__))
    files.append("meta_study.txt")
    for level, attrs, table in (("patient", p_attrs, patients), ("sample", SAMPLE_ATTRIBUTES, samples)):
        data = f"data_clinical_{level}.txt"
        write_clinical(out / data, attrs, table, notes)
        write_meta(out / f"meta_clinical_{level}.txt", {
            "cancer_study_identifier": study_id, "genetic_alteration_type": "CLINICAL",
            "datatype": f"{level.upper()}_ATTRIBUTES", "data_filename": data})
        files += [f"meta_clinical_{level}.txt", data]
    for t in lines:
        data = f"data_timeline_{t.name}.txt"
        write_table(out / data, t.table, notes, na="")
        write_meta(out / f"meta_timeline_{t.name}.txt", {
            "cancer_study_identifier": study_id, "genetic_alteration_type": "CLINICAL", "datatype": "TIMELINE",
            "data_filename": data})
        files += [f"meta_timeline_{t.name}.txt", data]
    for p in profiles:
        files += _write_profile(out, study_id, p)

    cl = out / "case_lists"
    all_samples = samples["SAMPLE_ID"].tolist()
    write_case_list(cl, study_id, "all", "All samples", f"All samples ({len(all_samples)} samples)",
                    "all_cases_in_study", all_samples)
    files.append("case_lists/cases_all.txt")
    for p in profiles:
        if p.case_list:
            c = p.case_list
            write_case_list(cl, study_id, c["suffix"], c["name"], c["description"], c["category"], p.samples)
            files.append(f"case_lists/cases_{c['suffix']}.txt")

    counts = {"patients": len(patients), "samples": len(samples), "centers": n_centers,
              "timeline_events": {t.name: len(t.table) for t in lines},
              "profiles": {p.stable_id: len(p.samples) for p in profiles}}
    record = {
        "latc_version": latc.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "latc export cbioportal",
        "parameters": {"study_id": study_id, "run_dir": str(inputs.run_dir),
                       "omics": [str(o.folder) for o in omics_in]},
        "inputs": {"run": _sha(inputs.files),
                   "omics": {str(o.folder): _sha(sorted((o.folder / "tables").glob("*.csv")) + [o.folder / "adata.h5ad"]
                                                  if o.kind == "bulk" else sorted((o.folder / "tables").glob("*.csv")))
                             for o in omics_in}},
        "software": software_versions(),
        "counts": counts,
        "files": files,
        "notes": notes.lines(),
    }
    (out / RECORD).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return ExportResult(out=out, study_id=study_id, files=files, counts=counts, notes=notes.lines())
