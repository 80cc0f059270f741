"""The biospecimen manifest as the spine of the omics layer.

Every omics file is reached through the ``biospecimens`` form: a sample's ``file_ref`` is a path
relative to the study folder (or to an explicitly given data root, ``--data-root``), and its
``sample_id, patient_id, center_id, timepoint, tissue`` travel with the data (AnnData ``obs``,
feature-table rows) so every cell, spot or feature row can be joined to the patient's derived
endpoints.

Only the **validated** manifest is analysed (:func:`load_manifest`): a raw study is read with
:func:`latc.io.read_study` and checked with :func:`latc.validate.validate_study`, and a row that
validation quarantines is never analysed. Every ``file_ref`` must stay inside the data root
(:func:`latc._paths.resolve_inside`); a sample that is not analysed for either reason is reported
once, naming the sample and the rule, as a :class:`SampleRefused` warning (the CLI prints them), and
the other samples still run.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from latc._paths import PathEscapeError, inside, resolve_inside
from latc.errors import LatcError

#: Sample metadata every omics object carries (AnnData ``obs`` columns, feature-table columns).
SAMPLE_KEYS: list[str] = ["sample_id", "patient_id", "center_id", "timepoint", "tissue"]

FORM = "biospecimens"


class OmicsInputError(LatcError):
    """An omics input problem for a named sample (missing file, metadata not matching the manifest)."""


class SampleRefused(UserWarning):
    """A manifest sample that is not analysed: its ``biospecimens`` row is quarantined by validation,
    or its ``file_ref`` leaves the data root. ``record`` holds ``sample_id, assay, file_ref, rule,
    message`` (the CLI prints the message and writes the records to ``refused_samples.csv``)."""

    def __init__(self, message: str, record: dict | None = None) -> None:
        super().__init__(message)
        self.record = record or {"message": message}


def refuse(sample_id: object, assay: object, file_ref: object, rule: str, message: str) -> dict:
    """Report one sample that is not analysed (a :class:`SampleRefused` warning); returns its record."""
    rec = {"sample_id": None if pd.isna(sample_id) else str(sample_id), "assay": None if pd.isna(assay) else str(assay),
           "file_ref": None if pd.isna(file_ref) else str(file_ref), "rule": rule, "message": message}
    warnings.warn(SampleRefused(message, rec), stacklevel=3)
    return rec


# -- the validated manifest --------------------------------------------------------------------------

def _validated_table(p: Path) -> Path | None:
    """The clean ``biospecimens.parquet`` of a validation output: ``p`` itself (or the Parquet twin of
    ``clean/biospecimens.csv``), ``p/clean/…`` (a `latc validate` folder), ``p/validation/clean/…``
    (a `latc run` folder) or ``p/…`` (a clean folder)."""
    if p.is_file():
        if p.suffix.lower() == ".parquet":
            return p
        twin = p.with_suffix(".parquet")  # clean/biospecimens.csv of a validation output: its Parquet twin
        return twin if p.parent.name == "clean" and p.name == f"{FORM}.csv" and twin.is_file() else None
    for cand in (p / "clean" / f"{FORM}.parquet", p / "validation" / "clean" / f"{FORM}.parquet", p / f"{FORM}.parquet"):
        if cand.is_file():
            return cand
    return None


def _quarantined_records(table: pd.DataFrame | None) -> list[dict]:
    if table is None or not len(table):
        return []
    cols = {c: table[c] if c in table.columns else pd.Series(pd.NA, index=table.index)
            for c in ("sample_id", "assay", "file_ref", "quarantine_reason", "quarantine_message")}
    out = []
    for sid, assay, ref, reason, msg in zip(*cols.values()):
        out.append({"sample_id": None if pd.isna(sid) else str(sid), "assay": None if pd.isna(assay) else str(assay),
                    "file_ref": None if pd.isna(ref) else str(ref),
                    "rule": "quarantined" if pd.isna(reason) else str(reason),
                    "message": "" if pd.isna(msg) else str(msg)})
    return out


def _read_validated(table: Path) -> pd.DataFrame:
    """A clean table written by `latc validate`, with the quarantined rows beside it (for reporting)."""
    try:
        m = pd.read_parquet(table)
    except Exception as exc:  # noqa: BLE001 - an unreadable input: one line
        raise OmicsInputError(f"{table}: cannot read the validated manifest ({type(exc).__name__})") from None
    q = table.parent.parent / "quarantine" / f"{FORM}.csv"
    quarantined = []
    if table.parent.name == "clean" and q.is_file():
        quarantined = _quarantined_records(pd.read_csv(q, dtype=str, keep_default_na=False).replace({"": pd.NA}))
    m.attrs.update(quarantined=quarantined, source=f"validated table {table}", notes=[])
    return m


#: the last validations (key: resolved path + size/mtime of its files), so a command that needs the
#: manifest and another form (bulk: patients, diagnosis) validates the study once
_VALIDATED: dict[tuple, tuple[dict, dict, str, list[str]]] = {}


def _fingerprint(p: Path) -> tuple:
    files = [p] if p.is_file() else sorted(f for f in p.iterdir() if f.is_file())
    return (str(p.resolve()), tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files))


def _validate_raw(p: Path) -> tuple[dict, dict, str, list[str]]:
    """Read ``p`` (study folder, workbook, REDCap export or a biospecimens CSV) and validate it:
    ``(clean tables, quarantined tables, source of the biospecimens form, notes)``."""
    import dataclasses
    import shutil
    import tempfile

    from latc.dictionary import load_dictionary
    from latc.io import StudyReadError, read_study
    from latc.validate import validate_study

    try:
        key = _fingerprint(p)
    except OSError as exc:
        raise OmicsInputError(f"{p}: cannot read the biospecimen manifest ({exc.strerror or exc})") from None
    if key in _VALIDATED:
        return _VALIDATED[key]
    tmp = None
    try:
        if p.is_file() and p.suffix.lower() in (".csv", ".txt"):
            # one form's file (e.g. --manifest my_manifest.csv): read it as the study's biospecimens form
            tmp = tempfile.TemporaryDirectory(prefix="latc-manifest-")
            shutil.copyfile(p, Path(tmp.name) / f"{FORM}.csv")
            study = read_study(tmp.name)
        else:
            study = read_study(p)
    except StudyReadError as exc:
        raise OmicsInputError(str(exc)) from None
    except OSError as exc:
        raise OmicsInputError(f"{p}: cannot read the biospecimen manifest ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            tmp.cleanup()
    if FORM in study.missing_forms:
        raise OmicsInputError(f"no biospecimen manifest found under {p} (expected {FORM}.csv, or a `latc validate` "
                              f"output folder with clean/{FORM}.parquet)")
    d = load_dictionary()
    notes = []
    if "patients" in study.missing_forms:
        # a manifest without its study: every rule of the biospecimens form applies; the patient
        # references (patient exists, center matches) need the patients form and are not checked
        d = dataclasses.replace(d, rules={**d.rules, "references": [
            r for r in d.rules.get("references", []) if r.get("refers_to") != "patients"]})
        notes.append(f"{p} holds no patients form: the manifest's patient references are not checked")
    result = validate_study(study, dictionary=d)
    clean = {k: v for k, v in result.clean.items() if k not in study.missing_forms}
    source = study.sources.get(FORM) or f"{p}"
    _VALIDATED.clear()
    _VALIDATED[key] = (clean, result.quarantine, source, notes)
    return _VALIDATED[key]


def validated_form(source: str | Path, form: str) -> pd.DataFrame | None:
    """The clean table of another form of the study ``source`` (e.g. ``patients``), from a validation
    output folder or by validating the study as :func:`load_manifest` does; None when the study
    has no such form."""
    p = Path(source)
    if not p.exists():
        return None
    table = _validated_table(p)
    if table is not None:
        other = table.parent / f"{form}.parquet"
        return pd.read_parquet(other) if other.is_file() else None
    clean, *_ = _validate_raw(p)
    return clean[form].copy() if form in clean else None


def load_manifest(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The validated biospecimen manifest (the clean ``biospecimens`` table).

    ``source`` is one of:

    * a DataFrame — taken as a clean ``biospecimens`` table (the caller validated it);
    * a validation output — a `latc validate` folder (``clean/biospecimens.parquet``), a `latc run`
      folder (``validation/clean/…``), its ``clean`` folder or the Parquet file itself;
    * anything else — a study folder (one CSV per form, or a REDCap export), an XLSX workbook, or a
      biospecimens CSV — is read with :func:`latc.io.read_study` and validated with
      :func:`latc.validate.validate_study`; only the clean rows are returned. A folder without a
      ``patients`` form is validated as a manifest: every rule of the form, but not the patient
      references (noted in ``attrs["notes"]``).

    ``attrs["quarantined"]`` lists the rows validation rejected (``sample_id, assay, file_ref, rule,
    message``); :func:`samples_for` reports those of its assay. Raises :class:`OmicsInputError` when
    there is no readable manifest.
    """
    if isinstance(source, pd.DataFrame):
        return source.copy()
    p = Path(source)
    if not p.exists():
        raise OmicsInputError(f"no biospecimen manifest found: {p} does not exist")
    table = _validated_table(p)
    if table is not None:
        return _read_validated(table)
    clean, quarantine, src, notes = _validate_raw(p)
    m = clean[FORM].copy()
    m.attrs.update(quarantined=_quarantined_records(quarantine.get(FORM)), source=f"{src} (validated)", notes=list(notes))
    return m


