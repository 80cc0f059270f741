"""Readers: one scRNA-seq library per manifest sample → one AnnData with the sample keys in ``obs``.

Formats (by the path of the manifest's ``file_ref``): a 10x Genomics ``.h5`` (Cell Ranger
``filtered_feature_bc_matrix.h5``, read with :func:`scanpy.read_10x_h5`), a 10x matrix folder
(``matrix.mtx[.gz]``, ``features.tsv[.gz]``/``genes.tsv``, ``barcodes.tsv[.gz]``, read with
:func:`scanpy.read_10x_mtx`) or an ``.h5ad``. Every problem names the sample.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, check_sample_metadata, samples_for

__all__ = ["ASSAY", "read_sample", "read_samples"]

#: The manifest's assay code for single-cell RNA-seq.
ASSAY = "scrna_seq"


def _read_file(path: Path, sample_id: str) -> ad.AnnData:
    try:
        if path.is_dir():
            a = sc.read_10x_mtx(path, var_names="gene_symbols", make_unique=True)
        elif path.suffix == ".h5":
            a = sc.read_10x_h5(path)
        elif path.suffix == ".h5ad":
            a = ad.read_h5ad(path)
        else:
            raise OmicsInputError(f"sample {sample_id}: {path.name} is not a 10x .h5, a 10x matrix folder or an .h5ad")
    except OmicsInputError:
        raise
    except FileNotFoundError as exc:
        raise OmicsInputError(f"sample {sample_id}: file missing: {path} ({exc.strerror or exc})") from None
    except Exception as exc:  # a corrupt or foreign file: a data problem, not a traceback
        raise OmicsInputError(f"sample {sample_id}: cannot read {path.name}: {type(exc).__name__}: {exc}") from None
    a.var_names_make_unique()
    return a


def read_sample(path: str | Path, sample: pd.Series | dict) -> ad.AnnData:
    """Read one library and attach its manifest row as ``obs`` columns :data:`SAMPLE_KEYS`.

    Cell names become ``<sample_id>:<barcode>`` (unique across samples). If the file already
    carries any sample key in ``obs`` it must agree with the manifest, else
    :class:`OmicsInputError` names the sample and field.
    """
    sample = dict(sample)
    sid = str(sample["sample_id"])
    path = Path(path)
    if not path.exists():
        raise OmicsInputError(f"sample {sid}: file missing: {path}")
    a = _read_file(path, sid)
    if a.n_obs == 0:
        raise OmicsInputError(f"sample {sid}: {path.name} holds no cells")
    carried = [k for k in SAMPLE_KEYS if k in a.obs.columns]
    if carried:
        found = a.obs[carried].astype(str).drop_duplicates()
        if "sample_id" in carried and found["sample_id"].nunique() > 1:
            raise OmicsInputError(f"sample {sid}: {path.name} holds cells of several samples "
                                  f"({', '.join(sorted(found['sample_id'].unique())[:3])})")
        if "sample_id" not in carried:
            found["sample_id"] = sid
        ref = pd.DataFrame([{k: sample.get(k) for k in SAMPLE_KEYS}])
        if str(found["sample_id"].iloc[0]) != sid:
            raise OmicsInputError(f"sample {sid}: {path.name} says sample_id={found['sample_id'].iloc[0]!r}")
        for k in carried:
            if found[k].nunique() > 1:
                raise OmicsInputError(f"sample {sid}: {path.name} has several values of {k}")
        check_sample_metadata(found.head(1), ref, what=f"{path.name}")
    for k in SAMPLE_KEYS:
        a.obs[k] = pd.Categorical(np.repeat(str(sample[k]), a.n_obs))
    a.obs_names = pd.Index(sid + ":" + a.obs_names.astype(str))
    return a


def read_samples(manifest: pd.DataFrame, root: str | Path, *, missing: str = "error",
                 sample_ids: list[str] | None = None) -> ad.AnnData:
    """All scRNA-seq libraries of a manifest, concatenated (genes: the union, absent = 0).

    ``missing="error"`` raises :class:`OmicsInputError` naming the samples whose files are absent;
    ``missing="skip"`` reads the present ones and lists the skipped ids in ``uns["skipped_samples"]``.
    Samples whose ``file_ref`` is blank (data pending) are never read.
    """
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', not {missing!r}")
    for k in SAMPLE_KEYS + ["assay", "file_ref"]:
        if k not in manifest.columns:
            raise OmicsInputError(f"the biospecimen manifest has no column {k!r}")
    m = samples_for(manifest, ASSAY, root, require_files=missing == "error")
    if sample_ids is not None:
        m = m[m["sample_id"].isin(sample_ids)]
    skipped = m.loc[~m["exists"], "sample_id"].astype(str).tolist()
    m = m[m["exists"]]
    if m.empty:
        raise OmicsInputError(f"no {ASSAY} file found for the manifest under {root}"
                              + (f" ({len(skipped)} named but missing)" if skipped else ""))
    parts = [read_sample(r["path"], r) for _, r in m.iterrows()]
    a = ad.concat(parts, join="outer", merge="same", fill_value=0)
    for k in SAMPLE_KEYS:
        a.obs[k] = a.obs[k].astype(str).astype("category")
    a.uns["skipped_samples"] = skipped
    a.uns["pending_samples"] = int(m.attrs.get("pending", 0))
    a.uns["sample_files"] = {str(r["sample_id"]): str(r["path"]) for _, r in m.iterrows()}  # for run.json checksums
    return a
