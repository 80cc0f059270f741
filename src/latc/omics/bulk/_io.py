"""Bulk RNA-seq counts in: one file per sample, a shared matrix (genes × samples or samples × genes,
detected) or an AnnData, always linked to the biospecimen manifest.

The result is an AnnData with samples as observations (``obs`` = :data:`~latc.omics.SAMPLE_KEYS`
from the manifest), genes as variables and raw integer counts in ``X`` and ``layers["counts"]``.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, check_sample_metadata, load_manifest, refuse, resolve_data_root, samples_for

ASSAY = "bulk_rna_seq"


def _sep(path: Path) -> str:
    return "," if path.suffix.lower() == ".csv" else "\t"


def read_counts_table(path: str | Path, sample_ids: set[str] | None = None) -> pd.DataFrame:
    """A counts table as samples × genes (integers).

    Accepts a genes × samples or samples × genes CSV/TSV whose first column holds the row names.
    Orientation is detected from which axis carries known ``sample_ids`` (manifest ids); without
    them, the axis whose labels look like sample ids (``<patient>-<code>``) is taken as samples,
    else the longer axis is taken as genes. A two-column file (gene, count) is one sample, named by
    the file stem. Raises :class:`OmicsInputError` naming the file, row and column of a bad value.
    """
    path = Path(path)
    if not path.exists():
        raise OmicsInputError(f"counts file not found: {path}")
    try:
        raw = pd.read_csv(path, sep=_sep(path), index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise OmicsInputError(f"{path.name}: not a readable counts table ({exc})") from None
    if raw.shape[1] == 0 or raw.shape[0] == 0:
        raise OmicsInputError(f"{path.name}: no counts (expected a gene column and at least one count column)")
    raw.index = raw.index.astype(str)
    raw.columns = raw.columns.astype(str)
    if raw.shape[1] == 1 and (sample_ids is None or raw.columns[0] not in sample_ids):
        raw.columns = [path.stem]  # per-sample file: gene, count
        orient = "genes_x_samples"
    else:
        orient = _orientation(raw, sample_ids)
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in raw.dtypes)
    values = raw if numeric else raw.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() | (values < 0) | (values % 1 != 0)
    if bad.to_numpy().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        rowname, colname = raw.index[r], raw.columns[c]
        raise OmicsInputError(
            f"{path.name}: row {r + 2} ({rowname}), column {colname!r}: value {str(raw.iat[r, c])!r} is not a "
            "non-negative integer count (raw counts are required, not normalised values)")
    counts = values.astype(np.int64)
    counts = counts.T if orient == "genes_x_samples" else counts
    counts.index.name, counts.columns.name = "sample_id", "gene"
    dup = counts.columns[counts.columns.duplicated()]
    if len(dup):
        raise OmicsInputError(f"{path.name}: gene {dup[0]!r} appears more than once")
    dup = counts.index[counts.index.duplicated()]
    if len(dup):
        raise OmicsInputError(f"{path.name}: sample {dup[0]!r} appears more than once")
    return counts


def _orientation(raw: pd.DataFrame, sample_ids: set[str] | None) -> str:
    if sample_ids:
        in_cols = raw.columns.isin(list(sample_ids)).sum()
        in_rows = raw.index.isin(list(sample_ids)).sum()
        if in_cols or in_rows:
            return "genes_x_samples" if in_cols >= in_rows else "samples_x_genes"
    pattern = r"^[A-Z][A-Z0-9]{1,5}-[0-9]{3,6}-[A-Z0-9_]{1,20}$"
    cols_like = raw.columns.str.match(pattern).mean()
    rows_like = raw.index.str.match(pattern).mean()
    if cols_like != rows_like:
        return "genes_x_samples" if cols_like > rows_like else "samples_x_genes"
    return "genes_x_samples" if raw.shape[0] >= raw.shape[1] else "samples_x_genes"


def counts_to_anndata(counts: pd.DataFrame, manifest: pd.DataFrame, *, what: str = "bulk counts") -> ad.AnnData:
    """Samples × genes counts joined to the manifest: ``obs`` gets :data:`SAMPLE_KEYS` (+ ``assay``)."""
    known = set(manifest["sample_id"].astype(str))
    unknown = [s for s in counts.index if s not in known]
    if unknown:
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise OmicsInputError(f"{what}: sample(s) not in the biospecimen manifest: {', '.join(unknown[:5])}{more}")
    m = manifest.drop_duplicates("sample_id").set_index("sample_id")
    obs = m.loc[counts.index, [k for k in SAMPLE_KEYS if k != "sample_id"] + (["assay"] if "assay" in m else [])].copy()
    if "assay" in obs:
        wrong = obs.index[obs["assay"].astype(str) != ASSAY]
        if len(wrong):
            raise OmicsInputError(f"{what}: sample {wrong[0]} is a {obs.loc[wrong[0], 'assay']} sample in the manifest, not {ASSAY}")
    obs.index = obs.index.astype(str)
    obs.index.name = None
    obs.insert(0, "sample_id", obs.index.to_numpy())
    obs = obs.astype(str)
    X = counts.to_numpy(dtype=np.int64)
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=counts.columns.astype(str)))
    adata.layers["counts"] = X.copy()
    return adata


def _drop_quarantined(table: pd.DataFrame, manifest: pd.DataFrame, what: str) -> pd.DataFrame:
    """Rows (samples) of a shared counts matrix whose biospecimens row validation quarantined are
    not analysed: dropped, each reported once (:class:`latc.omics.SampleRefused`)."""
    quarantined = {r.get("sample_id"): r for r in manifest.attrs.get("quarantined", ()) or ()}
    drop = [s for s in table.index if s in quarantined]
    for sid in drop:
        r = quarantined[sid]
        refuse(sid, ASSAY, what, r.get("rule", "quarantined"),
               f"{ASSAY} sample {sid}: not analysed, its biospecimens row is quarantined by validation "
               f"[{r.get('rule')}]: {r.get('message')}")
    return table.drop(index=drop) if drop else table


def read_bulk(source: str | Path | pd.DataFrame, root: str | Path | None = None, *,
              counts: str | Path | ad.AnnData | None = None, strict: bool = True) -> ad.AnnData:
    """All bulk RNA-seq samples of a study as one AnnData (samples × genes, raw counts).

    ``source`` is a study folder (or a manifest DataFrame with ``root``). Without ``counts`` the
    manifest's ``file_ref`` files of assay ``bulk_rna_seq`` are read (one file per sample, or a
    shared matrix referenced by several samples); a named file that is missing raises
    :class:`OmicsInputError` naming the sample. ``counts`` may instead be a shared CSV/TSV matrix
    or an AnnData (samples × genes; ``obs_names`` or ``obs["sample_id"]`` are sample ids), whose
    samples are checked against the manifest. With ``strict=False`` samples whose file is absent
    are skipped and listed in ``uns["missing_samples"]`` instead of raising.
    """
    manifest = load_manifest(source)
    root = Path(root if root is not None else resolve_data_root(source) if not isinstance(source, pd.DataFrame) else ".")
    known = set(manifest["sample_id"].astype(str))
    if isinstance(counts, ad.AnnData):
        ids = counts.obs["sample_id"].astype(str) if "sample_id" in counts.obs else counts.obs_names.astype(str)
        X = counts.layers["counts"] if "counts" in counts.layers else counts.X
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        if (X < 0).any() or (X % 1 != 0).any():
            raise OmicsInputError("bulk AnnData: X (or layers['counts']) must hold non-negative integer counts")
        table = pd.DataFrame(X.astype(np.int64), index=pd.Index(ids, name="sample_id"), columns=counts.var_names.astype(str))
        table = _drop_quarantined(table, manifest, "bulk AnnData")
        adata = counts_to_anndata(table, manifest, what="bulk AnnData")
        carried = counts.obs.reset_index(drop=True).assign(sample_id=list(ids))
        carried = carried[carried["sample_id"].isin(table.index)]
        check_sample_metadata(carried, manifest, what="bulk AnnData")
        return adata
    if counts is not None:
        quarantined = {r.get("sample_id") for r in manifest.attrs.get("quarantined", ()) or ()} - {None}
        table = read_counts_table(counts, known | quarantined)
        return counts_to_anndata(_drop_quarantined(table, manifest, Path(counts).name), manifest, what=Path(counts).name)
    rows = samples_for(manifest, ASSAY, root, require_files=strict)
    missing = rows.loc[~rows["exists"], "sample_id"].astype(str).tolist()
    rows = rows[rows["exists"]]
    if rows.empty:
        raise OmicsInputError(f"no {ASSAY} samples with a data file in the manifest under {root}")
    parts, paths = [], []
    for path, group in rows.groupby("path", sort=False):
        paths.append(Path(path))
        table = read_counts_table(path, known)
        if table.shape[0] == 1 and len(group) == 1 and table.index[0] == Path(path).stem:
            table.index = [group["sample_id"].iloc[0]]  # per-sample file named by its sample
        absent = set(group["sample_id"]) - set(table.index)
        if absent:
            raise OmicsInputError(f"{Path(path).name}: no counts for sample(s) {', '.join(sorted(absent)[:5])} named in the manifest")
        parts.append(table.loc[[s for s in table.index if s in set(group["sample_id"])]])
    genes = parts[0].columns
    for p, path in zip(parts, paths):
        if not p.columns.equals(genes) and set(p.columns) != set(genes):
            diff = sorted(set(genes).symmetric_difference(p.columns))[:3]
            raise OmicsInputError(f"{path.name}: gene list differs from the other samples (e.g. {', '.join(diff)})")
    table = pd.concat([p[genes] for p in parts])
    table.index.name = "sample_id"
    adata = counts_to_anndata(table, manifest, what=f"{ASSAY} files")
    adata.uns["missing_samples"] = missing
    return adata
