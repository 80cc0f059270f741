"""Malignant versus normal epithelial cells (``latc.omics.sc.call_malignant``, infercnvpy).

Checked against the truth planted by the synthetic scRNA-seq (``simulate_counts``: malignant
thyrocytes carrying their patient's 22q loss / 1q gain / 7q gain, CNV-quiet patients, normal
thyrocytes beside them) and on the real data infercnvpy ships (Tirosh 2016 oligodendroglioma,
184 cells, ``cell_type`` malignant_* / non-malignant), with the non-malignant cells cross-fitted
so that the specificity is measured on cells that were not the reference.

Measured (docs/omics/malignant_cells.md): synthetic, 6 seeds × 24 patients (≈ 17k cells):
sensitivity 0.80 (0.74–0.83) on malignant cells of tumours with a planted change, specificity
0.966 (0.96–0.97) on normal thyrocytes; planted segments found in 99.5 % of patients, none in
CNV-quiet ones. Oligodendroglioma, 3-fold: sensitivity 1.00 (142/142), specificity 0.83 (35/42).
The bounds below leave room for the fixture's smaller cohort. Lineages come from the simulator's
true cell types so the copy-number call is tested alone (annotation: test_omics_sc_pbmc.py).
"""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pandas as pd
import pytest

from latc.omics import OmicsInputError
from latc.omics.sc import MALIGNANT_LABELS, call_malignant, load_markers, normalise, simulate_counts
from latc.omics.sc._genome import add_gene_positions, load_gene_positions, read_gtf_genes
from latc.omics.sc._synth import CNV_SEGMENTS

SEED = 5
LINEAGE = load_markers().drop_duplicates("cell_type").set_index("cell_type")["lineage"]


def _design(n_patients: int = 12) -> pd.DataFrame:
    rows = []
    for i in range(n_patients):
        pid = f"C0{1 + i % 2}-{i + 1:04d}"
        base = {"patient_id": pid, "center_id": pid[:3], "responder": i % 2 == 0, "neoadjuvant": True}
        for tp, code in (("baseline", "BL"), ("surgery", "SX")):
            rows.append({**base, "sample_id": f"{pid}-{code}_TU_SC", "timepoint": tp, "tissue": "tumour"})
        if i % 4 == 0:
            rows.append({**base, "sample_id": f"{pid}-BL_LN_SC", "timepoint": "baseline", "tissue": "lymph_node"})
    rows.append({**base, "sample_id": f"{pid}-BL_PB_SC", "timepoint": "baseline", "tissue": "blood"})
    return pd.DataFrame(rows)


def _prepare(samples: pd.DataFrame, seed: int = SEED, cells: int = 250):
    a, truth = simulate_counts(samples, seed=seed, cells_per_sample=cells)
    a = a[~a.obs["true_doublet"].to_numpy()].copy()
    normalise(a)
    a.obs["lineage"] = a.obs["true_cell_type"].map(LINEAGE).astype("category")
    return a, truth


@pytest.fixture(scope="module")
def called():
    warnings.filterwarnings("ignore")
    a, truth = _prepare(_design())
    res = call_malignant(a, seed=0)
    return a, truth, res


def _quiet(truth) -> set[str]:
    return {p for p, c in truth["malignant"]["clones"].items() if not c}


def test_planted_truth_recovered(called):
    a, truth, _ = called
    o = a.obs
    epi = (o["lineage"] == "epithelial").to_numpy() & ~o["patient_id"].isin(_quiet(truth)).to_numpy()
    mal = epi & o["true_malignant"].to_numpy()
    normal = epi & ~o["true_malignant"].to_numpy()
    lab = o["malignant"].astype(str).to_numpy()
    sensitivity = (lab[mal] == "malignant").mean()
    specificity = (lab[normal] != "malignant").mean()
    assert mal.sum() > 300 and normal.sum() > 100
    assert sensitivity >= 0.70, sensitivity
    assert specificity >= 0.93, specificity
    assert (lab[normal] == "normal").mean() >= 0.65          # most normal thyrocytes are called normal
    assert set(lab) <= set(MALIGNANT_LABELS)
    assert (lab[(o["lineage"] != "epithelial").to_numpy()] == "not_epithelial").all()
    # malignant cells score like the clone's shift, normal ones around zero
    assert o.loc[mal, "cnv_score"].median() > 0.1 > abs(o.loc[normal, "cnv_score"].median())


def test_planted_segments_found_and_none_in_cnv_quiet_patients(called):
    a, truth, res = called
    seg = res.segments
    arms = {"22q-": ("chr22", "loss", 0), "1q+": ("chr1", "gain", 150e6), "7q+": ("chr7", "gain", 100e6)}
    found = total = 0
    for pid, clone in truth["malignant"]["clones"].items():
        s = seg[seg["group"] == pid]
        for name in clone:
            chrom, kind, past = arms[name]
            total += 1
            found += bool(((s["chromosome"] == chrom) & (s["kind"] == kind) & (s["end"] > past)).any())
        if not clone:  # CNV-quiet: no clone, its epithelial cells undetermined, not "normal"
            assert s.empty
            cells = a.obs[(a.obs["patient_id"] == pid) & (a.obs["lineage"] == "epithelial")]
            assert (cells["malignant"] == "undetermined").all()
    assert total and found / total >= 0.9, (found, total)
    assert set(CNV_SEGMENTS) == set(arms)


