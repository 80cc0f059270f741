"""The biospecimen manifest as the spine of the omics layer.

Every omics file is reached through the ``biospecimens`` form: a sample's ``file_ref`` is a path
relative to the study folder, and its ``sample_id, patient_id, center_id, timepoint, tissue``
travel with the data (AnnData ``obs``, feature-table rows) so every cell, spot or feature row can
be joined to the patient's derived endpoints.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Sample metadata every omics object carries (AnnData ``obs`` columns, feature-table columns).
SAMPLE_KEYS: list[str] = ["sample_id", "patient_id", "center_id", "timepoint", "tissue"]


class OmicsInputError(Exception):
    """An omics input problem for a named sample (missing file, metadata not matching the manifest)."""


def load_manifest(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The biospecimen manifest: a clean ``biospecimens`` table, or read from a study folder /
    validation output (``biospecimens.csv`` or ``clean/biospecimens.parquet``)."""
    if isinstance(source, pd.DataFrame):
        return source.copy()
    p = Path(source)
    for cand in (p / "clean" / "biospecimens.parquet", p / "biospecimens.parquet"):
        if cand.exists():
            return pd.read_parquet(cand)
    for cand in (p / "biospecimens.csv", p / "clean" / "biospecimens.csv", p):
        if cand.is_file():
            return pd.read_csv(cand, dtype=str, keep_default_na=False).replace({"": pd.NA})
    raise OmicsInputError(f"no biospecimen manifest found under {p}")


def samples_for(manifest: pd.DataFrame, assay: str, root: str | Path, *, require_files: bool = True) -> pd.DataFrame:
    """Manifest rows of one assay with their absolute ``path`` and an ``exists`` flag.

    With ``require_files`` a sample whose ``file_ref`` is set but whose file is absent raises
    :class:`OmicsInputError` naming the sample(s); samples without ``file_ref`` (data pending)
    are skipped and counted in ``attrs["pending"]``.
    """
    root = Path(root)
    m = manifest[manifest["assay"] == assay]
    pending = int(m["file_ref"].isna().sum())
    m = m[m["file_ref"].notna()].copy()
    m["path"] = [root / ref for ref in m["file_ref"].astype(str)]
    m["exists"] = [p.exists() for p in m["path"]]
    if require_files and not m["exists"].all():
        missing = m.loc[~m["exists"], ["sample_id", "file_ref"]]
        shown = "; ".join(f"{r.sample_id} → {r.file_ref}" for r in missing.head(5).itertuples())
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise OmicsInputError(f"{len(missing)} {assay} file(s) named in the manifest are missing under {root}: {shown}{more}")
    m.attrs["pending"] = pending
    return m.reset_index(drop=True)


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
