"""Reading spatial samples named by the biospecimen manifest: every problem is a one-line
OmicsInputError naming the sample and file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

import anndata as ad
from latc.omics import OmicsInputError
from latc.omics.spatial import read_spatial, read_spatial_samples, simulate_slide

SID = "C01-0001-SX_TU_SP"
ROW = {"sample_id": SID, "patient_id": "C01-0001", "center_id": "C01", "timepoint": "surgery", "tissue": "tumour"}


def _slide(n_side: int = 12) -> ad.AnnData:
    return simulate_slide(np.random.default_rng(0), pattern="desert", n_tls=0, n_side=n_side).adata


def _manifest(refs: list[str | None]) -> pd.DataFrame:
    rows = []
    for i, ref in enumerate(refs, start=1):
        pid = f"C01-{i:04d}"
        rows.append({"sample_id": f"{pid}-SX_TU_SP", "patient_id": pid, "center_id": "C01", "timepoint": "surgery",
                     "tissue": "tumour", "assay": "spatial", "file_ref": ref})
    rows.append({"sample_id": "C01-0009-SX_TU_SC", "patient_id": "C01-0009", "center_id": "C01", "timepoint": "surgery",
                 "tissue": "tumour", "assay": "scrna_seq", "file_ref": "omics/scrna_seq/x.h5ad"})
    return pd.DataFrame(rows)


def test_read_h5ad_stamps_manifest_metadata(tmp_path):
    p = tmp_path / "s.h5ad"
    _slide().write_h5ad(p)
    a = read_spatial(p, ROW)
    assert a.n_obs == 144 and a.obsm["spatial"].shape == (144, 2)
    for k, v in ROW.items():
        assert a.obs[k].astype(str).unique().tolist() == [v]


def test_read_study_skips_pending_and_names_missing_samples(tmp_path):
    (tmp_path / "omics" / "spatial").mkdir(parents=True)
    _slide().write_h5ad(tmp_path / "omics" / "spatial" / "a.h5ad")
    m = _manifest(["omics/spatial/a.h5ad", None])
    got = read_spatial_samples(tmp_path, m)
    assert list(got) == ["C01-0001-SX_TU_SP"]  # the pending one (no file_ref) is skipped, scRNA ignored
    m.to_csv(tmp_path / "biospecimens.csv", index=False)
    assert list(read_spatial_samples(tmp_path)) == ["C01-0001-SX_TU_SP"]
    with pytest.raises(OmicsInputError, match="C01-0002-SX_TU_SP → omics/spatial/b.h5ad"):
        read_spatial_samples(tmp_path, _manifest(["omics/spatial/a.h5ad", "omics/spatial/b.h5ad"]))


def test_unreadable_file_names_sample(tmp_path):
    p = tmp_path / "broken.h5ad"
    p.write_bytes(b"not an hdf5 file")
    with pytest.raises(OmicsInputError, match=f"spatial sample {SID}: cannot read .*broken.h5ad"):
        read_spatial(p, ROW)
    with pytest.raises(OmicsInputError, match="does not exist"):
        read_spatial(tmp_path / "none.h5ad", ROW)


def test_missing_or_bad_coordinates(tmp_path):
    a = _slide()
    del a.obsm["spatial"]
    a.write_h5ad(tmp_path / "a.h5ad")
    with pytest.raises(OmicsInputError, match=r"no obsm\['spatial'\]"):
        read_spatial(tmp_path / "a.h5ad", ROW)
    b = _slide()
    b.obsm["spatial"][0, 0] = np.nan
    b.write_h5ad(tmp_path / "b.h5ad")
    with pytest.raises(OmicsInputError, match="must be finite"):
        read_spatial(tmp_path / "b.h5ad", ROW)


def test_negative_counts_and_empty_slide(tmp_path):
    a = _slide()
    a.X[0, 0] = -1
    a.write_h5ad(tmp_path / "a.h5ad")
    with pytest.raises(OmicsInputError, match="non-negative finite counts"):
        read_spatial(tmp_path / "a.h5ad", ROW)
    e = _slide()[:0].copy()
    e.write_h5ad(tmp_path / "e.h5ad")
    with pytest.raises(OmicsInputError, match="no spots"):
        read_spatial(tmp_path / "e.h5ad", ROW)


def test_metadata_disagreeing_with_manifest(tmp_path):
    a = _slide()
    a.obs["patient_id"] = "C01-0002"
    a.write_h5ad(tmp_path / "a.h5ad")
    with pytest.raises(OmicsInputError, match="patient_id='C01-0002' but the manifest says 'C01-0001'"):
        read_spatial(tmp_path / "a.h5ad", ROW)


def test_visium_matrix_market_folder(tmp_path):
    """A Space Ranger-like folder: filtered_feature_bc_matrix/ (genes × barcodes, gzip) and
    spatial/tissue_positions.csv; off-tissue spots are dropped, coordinates are (col, row) pixels."""
    import gzip

    src = _slide(6)
    mtx = tmp_path / "filtered_feature_bc_matrix"
    mtx.mkdir()
    barcodes = [f"AAAC{i:04d}-1" for i in range(src.n_obs)]
    with gzip.open(mtx / "matrix.mtx.gz", "wb") as fh:
        scipy.io.mmwrite(fh, sp.csr_matrix(src.X.T.astype(int)))
    with gzip.open(mtx / "barcodes.tsv.gz", "wt") as fh:
        fh.write("\n".join(barcodes) + "\n")
    with gzip.open(mtx / "features.tsv.gz", "wt") as fh:
        fh.write("".join(f"ENSG{i:011d}\t{g}\tGene Expression\n" for i, g in enumerate(src.var_names)))
    (tmp_path / "spatial").mkdir()
    in_tissue = np.ones(src.n_obs, dtype=int)
    in_tissue[:4] = 0
    pd.DataFrame({"barcode": barcodes, "in_tissue": in_tissue, "array_row": src.obs["array_row"],
                  "array_col": src.obs["array_col"], "pxl_row_in_fullres": np.arange(src.n_obs) * 10,
                  "pxl_col_in_fullres": np.arange(src.n_obs) * 20}).to_csv(tmp_path / "spatial" / "tissue_positions.csv", index=False)
    a = read_spatial(tmp_path, ROW)
    assert a.n_obs == src.n_obs - 4
    np.testing.assert_array_equal(a.obsm["spatial"][0], [4 * 20, 4 * 10])
    np.testing.assert_array_equal(np.asarray(a.X[0].todense()).ravel(), src.X[4])
    (tmp_path / "spatial" / "tissue_positions.csv").unlink()
    with pytest.raises(OmicsInputError, match="tissue_positions"):
        read_spatial(tmp_path, ROW)