def resolve_data_root(study_dir: str | Path, root: str | Path | None = None) -> Path:
    """The folder ``file_ref`` paths are relative to: ``root`` (``--data-root``) when given, else the
    study folder (the folder holding it, for a workbook or CSV file)."""
    if root is not None:
        r = Path(root)
        if not r.is_dir():
            raise OmicsInputError(f"data root not found: {r} is not a folder")
        return r
    p = Path(study_dir)
    return p if p.is_dir() or not p.suffix else p.parent


def samples_for(manifest: pd.DataFrame, assay: str, root: str | Path, *, require_files: bool = True) -> pd.DataFrame:
    """Manifest rows of one assay with their ``path`` (inside ``root``) and an ``exists`` flag.

    A ``file_ref`` that is absolute, climbs with ``..`` or resolves outside ``root`` (a symbolic
    link) is refused; so is a row of this assay that validation quarantined (``manifest.attrs``).
    Refused samples are skipped, each reported once as a :class:`SampleRefused` warning naming the
    sample and the rule, and listed in ``attrs["refused"]``.

    With ``require_files`` a sample whose ``file_ref`` is set but whose file is absent raises
    :class:`OmicsInputError` naming the sample(s); samples without ``file_ref`` (data pending)
    are skipped and counted in ``attrs["pending"]``.
    """
    root = Path(root)
    m = manifest[manifest["assay"] == assay]
    refused: list[dict] = []
    for rec in manifest.attrs.get("quarantined", ()) or ():
        if rec.get("assay") == assay:
            refused.append(refuse(rec.get("sample_id"), assay, rec.get("file_ref"), rec.get("rule", "quarantined"),
                                  f"{assay} sample {rec.get('sample_id')}: not analysed, its {FORM} row is quarantined "
                                  f"by validation [{rec.get('rule')}]: {rec.get('message')}"))
    pending = int(m["file_ref"].isna().sum())
    m = m[m["file_ref"].notna()].copy()
    paths, keep = [], []
    for sid, ref in zip(m["sample_id"], m["file_ref"].astype(str)):
        try:
            paths.append(resolve_inside(root, ref, root_label=f"the data folder {root}"))
            keep.append(True)
        except PathEscapeError as exc:
            refused.append(refuse(sid, assay, ref, exc.rule,
                                  f"{assay} sample {sid}: not analysed, {exc} (rule {exc.rule})"))
            paths.append(None)
            keep.append(False)
    m["path"] = paths
    m = m[keep].copy()
    m["exists"] = [p.exists() for p in m["path"]]
    if require_files and not m["exists"].all():
        missing = m.loc[~m["exists"], ["sample_id", "file_ref"]]
        shown = "; ".join(f"{r.sample_id} → {r.file_ref}" for r in missing.head(5).itertuples())
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise OmicsInputError(f"{len(missing)} {assay} file(s) named in the manifest are missing under {root}: {shown}{more}")
    m.attrs["pending"] = pending
    m.attrs["refused"] = refused
    return m.reset_index(drop=True)


