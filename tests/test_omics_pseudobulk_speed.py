"""Pseudobulk DE per cell type: parallel fits identical to serial ones, the dispersion-trend path of
every fit recorded (own parametric trend / pydeseq2's mean fallback / trend shared with the other
cell types where the data are thin), pydeseq2's warnings kept in the record instead of printed, and
the shared-trend path equal to ``DeseqDataSet.deseq2()`` when given the type's own trend.

Synthetic tumour samples with the simulator's true labels (as test_omics_sc_synth.py), 10 patients
× 2 timepoints × 300 cells: enough for CD8/CD4/thyrocyte fits, too little for NK's paired fit
(≤ 3 residual degrees of freedom → thin).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from latc.omics.sc import normalise, pseudobulk, pseudobulk_de, simulate_counts
from latc.omics.sc._pseudobulk import DISPERSION_FITS, FIT_COLUMNS, DeSpec, pseudobulk_de_many

PAIRED = ["cd8_t_effector", "cd4_t", "thyrocyte_tumour", "nk"]
RESPONSE = ["cd8_t_effector", "cd4_t"]
RESPONDERS = pd.Series([i % 2 == 0 for i in range(10)], index=[f"C01-{i + 1:04d}" for i in range(10)])
# measured on these data: the paired fits fall back to a mean trend (the simulated dispersions have
# no 1/mean term), NK's paired fit is thin (2 residual df) and shares the pooled trend, the response
# fits keep their parametric trend
SPECS = ([DeSpec(t, min_cells=5) for t in PAIRED]
         + [DeSpec(t, design="response", response=RESPONDERS, min_cells=5) for t in RESPONSE]
         + [DeSpec("plasma")])


@pytest.fixture(scope="module")
def pb():
    warnings.filterwarnings("ignore")
    rows = []
    for i in range(10):
        pid = f"C01-{i + 1:04d}"
        for tp, code in (("baseline", "BL"), ("surgery", "SX")):
            rows.append({"sample_id": f"{pid}-{code}_TU_SC", "patient_id": pid, "center_id": "C01", "timepoint": tp,
                         "tissue": "tumour", "responder": i % 2 == 0, "neoadjuvant": True})
    a, _ = simulate_counts(pd.DataFrame(rows), seed=11, cells_per_sample=300)
    a = a[~a.obs["true_doublet"].to_numpy()].copy()
    a.obs["cell_type"] = pd.Categorical(a.obs["true_cell_type"])
    normalise(a)
    return pseudobulk(a)


@pytest.fixture(scope="module")
def serial(pb):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = pseudobulk_de_many(pb, SPECS, n_jobs=1)
    return out, caught


def test_parallel_equals_serial(pb, serial):
    (res1, fits1, err1), _ = serial
    res2, fits2, err2 = pseudobulk_de_many(pb, SPECS, n_jobs=2)
    assert len(res1) == len(res2) == len(SPECS)
    for a, b in zip(res1[:-1], res2[:-1]):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    pd.testing.assert_frame_equal(fits1.drop(columns="seconds"), fits2.drop(columns="seconds"), check_exact=True)
    # a spec that cannot be fitted: no result, the reason kept, in both runs
    assert res1[-1] is None and res2[-1] is None
    assert str(err1[-1]) == str(err2[-1]) and "patients per level" in str(err1[-1])


def test_every_fit_records_its_dispersion_trend_and_nothing_is_printed(serial):
    (res, fits, _), caught = serial
    assert list(fits.columns) == FIT_COLUMNS and len(fits) == len(SPECS) - 1
    assert set(fits["dispersion_fit"]) <= set(DISPERSION_FITS)
    assert {"parametric", "mean_fallback"} <= set(fits["dispersion_fit"])
    for r, (_, f) in zip(res, fits.iterrows()):
        assert (r["dispersion_fit"] == f["dispersion_fit"]).all()
    # pydeseq2's warnings stay in the record (fit_warnings), none reaches the caller
    assert not [w for w in caught if "pydeseq2" in str(w.filename) or "dispersion" in str(w.message)]
    fb = fits[fits["dispersion_fit"] == "mean_fallback"]
    assert fb["fit_warnings"].str.contains("trend curve fitting did not converge").all()
    assert fb["trend_mean"].notna().all() and fb["trend_a1"].isna().all()
    par = fits[fits["dispersion_fit"] == "parametric"]
    assert len(par) and (par["trend_a0"] > 0).all() and (par["trend_a1"] > 0).all()


def test_thin_cell_type_borrows_the_pooled_trend(pb, serial):
    (res, fits, _), _ = serial
    nk = fits.iloc[PAIRED.index("nk")]
    assert nk["cell_type"] == "nk"
    assert nk["residual_df"] <= 3 and bool(nk["thin"])
    assert nk["dispersion_fit"] in ("shared_parametric", "shared_mean")
    own = fits[~fits["thin"]]
    assert nk["n_trend_genes"] > nk["n_genes"] and nk["n_trend_genes"] <= own["n_trend_genes"].sum()
    assert "thin (residual df" in nk["fit_warnings"]
    r = res[PAIRED.index("nk")]
    assert r["pvalue"].dropna().between(0, 1).all() and len(r) == nk["n_genes"]
    # alone (no other type of the contrast to borrow from), the thin type is fitted with its own trend
    alone, f, _ = pseudobulk_de_many(pb, [DeSpec("nk", min_cells=5)], n_jobs=1)
    assert f["dispersion_fit"].iloc[0] in ("parametric", "mean_fallback")
    assert "no other cell type" in f["fit_warnings"].iloc[0]


def test_shared_path_reproduces_deseq2_with_the_types_own_trend(pb, serial):
    """The shared-trend path runs DeseqDataSet.deseq2()'s steps with the trend replaced; given the
    type's own parametric trend it must give deseq2()'s results."""
    (res, fits, _), _ = serial
    par = fits[fits["dispersion_fit"] == "parametric"].iloc[0]
    own = res[par.name].set_index("gene")
    trend = {"kind": "parametric", "a0": par["trend_a0"], "a1": par["trend_a1"], "n_genes": int(par["n_trend_genes"])}
    again = pseudobulk_de(pb, par["cell_type"], design="response", response=RESPONDERS, min_cells=5,
                          shared_trend=trend).set_index("gene").loc[own.index]
    assert (again["dispersion_fit"] == "shared_parametric").all()
    for c in ("baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue"):
        np.testing.assert_allclose(again[c].to_numpy(float), own[c].to_numpy(float), rtol=1e-6, atol=1e-12, err_msg=c)


def test_single_fit_keeps_its_record(pb):
    r = pseudobulk_de(pb, "cd8_t_effector", min_cells=5)
    assert r.attrs["fit"]["dispersion_fit"] in DISPERSION_FITS and r.attrs["fit"]["n_genes"] == len(r)
