"""Thyroid (TDS, BRS, ERK) and immune scores of bulk RNA-seq: shipped gene lists against the
publications, the TCGA 2014 formulas on worked numbers, and separation of planted groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.omics import OmicsInputError
from latc.omics.bulk import (
    braf_ras_score,
    brs_centroids,
    erk_activation_score,
    immune_gene_sets,
    immune_scores,
    normalized_log2,
    normalized_squared_distance,
    simulate_bulk,
    thyroid_differentiation_score,
    thyroid_score_genes,
)

# TCGA THCA, Cell 2014;159:676 (supplement: TDS genes); same list in Loberg/Weiss TDS heatmap script.
TDS_PUBLISHED = {"DIO1", "DIO2", "DUOX1", "DUOX2", "FOXE1", "GLIS3", "NKX2-1", "PAX8", "SLC26A4", "SLC5A5",
                 "SLC5A8", "TG", "THRA", "THRB", "TPO", "TSHR"}


def test_tds_gene_list_is_the_published_16():
    g = thyroid_score_genes("TDS")
    assert len(g) == 16
    assert set(g["gene"]) == TDS_PUBLISHED
    assert "SLC26A7" not in set(g["gene"])  # often confused; not in the TCGA list


def test_brs_gene_list_has_71_genes_with_tcga_symbols_mapped():
    g = thyroid_score_genes("BRS")
    assert len(g) == 71 and g["gene"].is_unique
    prev = dict(zip(g["gene"], g["previous_symbol"]))
    # TCGA 2014 used FAM176A, PVRL4, TM7SF4 (renamed EVA1A, NECTIN4, DCSTAMP by HGNC)
    assert prev["EVA1A"] == "FAM176A" and prev["NECTIN4"] == "PVRL4" and prev["DCSTAMP"] == "TM7SF4"
    for gene in ("FN1", "MET", "TACSTD2", "NQO1", "SLC4A4", "SFTPC", "ANXA2P2", "FLJ23867", "TMEM43"):
        assert gene in prev


def test_erk_gene_list_has_48_down_and_4_up_with_mek_inhibition():
    g = thyroid_score_genes("ERK")
    assert len(g) == 52 and g["gene"].is_unique
    assert (g["erk_set"] == "A").sum() == 48 and (g["erk_set"] == "B").sum() == 4
    assert set(g.loc[g["erk_set"] == "B", "gene"]) == {"KIR3DL2", "SEMA6A", "HYDIN", "GTF2A1L"}
    assert {"DUSP6", "SPRY2", "ETV5", "FOSL1", "CCND1", "MYC"} <= set(g.loc[g["erk_set"] == "A", "gene"])
    assert dict(zip(g["gene"], g["previous_symbol"]))["CXCL8"] == "IL8"
    assert (g["weight"] == np.where(g["erk_set"] == "A", 1.0, -1.0)).all()


def test_danaher_2017_immune_markers_are_shipped():
    net = immune_gene_sets("danaher2017")
    sets = net.groupby("source")["target"].apply(set)
    assert len(net) == 60  # Danaher 2017 Table 1: 60 genes in 14 cell types
    assert sets["CD8_T_cells"] == {"CD8A", "CD8B"}
    assert sets["Treg"] == {"FOXP3"}
    assert sets["Cytotoxic_cells"] == {"PRF1", "GZMA", "GZMB", "NKG7", "GZMH", "KLRK1", "KLRB1", "KLRD1", "CTSW", "GNLY"}
    assert "FAM30A" in sets["B_cells"]  # KIAA0125 in the paper


def test_unknown_score_name_is_an_error():
    with pytest.raises(ValueError, match="TDS, BRS or ERK"):
        thyroid_score_genes("XYZ")


def test_normalized_squared_distance_worked_values():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert normalized_squared_distance(x, np.array([1.0, 2.0, 3.0, 4.0]))[0] == pytest.approx(0.0)
    assert normalized_squared_distance(x, np.array([4.0, 3.0, 2.0, 1.0]))[0] == pytest.approx(1.0)
    # shift invariance: only the centred shape matters
    assert normalized_squared_distance(x + 10, np.array([1.0, 2.0, 3.0, 4.0]))[0] == pytest.approx(0.0)
    # worked by hand: xc = [-1.5,-.5,.5,1.5], cc = [-1,1,-1,1]: num = .25+2.25+2.25+.25 = 5, den = 2*(5+4) = 18
    assert normalized_squared_distance(x, np.array([0.0, 2.0, 0.0, 2.0]))[0] == pytest.approx(5 / 18)


def test_tds_with_normal_reference_is_mean_log2fc_vs_normal_median():
    genes = sorted(TDS_PUBLISHED)
    normal = pd.DataFrame([[10.0] * 16, [12.0] * 16, [11.0] * 16], columns=genes)
    tumour = pd.DataFrame([[9.0] * 8 + [7.0] * 8], columns=genes)  # median normal = 11 → mean(−2, −4) = −3
    x = pd.concat([normal, tumour], ignore_index=True)
    tds = thyroid_differentiation_score(x, normal=[True, True, True, False])
    assert tds.iloc[3] == pytest.approx(-3.0)
    assert tds.iloc[:3].tolist() == pytest.approx([-1.0, 1.0, 0.0])


def test_erk_score_is_sum_of_set_a_minus_set_b_z_scores():
    g = thyroid_score_genes("ERK")
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(5, 1, (6, 52)), columns=g["gene"])
    z = (x - x.mean()) / x.std(ddof=1)
    expected = z[g.loc[g.erk_set == "A", "gene"]].sum(axis=1) - z[g.loc[g.erk_set == "B", "gene"]].sum(axis=1)
    assert erk_activation_score(x).to_numpy() == pytest.approx(expected.to_numpy())


def test_scores_need_enough_genes():
    x = pd.DataFrame(np.ones((3, 3)), columns=["TG", "TPO", "PAX8"])
    with pytest.raises(OmicsInputError, match="TDS: only 3 of 16 genes"):
        thyroid_differentiation_score(x)


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(11)
    n = 80
    braf = rng.random(n) < 0.5
    ras = ~braf & (rng.random(n) < 0.6)
    samples = pd.DataFrame({
        "sample_id": [f"C01-{i:04d}-BL_TU_BK" for i in range(n)], "patient_id": [f"C01-{i:04d}" for i in range(n)],
        "responder": rng.random(n) < 0.5, "braf": braf, "ras": ras,
        "histology": np.where(rng.random(n) < 0.15, "pdtc", "ptc"),
    })
    counts, truth = simulate_bulk(samples, n_genes=800, seed=5, n_response_genes=0, n_treatment_genes=0, plant_qc=False)
    return samples, normalized_log2(counts)


def test_tds_is_lower_in_braf_mutant_and_dedifferentiated_tumours(planted):
    s, lx = planted
    tds = thyroid_differentiation_score(lx).to_numpy()
    ptc = (s["histology"] == "ptc").to_numpy()
    assert tds[ptc & s.braf].mean() < tds[ptc & ~s.braf].mean() - 0.5
    assert tds[~ptc].mean() < tds[ptc].mean() - 1.0


def test_brs_separates_braf_from_ras_like_on_held_out_samples(planted):
    s, lx = planted
    train = np.arange(len(s)) % 2 == 0  # centroids from half the cohort, score the other half
    cent = brs_centroids(lx[train], s.braf.to_numpy()[train], s.ras.to_numpy()[train])
    brs = braf_ras_score(lx, cent).to_numpy()
    test = ~train
    assert (brs[test & s.braf] < 0).mean() > 0.9
    assert (brs[test & s.ras] > 0).mean() > 0.9
    assert brs.min() >= -1 and brs.max() <= 1


def test_brs_needs_reference_samples(planted):
    s, lx = planted
    with pytest.raises(OmicsInputError, match="≥ 3 BRAF-mutant"):
        braf_ras_score(lx, braf_mutant=np.zeros(len(s), bool), ras_mutant=s.ras)


def test_erk_is_higher_in_braf_mutant_tumours(planted):
    s, lx = planted
    erk = erk_activation_score(lx).to_numpy()
    assert erk[s.braf].mean() > erk[~s.braf].mean() + 10


@pytest.mark.parametrize("method", ["ulm", "waggr", "mlm"])
def test_immune_scores_with_decoupler_find_planted_cytotoxic_infiltrate(planted, method):
    s, lx = planted
    sc = immune_scores(lx, method=method)
    assert "immune_Cytotoxic_cells" in sc and len(sc) == len(s)
    r = s["responder"].to_numpy()
    diff = sc.loc[r, "immune_Cytotoxic_cells"].mean() - sc.loc[~r, "immune_Cytotoxic_cells"].mean()
    null = sc.loc[r, "immune_Mast_cells"].mean() - sc.loc[~r, "immune_Mast_cells"].mean()
    assert diff > 0 and abs(diff) > 3 * abs(null)
