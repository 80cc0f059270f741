"""Readers of scRNA-seq libraries through the biospecimen manifest (10x h5, 10x mtx folder, h5ad)."""

from __future__ import annotations

import gzip

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
from scipy import sparse

from latc.omics import OmicsInputError
from latc.omics.sc import read_sample, read_samples

GENES = ["CD3D", "CD8A", "MS4A1", "LYZ", "MT-CO1"]


def _manifest(ids: list[str], refs: list[str | None]) -> pd.DataFrame:
    rows = []
    for sid, ref in zip(ids, refs):
        pid = sid.split("-BL")[0].split("-SX")[0]
        rows.append({"sample_id": sid, "patient_id": pid, "center_id": pid[:3], "collection_date": "2024-01-01",
                     "timepoint": "baseline" if "-BL" in sid else "surgery", "tissue": "tumour", "assay": "scrna_seq",
                     "file_ref": ref})
    return pd.DataFrame(rows)


def _counts(n: int, seed: int) -> sparse.csr_matrix:
    return sparse.csr_matrix(np.random.default_rng(seed).poisson(2.0, (n, len(GENES))).astype(np.float32))


def _write_10x_h5(path, X: sparse.csr_matrix, barcodes: list[str]) -> None:
    """Cell Ranger v3 layout: /matrix with a features × barcodes CSC matrix."""
    M = X.T.tocsc()
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g["barcodes"] = np.array(barcodes, dtype="S")
        g["data"] = M.data.astype(np.int32)
        g["indices"] = M.indices.astype(np.int64)
        g["indptr"] = M.indptr.astype(np.int64)
        g["shape"] = np.array(M.shape, dtype=np.int32)
        ft = g.create_group("features")
        ft["id"] = np.array([f"ENSG{i:011d}" for i in range(len(GENES))], dtype="S")
        ft["name"] = np.array(GENES, dtype="S")
        ft["feature_type"] = np.array(["Gene Expression"] * len(GENES), dtype="S")
        ft["genome"] = np.array(["GRCh38"] * len(GENES), dtype="S")
        ft["_all_tag_keys"] = np.array([b"genome"])


def _write_mtx(folder, X: sparse.csr_matrix, barcodes: list[str]) -> None:
    folder.mkdir(parents=True)
    with gzip.open(folder / "matrix.mtx.gz", "wb") as f:
        scipy.io.mmwrite(f, X.T.tocoo().astype(np.int64))
    with gzip.open(folder / "features.tsv.gz", "wt") as f:
        f.writelines(f"ENSG{i:011d}\t{g}\tGene Expression\n" for i, g in enumerate(GENES))
    with gzip.open(folder / "barcodes.tsv.gz", "wt") as f:
        f.writelines(b + "\n" for b in barcodes)


def test_three_formats_read_with_manifest_keys(tmp_path):
    ids = ["C01-0001-BL_TU_SC", "C01-0001-SX_TU_SC", "C02-0002-BL_TU_SC"]
    refs = ["omics/scrna_seq/a.h5", "omics/scrna_seq/b_mtx", "omics/scrna_seq/c.h5ad"]
    (tmp_path / "omics/scrna_seq").mkdir(parents=True)
    X1, X2, X3 = _counts(7, 1), _counts(5, 2), _counts(4, 3)
    _write_10x_h5(tmp_path / refs[0], X1, [f"AAAC-{i}" for i in range(7)])
    _write_mtx(tmp_path / refs[1], X2, [f"GGTT-{i}" for i in range(5)])
    ad.AnnData(X3, var=pd.DataFrame(index=GENES)).write_h5ad(tmp_path / refs[2])
    a = read_samples(_manifest(ids, refs), tmp_path)
    assert a.n_obs == 16
    assert a.obs.groupby("sample_id", observed=True).size().to_dict() == {ids[0]: 7, ids[1]: 5, ids[2]: 4}
    assert (a.obs.loc[a.obs["sample_id"] == ids[2], "center_id"] == "C02").all()
    assert (a.obs.loc[a.obs["sample_id"] == ids[1], "timepoint"] == "surgery").all()
    # counts survive each reader unchanged
    got = a[a.obs["sample_id"] == ids[1]][:, GENES].X
    np.testing.assert_array_equal(np.asarray(got.todense()), X2.toarray())
    got = a[a.obs["sample_id"] == ids[0]][:, GENES].X
    np.testing.assert_array_equal(np.asarray(got.todense()), X1.toarray())
    assert a.obs_names.is_unique and a.obs_names[0].startswith(ids[0] + ":")


def test_missing_file_names_the_sample(tmp_path):
    ids = ["C01-0001-BL_TU_SC", "C01-0009-SX_TU_SC"]
    refs = ["omics/scrna_seq/present.h5ad", "omics/scrna_seq/absent.h5ad"]
    (tmp_path / "omics/scrna_seq").mkdir(parents=True)
    ad.AnnData(_counts(3, 0), var=pd.DataFrame(index=GENES)).write_h5ad(tmp_path / refs[0])
    with pytest.raises(OmicsInputError, match="C01-0009-SX_TU_SC"):
        read_samples(_manifest(ids, refs), tmp_path)
    a = read_samples(_manifest(ids, refs), tmp_path, missing="skip")
    assert list(a.uns["skipped_samples"]) == ["C01-0009-SX_TU_SC"] and a.n_obs == 3


def test_metadata_mismatch_names_sample_and_field(tmp_path):
    ids = ["C01-0001-BL_TU_SC"]
    refs = ["x.h5ad"]
    obs = pd.DataFrame({"sample_id": ids * 3, "timepoint": ["surgery"] * 3}, index=["a", "b", "c"])
    ad.AnnData(_counts(3, 0), obs=obs, var=pd.DataFrame(index=GENES)).write_h5ad(tmp_path / refs[0])
    with pytest.raises(OmicsInputError, match=r"C01-0001-BL_TU_SC.*timepoint='surgery'.*'baseline'"):
        read_samples(_manifest(ids, refs), tmp_path)


def test_file_of_another_sample_is_refused(tmp_path):
    obs = pd.DataFrame({"sample_id": ["C09-0009-BL_TU_SC"] * 2}, index=["a", "b"])
    ad.AnnData(_counts(2, 0), obs=obs, var=pd.DataFrame(index=GENES)).write_h5ad(tmp_path / "x.h5ad")
    row = _manifest(["C01-0001-BL_TU_SC"], ["x.h5ad"]).iloc[0]
    with pytest.raises(OmicsInputError, match="C01-0001-BL_TU_SC"):
        read_sample(tmp_path / "x.h5ad", row)


def test_unreadable_file_is_a_one_line_error(tmp_path):
    (tmp_path / "bad.h5ad").write_text("not hdf5")
    row = _manifest(["C01-0001-BL_TU_SC"], ["bad.h5ad"]).iloc[0]
    with pytest.raises(OmicsInputError, match="C01-0001-BL_TU_SC: cannot read bad.h5ad"):
        read_sample(tmp_path / "bad.h5ad", row)
