"""Bulk counts in (per-sample files, shared matrices in both orientations, AnnData), manifest
checks with clear errors, sample QC (planted outlier and sex swap) and the synthetic writer."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from latc.omics import OmicsInputError
from latc.omics.bulk import read_bulk, read_counts_table, sample_qc, sex_check, simulate_bulk
from latc.omics.bulk._synth import write_bulk


def _manifest(n: int, assay: str = "bulk_rna_seq") -> pd.DataFrame:
    ids = [f"C01-{i:04d}-BL_TU_BK" for i in range(n)]
    return pd.DataFrame({"sample_id": ids, "patient_id": [s[:8] for s in ids], "center_id": "C01",
                         "timepoint": "baseline", "tissue": "tumour", "assay": assay,
                         "file_ref": [f"omics/bulk_rna_seq/{s}.tsv" for s in ids]})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("bulk_study")
    m = _manifest(24)
    sex = np.where(np.arange(24) % 2 == 0, "female", "male")
    samples = m[["sample_id", "patient_id"]].assign(sex=sex)
    counts, truth = simulate_bulk(samples, n_genes=400, seed=1, plant_qc=True)
    for sid, ref in zip(m["sample_id"], m["file_ref"]):
        p = root / ref
        p.parent.mkdir(parents=True, exist_ok=True)
        counts.loc[sid].rename("count").rename_axis("gene_id").to_csv(p, sep="\t")
    m.to_csv(root / "biospecimens.csv", index=False)
    return root, m, counts, truth, pd.Series(sex, index=m["patient_id"])


def test_per_sample_files_are_read_through_the_manifest(study):
    root, m, counts, _, _ = study
    a = read_bulk(root)
    assert a.n_obs == 24 and a.n_vars == counts.shape[1]
    assert list(a.obs.columns[:5]) == ["sample_id", "patient_id", "center_id", "timepoint", "tissue"]
    assert (a.layers["counts"] == counts.loc[a.obs_names].to_numpy()).all()


def test_shared_matrix_in_either_orientation_gives_the_same_data(study, tmp_path):
    root, m, counts, _, _ = study
    counts.T.to_csv(tmp_path / "genes_x_samples.tsv", sep="\t")
    counts.to_csv(tmp_path / "samples_x_genes.csv")
    a = read_bulk(m, root, counts=tmp_path / "genes_x_samples.tsv")
    b = read_bulk(m, root, counts=tmp_path / "samples_x_genes.csv")
    assert a.obs_names.tolist() == b.obs_names.tolist() == counts.index.tolist()
    assert (a.X == b.X).all() and (a.var_names == b.var_names).all()


def test_anndata_input_is_checked_against_the_manifest(study):
    root, m, counts, _, _ = study
    x = ad.AnnData(X=counts.to_numpy(), obs=pd.DataFrame(index=counts.index), var=pd.DataFrame(index=counts.columns))
    assert read_bulk(m, root, counts=x).n_obs == 24
    x.obs["patient_id"] = "C99-0001"
    with pytest.raises(OmicsInputError, match="has patient_id='C99-0001' but the manifest says"):
        read_bulk(m, root, counts=x)


def test_missing_file_names_the_sample(study, tmp_path):
    root, m, _, _, _ = study
    m2 = m.copy()
    m2.loc[3, "file_ref"] = "omics/bulk_rna_seq/not_there.tsv"
    with pytest.raises(OmicsInputError, match="C01-0003-BL_TU_BK → omics/bulk_rna_seq/not_there.tsv"):
        read_bulk(m2, root)
    a = read_bulk(m2, root, strict=False)
    assert a.n_obs == 23 and a.uns["missing_samples"] == ["C01-0003-BL_TU_BK"]


def test_sample_not_in_manifest_is_an_error(study, tmp_path):
    root, m, counts, _, _ = study
    c = counts.rename(index={counts.index[0]: "C01-9999-BL_TU_BK"})
    c.T.to_csv(tmp_path / "m.tsv", sep="\t")
    with pytest.raises(OmicsInputError, match="not in the biospecimen manifest: C01-9999-BL_TU_BK"):
        read_bulk(m, root, counts=tmp_path / "m.tsv")


def test_wrong_assay_is_an_error(study, tmp_path):
    root, m, counts, _, _ = study
    m2 = m.copy()
    m2.loc[0, "assay"] = "scrna_seq"
    counts.T.to_csv(tmp_path / "m.tsv", sep="\t")
    with pytest.raises(OmicsInputError, match="is a scrna_seq sample in the manifest"):
        read_bulk(m2, root, counts=tmp_path / "m.tsv")


def test_non_integer_count_names_file_row_and_column(tmp_path):
    p = tmp_path / "c.tsv"
    p.write_text("gene\tC01-0001-BL_TU_BK\tC01-0002-BL_TU_BK\nTG\t5\t7\nTPO\t3\t2.5\n")
    with pytest.raises(OmicsInputError, match=r"c.tsv: row 3 \(TPO\), column 'C01-0002-BL_TU_BK': value '2.5'"):
        read_counts_table(p)
    p.write_text("gene\tC01-0001-BL_TU_BK\nTG\t5\nTG\t3\n")
    with pytest.raises(OmicsInputError, match="gene 'TG' appears more than once"):
        read_counts_table(p, {"C01-0001-BL_TU_BK"})
    with pytest.raises(OmicsInputError, match="counts file not found"):
        read_counts_table(tmp_path / "nope.tsv")


def test_qc_flags_the_planted_outlier_and_sex_swap(study):
    root, _, _, truth, sex = study
    a = read_bulk(root)
    qc = sample_qc(a)
    assert set(qc.loc[qc["outlier"], "sample_id"]) == set(truth["outlier_samples"])
    sx = sex_check(a, sex)
    flagged = set(sx.loc[sx["sex_mismatch"], "sample_id"])
    assert set(truth["sex_swapped_samples"]) <= flagged
    assert flagged <= set(truth["sex_swapped_samples"]) | set(truth["outlier_samples"])
    assert qc["library_size"].to_numpy() == pytest.approx(a.layers["counts"].sum(axis=1))


def test_synthetic_writer_writes_every_manifest_file(tmp_path):
    from latc.synth._study import synthesize

    st = synthesize(n_patients=80, n_centers=3, seed=7)
    m = st.tables["biospecimens"]
    rows = m[(m["assay"] == "bulk_rna_seq") & m["file_ref"].notna()]
    truth = write_bulk(rows, st.latent, st.tables, tmp_path, seed=7, scale=0.2)
    assert truth["n_samples"] == len(rows) > 0
    assert all((tmp_path / r).exists() for r in rows["file_ref"])
    assert len(truth["response_genes"]) == 100 and len(truth["treatment_genes"]) == 80
    json.dumps(truth)  # truth must be JSON-serialisable for truth.json
    a = read_bulk(m, tmp_path)
    assert a.n_obs == len(rows) and a.n_vars == 1000
    again = write_bulk(rows, st.latent, st.tables, tmp_path / "again", seed=7, scale=0.2)
    assert again["response_genes"] == truth["response_genes"]  # deterministic per seed