def test_summary_one_row_per_sample(called):
    a, truth, res = called
    s = res.summary.set_index("sample_id")
    assert set(s.index) == set(a.obs["sample_id"].astype(str))
    cols = {"n_cells", "n_epithelial", "n_malignant", "n_normal", "n_undetermined", "malignant_fraction",
            "malignant_fraction_called", "clone_detected", "segments", "note"}
    assert cols <= set(s.columns)
    assert (s["n_malignant"] + s["n_normal"] + s["n_undetermined"] == s["n_epithelial"]).all()
    counts = a.obs[a.obs["malignant"] != "not_epithelial"].groupby("sample_id", observed=True).size()
    assert (s.loc[counts.index, "n_epithelial"] == counts).all()
    # the blood sample has no thyroid cell: a row, no fraction, the reason
    blood = s[s.index.str.endswith("_PB_SC")].iloc[0]
    assert blood["n_epithelial"] == 0 and np.isnan(blood["malignant_fraction"]) and blood["note"] == "no epithelial cells"
    # called malignant share follows the planted one (samples with a clone and ≥ 10 thyrocytes)
    tr = pd.DataFrame(truth["malignant"]["samples"]).set_index("sample_id")
    j = s.join(tr[["n_thyrocytes"]].assign(true=tr["n_malignant"] / tr["n_thyrocytes"].clip(lower=1)))
    j = j[(j["n_epithelial"] >= 10) & j["clone_detected"].fillna(False).astype(bool)]
    r = np.corrcoef(j["true"], j["malignant_fraction_called"])[0, 1]
    assert len(j) >= 15 and r > 0.8, r


def test_profiles_for_the_heatmap(called):
    a, _, res = called
    assert a.obsm["X_cnv"].shape[0] == a.n_obs
    chr_pos = a.uns["cnv"]["chr_pos"]
    assert list(chr_pos)[0] == "chr1" and "chrX" not in chr_pos and a.obsm["X_cnv"].shape[1] > max(chr_pos.values())
    rec = a.uns["latc_malignant"]
    assert rec["gene_positions"]["source"].startswith("shipped") and rec["gene_positions"]["fraction_placed"] > 0.95
    assert rec["baseline"]["n_samples_split"] > 0 and rec["params"]["batch_key"] == "center_id"
    assert res.baseline is not None and len(res.baseline) == a.obsm["X_cnv"].shape[1]


def test_oligodendroglioma_held_out_non_malignant_cells():
    """infercnvpy's real data: the non-malignant cells in 3 folds, each fold scored with the other
    two as reference (both types, so ``baseline="reference"``), the four tumours pooled."""
    import infercnvpy as cnv

    warnings.filterwarnings("ignore")
    a0 = cnv.datasets.oligodendroglioma()
    ct = a0.obs["cell_type"].astype(str)
    mal = ct.str.startswith("malignant").to_numpy()
    rng = np.random.default_rng(0)
    fold = np.full(a0.n_obs, -1)
    for c in ct[~mal].unique():
        idx = rng.permutation(np.flatnonzero(ct == c))
        fold[idx] = np.arange(len(idx)) % 3
    calls = []
    for k in range(3):
        a = a0.copy()
        query = mal | (fold == k)
        a.obs["lineage"] = np.where(query, "query", np.where(ct == "Microglia/Macrophage", "microglia", "oligodendrocyte"))
        a.obs["sample_id"] = "all"
        call_malignant(a, reference_cats=("microglia", "oligodendrocyte"), epithelial_cats=("query",), clone_key=None,
                       baseline="reference")
        calls.append(pd.DataFrame({"malignant": mal[query], "call": a.obs["malignant"].astype(str).to_numpy()[query]}))
    c = pd.concat(calls)
    sensitivity = (c.loc[c["malignant"], "call"] == "malignant").mean()
    specificity = (c.loc[~c["malignant"], "call"] != "malignant").mean()
    assert (~c["malignant"]).sum() == 42
    assert sensitivity >= 0.95, sensitivity
    assert specificity >= 0.75, specificity


def test_missing_gene_positions_is_a_clear_error():
    a, _ = _prepare(_design(2), cells=80)
    a.var_names = [f"GENE{i}" for i in range(a.n_vars)]          # symbols nobody can place
    with pytest.raises(OmicsInputError, match="genomic position.*GTF"):
        call_malignant(a)


def test_missing_columns_and_reference_are_errors():
    a, _ = _prepare(_design(2), cells=80)
    with pytest.raises(OmicsInputError, match="no column 'lineage_x'"):
        call_malignant(a, reference_key="lineage_x")
    with pytest.raises(OmicsInputError, match="no reference cell"):
        call_malignant(a, reference_cats=("not_a_lineage",))


