"""Sample QC of bulk RNA-seq: library size, detected genes, outlier samples, sample-swap check.

* Outliers: (1) robust z-score (median/MAD) of the mean distance to the ``n_neighbors`` nearest
  samples in the space of the first principal components of log-normalised expression of the most
  variable genes (a distance to the cohort centre would flag whole biological groups), and
  (2) each sample's median Pearson correlation with the others (a degraded or mislabelled library
  correlates poorly with everyone). Thresholds are conventions, not laws: a flagged sample is for a
  human to look at, nothing is dropped automatically.
* Sex check: XIST (expressed from the inactive X, female) against Y-chromosome genes (RPS4Y1,
  DDX3Y, KDM5D, UTY, EIF1AY; male), the usual RNA-seq sex check (e.g. Staedtler 2013 BMC Res
  Notes 6:13). A sample whose expression-inferred sex contradicts the recorded sex is a possible
  sample swap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.omics.bulk._scores import normalized_log2

Y_GENES = ["RPS4Y1", "DDX3Y", "KDM5D", "UTY", "EIF1AY"]
X_INACTIVATION_GENE = "XIST"


def _robust_z(x: np.ndarray) -> np.ndarray:
    med = np.median(x)
    mad = 1.4826 * np.median(np.abs(x - med))
    return (x - med) / mad if mad > 0 else np.zeros_like(x)


def sample_qc(adata, *, n_top_genes: int = 1000, n_components: int = 10, n_neighbors: int = 5, distance_z: float = 5.0,
              min_median_correlation: float | None = None, min_library_size: float | None = None,
              min_detected_genes: int | None = None) -> pd.DataFrame:
    """One row per sample: ``library_size``, ``detected_genes`` (count > 0), ``pca_distance`` (mean
    distance to the nearest samples in PC space) and its
    robust z (``pca_distance_z``), ``median_correlation`` with the other samples and its robust z,
    and flags ``low_library``, ``low_detected``, ``pca_outlier`` (z > ``distance_z``),
    ``correlation_outlier`` (robust z < −``distance_z``, or below ``min_median_correlation``) and
    ``outlier`` (any flag). ``low_library`` / ``low_detected``: below ``min_library_size`` /
    ``min_detected_genes``, by default 10 % of the median library size / 50 % of the median
    number of detected genes."""
    X = adata.layers["counts"] if "counts" in adata.layers else adata.X
    counts = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=float)
    lib = counts.sum(axis=1)
    detected = (counts > 0).sum(axis=1)
    logx = normalized_log2(pd.DataFrame(counts, index=adata.obs_names, columns=adata.var_names)).to_numpy()
    top = np.argsort(logx.var(axis=0))[::-1][: min(n_top_genes, logx.shape[1])]
    y = logx[:, top] - logx[:, top].mean(axis=0)
    k = max(1, min(n_components, min(y.shape) - 1))
    u, s, _ = np.linalg.svd(y, full_matrices=False)
    pcs = u[:, :k] * s[:k]
    # distance to the k nearest samples in PC space: biological groups (response, histology,
    # timepoint) form clusters whose members have close neighbours; an outlier has none
    d = np.sqrt(((pcs[:, None, :] - pcs[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(d, np.inf)
    kk = max(1, min(n_neighbors, len(d) - 1))
    dist = np.sort(d, axis=1)[:, :kk].mean(axis=1) if len(d) > 1 else np.zeros(len(d))
    corr = np.corrcoef(logx[:, top])
    np.fill_diagonal(corr, np.nan)
    med_corr = np.nanmedian(corr, axis=1) if len(corr) > 1 else np.ones(len(corr))
    out = pd.DataFrame({
        "sample_id": adata.obs_names.to_numpy(),
        "library_size": lib, "detected_genes": detected,
        "pca_distance": dist, "pca_distance_z": _robust_z(dist),
        "median_correlation": med_corr, "median_correlation_z": _robust_z(med_corr),
    })
    min_detected = min_detected_genes if min_detected_genes is not None else 0.5 * np.median(detected)
    min_lib = min_library_size if min_library_size is not None else 0.1 * np.median(lib)
    out["low_library"] = out["library_size"] < min_lib
    out["low_detected"] = out["detected_genes"] < min_detected
    out["pca_outlier"] = out["pca_distance_z"] > distance_z
    corr_flag = out["median_correlation_z"] < -distance_z
    if min_median_correlation is not None:
        corr_flag |= out["median_correlation"] < min_median_correlation
    out["correlation_outlier"] = corr_flag
    out["outlier"] = out[["low_library", "low_detected", "pca_outlier", "correlation_outlier"]].any(axis=1)
    return out


def sex_check(adata, recorded_sex: pd.Series | None = None, *, min_log2: float = 3.0) -> pd.DataFrame:
    """Expression-inferred sex per sample and a ``sex_mismatch`` flag against ``recorded_sex``
    (indexed by sample_id, or by patient_id when ``obs`` carries it; values female / male).

    ``xist`` and ``y_genes`` are log2 normalised expression (mean over the Y genes present).
    ``inferred_sex``: female when XIST > ``min_log2`` and Y < ``min_log2``; male in the opposite
    case; ``ambiguous`` otherwise (both or neither expressed — e.g. mixed or degraded RNA).
    """
    logx = normalized_log2(adata)
    y_genes = [g for g in Y_GENES if g in logx.columns]
    xist = logx[X_INACTIVATION_GENE] if X_INACTIVATION_GENE in logx.columns else pd.Series(np.nan, index=logx.index)
    y = logx[y_genes].mean(axis=1) if y_genes else pd.Series(np.nan, index=logx.index)
    female = (xist > min_log2) & (y < min_log2)
    male = (y > min_log2) & (xist < min_log2)
    inferred = np.select([female.to_numpy(), male.to_numpy()], ["female", "male"], "ambiguous")
    out = pd.DataFrame({"sample_id": logx.index.to_numpy(), "xist": xist.to_numpy(), "y_genes": y.to_numpy(),
                        "inferred_sex": inferred})
    if recorded_sex is not None:
        rec = recorded_sex.astype(str).str.lower()
        if rec.index.isin(out["sample_id"]).any():
            out["recorded_sex"] = out["sample_id"].map(rec)
        else:
            out["recorded_sex"] = adata.obs["patient_id"].map(rec).to_numpy()
        known = out["recorded_sex"].isin(["female", "male"]) & (out["inferred_sex"] != "ambiguous")
        out["sex_mismatch"] = known & (out["recorded_sex"] != out["inferred_sex"])
    return out
