"""Read spatial transcriptomics samples named by the biospecimen manifest.

A sample is a spot- or cell-level AnnData: raw counts in ``X`` (spots × genes) and 2-D coordinates
in ``obsm["spatial"]``. Accepted inputs:

* an ``.h5ad`` file (what ``latc synth --omics spatial`` writes);
* a Space Ranger (10x Visium) output folder: ``filtered_feature_bc_matrix.h5`` (read with
  ``squidpy.read.visium``, images not loaded) or a ``filtered_feature_bc_matrix/`` Matrix Market
  folder, plus ``spatial/tissue_positions.csv`` (Space Ranger ≥ 2.0, with header) or
  ``spatial/tissue_positions_list.csv`` (older, no header); spots with ``in_tissue == 0`` are
  dropped and ``obsm["spatial"]`` is ``(pxl_col_in_fullres, pxl_row_in_fullres)`` as in scanpy.

The sample's :data:`~latc.omics.SAMPLE_KEYS` come from the manifest and are written to ``obs``;
metadata already carried by the file must agree with the manifest. Every problem raises
:class:`~latc.omics.OmicsInputError` naming the sample and the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, load_manifest, samples_for

_POSITION_COLUMNS = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]


def _read_positions(folder: Path, sid: str) -> pd.DataFrame:
    new, old = folder / "spatial" / "tissue_positions.csv", folder / "spatial" / "tissue_positions_list.csv"
    if new.exists():
        pos = pd.read_csv(new)
    elif old.exists():
        pos = pd.read_csv(old, header=None, names=_POSITION_COLUMNS)
    else:
        raise OmicsInputError(f"spatial sample {sid}: {folder} has no spatial/tissue_positions.csv "
                              "(or tissue_positions_list.csv)")
    missing = [c for c in _POSITION_COLUMNS if c not in pos.columns]
    if missing:
        raise OmicsInputError(f"spatial sample {sid}: {new if new.exists() else old} lacks column(s) {', '.join(missing)}")
    return pos.set_index("barcode")


def _read_visium_folder(folder: Path, sid: str) -> ad.AnnData:
    if (folder / "filtered_feature_bc_matrix.h5").exists():
        import squidpy as sq

        return sq.read.visium(folder, load_images=False)
    mtx = folder / "filtered_feature_bc_matrix"
    if not mtx.is_dir():
        raise OmicsInputError(f"spatial sample {sid}: folder {folder} has neither filtered_feature_bc_matrix.h5 "
                              "nor filtered_feature_bc_matrix/")
    import scanpy as sc

    a = sc.read_10x_mtx(mtx)
    pos = _read_positions(folder, sid)
    missing = a.obs_names.difference(pos.index)
    if len(missing):
        raise OmicsInputError(f"spatial sample {sid}: {len(missing)} barcode(s) of the matrix have no tissue "
                              f"position (e.g. {missing[0]})")
    pos = pos.loc[a.obs_names]
    a = a[pos["in_tissue"].to_numpy() == 1].copy()
    pos = pos.loc[a.obs_names]
    a.obs["array_row"] = pos["array_row"].to_numpy()
    a.obs["array_col"] = pos["array_col"].to_numpy()
    a.obsm["spatial"] = pos[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(dtype=float)
    return a


def read_spatial(path: str | Path, sample: Mapping | pd.Series | None = None) -> ad.AnnData:
    """Read one spatial sample and stamp its manifest metadata on ``obs``.

    Parameters
    ----------
    path
        ``.h5ad`` file or Space Ranger output folder.
    sample
        The sample's manifest row (``sample_id, patient_id, center_id, timepoint, tissue``); when
        given, each key is written to ``obs`` and a disagreeing value already in the file raises.

    Raises
    ------
    OmicsInputError — unreadable file, no or malformed ``obsm["spatial"]``, no spots, negative or
    non-finite counts, metadata disagreeing with the manifest.
    """
    path = Path(path)
    sid = str(sample["sample_id"]) if sample is not None else path.stem
    if not path.exists():
        raise OmicsInputError(f"spatial sample {sid}: file {path} does not exist")
    try:
        a = _read_visium_folder(path, sid) if path.is_dir() else ad.read_h5ad(path)
    except OmicsInputError:
        raise
    except Exception as exc:  # any reader failure is a data problem of this file
        raise OmicsInputError(f"spatial sample {sid}: cannot read {path}: {type(exc).__name__}: {exc}") from None
    if a.n_obs == 0 or a.n_vars == 0:
        raise OmicsInputError(f"spatial sample {sid}: {path} has no spots or no genes ({a.n_obs} × {a.n_vars})")
    xy = a.obsm.get("spatial")
    if xy is None:
        raise OmicsInputError(f"spatial sample {sid}: {path} has no obsm['spatial'] spot coordinates")
    xy = np.asarray(xy, dtype=float) if not isinstance(xy, pd.DataFrame) else xy.to_numpy(dtype=float)
    if xy.ndim != 2 or xy.shape[1] < 2 or not np.isfinite(xy[:, :2]).all():
        raise OmicsInputError(f"spatial sample {sid}: {path} obsm['spatial'] must be finite (x, y) per spot; got shape {xy.shape}")
    a.obsm["spatial"] = xy[:, :2]
    data = a.X.data if sp.issparse(a.X) else np.asarray(a.X)
    if not np.isfinite(data).all() or (data < 0).any():
        raise OmicsInputError(f"spatial sample {sid}: {path} X must hold non-negative finite counts")
    a.var_names_make_unique()
    if sample is not None:
        for k in SAMPLE_KEYS:
            if k not in sample or pd.isna(sample[k]):
                continue
            want = str(sample[k])
            if k in a.obs.columns:
                got = a.obs[k].astype(str).unique()
                if len(got) != 1 or got[0] != want:
                    raise OmicsInputError(f"spatial sample {sid}: {path} has {k}={', '.join(map(repr, got[:3]))} "
                                          f"but the manifest says {want!r}")
            a.obs[k] = pd.Categorical([want] * a.n_obs)
    return a


def read_spatial_samples(study_dir: str | Path, manifest: pd.DataFrame | None = None) -> dict[str, ad.AnnData]:
    """Every ``spatial`` sample of the manifest (default: the study folder's validated
    ``biospecimens``), keyed by ``sample_id``; samples whose ``file_ref`` is blank (data pending) are
    skipped. ``study_dir`` is the folder ``file_ref`` paths are relative to; a ``file_ref`` leaving it
    is refused (:func:`latc.omics.samples_for`). A file named in the manifest but absent raises
    :class:`OmicsInputError` naming the sample."""
    root = Path(study_dir)
    m = load_manifest(root if manifest is None else manifest)
    rows = samples_for(m, "spatial", root)
    return {str(r["sample_id"]): read_spatial(r["path"], r) for _, r in rows.iterrows()}