def drop_outside(rows: pd.DataFrame, root: str | Path, assay: str, companion) -> pd.DataFrame:
    """Refuse rows whose companion file (``companion(path)`` → path or None, e.g. an ultrasound
    image's lesion mask beside it) resolves outside ``root``; returns the rows kept."""
    keep = []
    for r in rows.itertuples(index=False):
        c = companion(r.path) if getattr(r, "exists", True) else None
        ok = c is None or inside(root, c)
        if not ok:
            refuse(r.sample_id, assay, r.file_ref, "file_ref_outside",
                   f"{assay} sample {r.sample_id}: not analysed, {Path(c).name} beside its file_ref {r.file_ref!r} "
                   f"resolves outside the data folder {root} (a symbolic link pointing outside) (rule file_ref_outside)")
        keep.append(ok)
    return rows[keep].reset_index(drop=True)


def check_sample_metadata(found: pd.DataFrame, manifest: pd.DataFrame, *, what: str = "data") -> None:
    """Raise :class:`OmicsInputError` when metadata carried by the data (one row per sample with
    any of :data:`SAMPLE_KEYS`) disagrees with the manifest, naming the sample and field."""
    keys = [k for k in SAMPLE_KEYS if k in found.columns]
    if "sample_id" not in keys:
        raise OmicsInputError(f"{what} carries no sample_id to link it to the manifest")
    ref = manifest.set_index("sample_id")
    unknown = sorted(set(found["sample_id"].astype(str)) - set(ref.index.astype(str)))
    if unknown:
        raise OmicsInputError(f"{what}: sample(s) not in the manifest: {', '.join(unknown[:5])}")
    f = found.drop_duplicates("sample_id").set_index("sample_id")
    for k in keys:
        if k == "sample_id":
            continue
        a, b = f[k].astype(str), ref.loc[f.index, k].astype(str)
        bad = a[a != b]
        if len(bad):
            s = bad.index[0]
            raise OmicsInputError(f"{what}: sample {s} has {k}={a[s]!r} but the manifest says {b[s]!r}")
