"""Tertiary lymphoid structure (TLS) detection on spots.

A TLS is a B-cell follicle with adjacent T-cell zone and chemokine-producing stroma (Sautès-
Fridman 2019 Nat Rev Cancer 19:307). On spots we require both its **chemokine signal** and its
**B/T co-localisation**:

1. **TLS score** per spot: mean log1p(CP10k) of the TLS 12-chemokine signature (CCL2, CCL3, CCL4,
   CCL5, CCL8, CCL18, CCL19, CCL21, CXCL9, CXCL10, CXCL11, CXCL13; Coppola 2011 Am J Pathol 179:37,
   Messina 2012 Sci Rep 2:765, used as a TLS signature by Cabrita 2020 Nature 577:561), as a robust
   z-score within the slide: (score − median) / (1.4826 × MAD).
2. **Candidate spots**: score z ≥ ``z_min`` (2), B-cell fraction ≥ ``b_min`` (0.15) **and** T-cell
   (CD4 + CD8) fraction ≥ ``t_min`` (0.10). The chemokines alone also mark IFN-γ-inflamed tumour
   (CXCL9/10/11, CCL5); the B/T requirement separates lymphoid aggregates from inflamed tumour.
3. **TLS** = connected components of candidate spots on the spatial graph (radius
   ``radius_factor`` × spacing) with at least ``min_spots`` (3) spots — on Visium (55 µm spots,
   100 µm apart) 3 spots ≈ a 0.2–0.3 mm aggregate, the size of a small lymphoid aggregate.

Area: each spot stands for one grid cell, (√3/2)·spacing² on a hex grid, converted to mm² with
the spacing in µm (``adata.uns["spot_distance_um"]``, default 100 = Visium). Maturity (follicles
with germinal centres) is not resolvable at spot resolution and is not attempted.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from latc.omics._manifest import OmicsInputError
from latc.omics.spatial._deconvolution import _cp10k
from latc.omics.spatial._neighbourhood import spot_spacing
from latc.omics.spatial._resources import signature_genes

TLS_SIGNATURE = "tls_12_chemokine"
TLS_COLUMNS = ["tls_count", "tls_area_spots", "tls_area_mm2", "tls_density_per_mm2", "tls_score_mean"]


def tls_score(adata: ad.AnnData, genes: list[str] | None = None, *, layer: str | None = None) -> pd.Series:
    """Mean log1p(CP10k) of the TLS chemokine genes present, per spot (``genes`` default: the
    shipped ``tls_12_chemokine``); needs at least 3 of them."""
    genes = genes or signature_genes(TLS_SIGNATURE)
    x, names = _cp10k(adata, layer)
    idx = names.get_indexer(genes)
    idx = idx[idx >= 0]
    if len(idx) < 3:
        raise OmicsInputError(f"TLS score: only {len(idx)} of the {len(genes)} signature genes are in the data (need ≥ 3)")
    return pd.Series(np.log1p(x[:, idx]).mean(axis=1), index=adata.obs_names, name="tls_score")


def robust_z(x: pd.Series | np.ndarray) -> np.ndarray:
    """(x − median) / (1.4826 · MAD); a zero MAD falls back to the standard deviation."""
    x = np.asarray(x, dtype=float)
    med = np.nanmedian(x)
    mad = 1.4826 * np.nanmedian(np.abs(x - med))
    if not mad > 0:
        mad = np.nanstd(x)
    return (x - med) / mad if mad > 0 else np.zeros_like(x)


def spot_area_mm2(spacing_um: float) -> float:
    """Area a spot stands for on a hexagonal grid: (√3/2)·spacing² (µm² → mm²)."""
    return float(np.sqrt(3) / 2 * spacing_um**2 / 1e6)


def detect_tls(xy: np.ndarray, proportions: pd.DataFrame, score: pd.Series | np.ndarray, *, z_min: float = 2.0,
               b_min: float = 0.15, t_min: float = 0.10, min_spots: int = 3, radius_factor: float = 1.5,
               spacing_um: float = 100.0) -> tuple[np.ndarray, pd.DataFrame]:
    """TLS per spot (0 = none, 1..n) and a table of TLS (``tls_id, n_spots, area_mm2, x, y,
    score_z_mean, b_cell_mean, t_cell_mean``), largest first."""
    xy = np.asarray(xy, dtype=float)
    p = proportions.fillna(0)
    z = robust_z(score)
    t = p["cd8_t"].to_numpy() + p["cd4_t"].to_numpy()
    cand = (z >= z_min) & (p["b_cell"].to_numpy() >= b_min) & (t >= t_min)
    label = np.zeros(len(xy), dtype=int)
    cols = ["tls_id", "n_spots", "area_mm2", "x", "y", "score_z_mean", "b_cell_mean", "t_cell_mean"]
    idx = np.flatnonzero(cand)
    if len(idx) < min_spots:
        return label, pd.DataFrame(columns=cols)
    h = spot_spacing(xy)
    pairs = cKDTree(xy[idx]).query_pairs(radius_factor * h, output_type="ndarray")
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(idx), len(idx)))
    _, comp = connected_components(g, directed=False)
    sizes = np.bincount(comp)
    keep = np.flatnonzero(sizes >= min_spots)
    keep = keep[np.argsort(-sizes[keep], kind="stable")]
    new_id = np.zeros(len(sizes), dtype=int)
    new_id[keep] = np.arange(1, len(keep) + 1)
    label[idx] = new_id[comp]
    if not len(keep):
        return label, pd.DataFrame(columns=cols)
    lab = label[idx]
    m = lab > 0
    df = pd.DataFrame({"tls_id": lab[m], "x": xy[idx[m], 0], "y": xy[idx[m], 1], "score_z_mean": z[idx[m]],
                       "b_cell_mean": p["b_cell"].to_numpy()[idx[m]], "t_cell_mean": t[idx[m]]})
    out = df.groupby("tls_id").mean()
    out.insert(0, "n_spots", df.groupby("tls_id").size())
    out.insert(1, "area_mm2", out["n_spots"] * spot_area_mm2(spacing_um))
    return label, out.reset_index()[cols]


def tls_summary(label: np.ndarray, score: pd.Series | np.ndarray, n_spots: int, *, spacing_um: float = 100.0) -> dict[str, float]:
    """Per-sample TLS features: count, area (spots, mm²), TLS per mm² of tissue, mean TLS score."""
    a = spot_area_mm2(spacing_um)
    n = int(label.max()) if len(label) else 0
    area = int((label > 0).sum())
    return {"tls_count": float(n), "tls_area_spots": float(area), "tls_area_mm2": area * a,
            "tls_density_per_mm2": n / (n_spots * a) if n_spots else float("nan"),
            "tls_score_mean": float(np.mean(score)) if len(score) else float("nan")}