def test_no_epithelial_cells_anywhere():
    d = _design(2)
    a, _ = _prepare(d[d["tissue"] == "blood"], cells=120)
    res = call_malignant(a)
    assert (a.obs["malignant"] == "not_epithelial").all() and a.obs["cnv_score"].isna().all()
    assert len(res.summary) == 1 and res.summary["n_epithelial"].iloc[0] == 0
    assert res.summary["note"].iloc[0] == "no epithelial cells" and res.segments.empty


def test_gene_positions_from_a_gtf_or_a_table(tmp_path):
    shipped = load_gene_positions().dropna(subset=["ensembl_id"]).drop_duplicates("ensembl_id").head(300)
    lines = ["#!genome-build GRCh38"]
    for r in shipped.itertuples():
        attrs = f'gene_id "{r.ensembl_id}.7"; gene_type "protein_coding"; gene_name "{r.gene}";'
        chrom = r.chromosome.removeprefix("chr")  # Ensembl style: no chr prefix
        lines.append(f"{chrom}\tENSEMBL\tgene\t{r.start}\t{r.end}\t.\t{r.strand}\t.\t{attrs}")
        lines.append(f"{chrom}\tENSEMBL\texon\t{r.start}\t{r.start + 10}\t.\t{r.strand}\t.\t{attrs}")
    gtf = tmp_path / "genes.gtf.gz"
    with gzip.open(gtf, "wt") as f:
        f.write("\n".join(lines) + "\n")
    g = read_gtf_genes(gtf)
    assert len(g) == 300 and g["chromosome"].str.startswith("chr").all() and not g["gene_id"].str.contains(r"\.").any()
    import anndata as ad

    genes = list(shipped["gene"]) + ["NOT_A_GENE"]
    a = ad.AnnData(np.zeros((2, len(genes)), dtype=np.float32), var=pd.DataFrame(index=genes))
    rec = add_gene_positions(a, gtf, min_genes=100)
    assert rec["n_placed"] == 300 and rec["source"] == "gtf:genes.gtf.gz"
    assert (a.var.loc[shipped["gene"], "start"].to_numpy() == shipped["start"].to_numpy()).all()
    # matched by Ensembl ID when the symbols differ (var["gene_ids"], as sc.read_10x_h5 gives)
    b = ad.AnnData(np.zeros((2, 300), dtype=np.float32),
                   var=pd.DataFrame({"gene_ids": list(shipped["ensembl_id"])}, index=[f"x{i}" for i in range(300)]))
    assert add_gene_positions(b, gtf, min_genes=100)["n_placed"] == 300
    # a table; renamed genes are found by their current symbol
    c = ad.AnnData(np.zeros((2, 2), dtype=np.float32), var=pd.DataFrame(index=["SEPTIN7", "SEPT7"]))
    add_gene_positions(c, None, min_genes=1)
    assert c.var["chromosome"].tolist() == ["chr7", "chr7"]
    with pytest.raises(OmicsInputError, match="GTF not found"):
        add_gene_positions(c, tmp_path / "absent.gtf")


def test_planting_leaves_every_other_cell_unchanged(monkeypatch):
    """The malignant thyrocytes' changes come from a generator of their own: without any planted
    segment, every cell's counts are what they are with them, except the malignant cells'."""
    import latc.omics.sc._synth as synth

    d = _design(4)
    a, truth = simulate_counts(d, seed=3, cells_per_sample=120)
    monkeypatch.setattr(synth, "_clone", lambda seed, patient: ())
    b, _ = simulate_counts(d, seed=3, cells_per_sample=120)
    assert (a.obs_names == b.obs_names).all()
    assert (a.obs["true_cell_type"] == b.obs["true_cell_type"]).all()
    differs = np.unique((a.X != b.X).tocsr().nonzero()[0])
    mal = a.obs["true_malignant"].to_numpy() | a.obs["true_doublet"].to_numpy()  # doublets may hold a malignant partner
    assert len(differs) and mal[differs].all()
    assert a.obs.loc[a.obs["true_malignant"], "true_cell_type"].eq("thyrocyte_tumour").all()
    lymph = a.obs[(a.obs["tissue"] == "lymph_node") & (a.obs["true_cell_type"] == "thyrocyte_tumour")]
    assert lymph["true_malignant"].all()                       # thyroid cells in a node are metastases
    assert truth["malignant"]["segments"]["22q-"]["copy_ratio"] == 0.5


def test_calls_survive_h5ad_and_summarise_again(called, tmp_path):
    import anndata as ad

    from latc.omics.sc import summarise_malignant

    a, _, res = called
    a.write_h5ad(tmp_path / "a.h5ad")
    b = ad.read_h5ad(tmp_path / "a.h5ad")
    again = summarise_malignant(b)
    cols = ["sample_id", "n_epithelial", "n_malignant", "n_normal", "clone_detected", "segments"]
    pd.testing.assert_frame_equal(again[cols].reset_index(drop=True), res.summary[cols].reset_index(drop=True),
                                  check_dtype=False)
    assert len(b.uns["latc_malignant"]["segments"]) == len(res.segments)
