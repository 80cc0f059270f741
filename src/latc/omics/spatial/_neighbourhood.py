"""Spot classes, spatial graph, neighbourhood enrichment and co-occurrence (squidpy).

Spots are labelled from their cell-type proportions (:func:`spot_classes`), then squidpy computes

* the spatial graph — :func:`squidpy.gr.spatial_neighbors_radius` with radius
  ``radius_factor`` × the spot spacing (median nearest-neighbour distance; 1.5 gives the 6 ring
  neighbours of a Visium hex grid, 8 on a square grid);
* **neighbourhood enrichment** — :func:`squidpy.gr.nhood_enrichment`: for each pair of classes the
  number of graph edges joining them, as a z-score against ``n_perms`` label permutations
  (seeded). Computed **per sample** (one slide at a time), so z-scores are per-sample features;
* **co-occurrence** — :func:`squidpy.gr.co_occurrence`: ``p(b | a within d) / p(b)`` at distances
  ``d`` given in spot spacings.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

SPOT_CLASSES: list[str] = ["tumour", "cd8_t_rich", "b_cell_rich", "stroma"]


def spot_spacing(xy: np.ndarray) -> float:
    """Median distance from each spot to its nearest other spot (the grid spacing)."""
    xy = np.asarray(xy, dtype=float)
    if len(xy) < 2:
        return 1.0
    d, _ = cKDTree(xy).query(xy, k=2)
    return float(np.median(d[:, 1]))


def spot_classes(proportions: pd.DataFrame, *, tumour_min: float = 0.5, cd8_min: float = 0.1,
                 b_min: float = 0.2) -> pd.Series:
    """One class per spot, first rule that applies: ``b_cell_rich`` (B fraction ≥ ``b_min``),
    ``cd8_t_rich`` (CD8 T ≥ ``cd8_min``), ``tumour`` (tumour ≥ ``tumour_min``), else ``stroma``.
    Immune classes win so that CD8 T cells *inside* tumour nests are visible as their own class.
    Needs columns ``tumour``, ``cd8_t``, ``b_cell``."""
    p = proportions.fillna(0)
    lab = np.select([p["b_cell"].to_numpy() >= b_min, p["cd8_t"].to_numpy() >= cd8_min,
                     p["tumour"].to_numpy() >= tumour_min], ["b_cell_rich", "cd8_t_rich", "tumour"], "stroma")
    return pd.Series(pd.Categorical(lab, categories=SPOT_CLASSES), index=proportions.index, name="spot_class")


def spatial_graph(adata: ad.AnnData, *, radius_factor: float = 1.5) -> None:
    """Build the radius graph in ``adata.obsp["spatial_connectivities"/"spatial_distances"]``."""
    import squidpy as sq

    from spatialdata._logging import logger  # squidpy logs every graph build at INFO

    r = radius_factor * spot_spacing(adata.obsm["spatial"])
    level = logger.level
    logger.setLevel("WARNING")
    try:
        sq.gr.spatial_neighbors_radius(adata, radius=r)
    finally:
        logger.setLevel(level)


def neighbourhood_enrichment(adata: ad.AnnData, classes: pd.Series | str = "spot_class", *, n_perms: int = 1000,
                             seed: int = 0, radius_factor: float = 1.5) -> pd.DataFrame:
    """Neighbourhood-enrichment z-scores (classes × classes) of one sample.

    ``classes`` is a per-spot label Series (stored as ``adata.obs["spot_class"]``) or the name of
    an ``obs`` column. Adds the spatial graph (``obsp``) and squidpy's result (``uns``) to
    ``adata``. Classes with no spot in this sample get NaN rows/columns; a z-score is NaN too when
    the permutation variance is 0."""
    import squidpy as sq

    key = classes if isinstance(classes, str) else "spot_class"
    if not isinstance(classes, str):
        adata.obs[key] = classes.reindex(adata.obs_names).array
    full = list(adata.obs[key].cat.categories) if isinstance(adata.obs[key].dtype, pd.CategoricalDtype) else sorted(adata.obs[key].astype(str).unique())
    adata.obs[key] = pd.Categorical(adata.obs[key].astype(str)).remove_unused_categories()
    present = list(adata.obs[key].cat.categories)
    z = pd.DataFrame(np.nan, index=full, columns=full)
    if len(present) < 2:
        return z
    if "spatial_connectivities" not in adata.obsp:
        spatial_graph(adata, radius_factor=radius_factor)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        sq.gr.nhood_enrichment(adata, cluster_key=key, n_perms=n_perms, seed=seed, show_progress_bar=False, n_jobs=1)
    got = pd.DataFrame(np.asarray(adata.uns[f"{key}_nhood_enrichment"]["zscore"], dtype=float), index=present, columns=present)
    z.loc[present, present] = got.to_numpy()
    return z


def co_occurrence(adata: ad.AnnData, classes: pd.Series | str = "spot_class", *,
                  distances: tuple[float, ...] = (1.5, 3.0, 5.0, 8.0)) -> pd.DataFrame:
    """Tidy co-occurrence ratios ``p(b | a within d) / p(b)`` (columns ``a, b, distance, ratio``;
    ``distance`` in spot spacings, each bin (previous d, d]) from :func:`squidpy.gr.co_occurrence`."""
    import squidpy as sq

    key = classes if isinstance(classes, str) else "spot_class"
    if not isinstance(classes, str):
        adata.obs[key] = classes.reindex(adata.obs_names).array
    adata.obs[key] = pd.Categorical(adata.obs[key].astype(str)).remove_unused_categories()
    cats = list(adata.obs[key].cat.categories)
    if len(cats) < 2:
        return pd.DataFrame(columns=["a", "b", "distance", "ratio"])
    h = spot_spacing(adata.obsm["spatial"])
    interval = np.array([0.0, *distances]) * h
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        occ, _ = sq.gr.co_occurrence(adata, cluster_key=key, interval=interval, copy=True)
    a, b, d = np.meshgrid(np.arange(len(cats)), np.arange(len(cats)), np.arange(occ.shape[2]), indexing="ij")
    return pd.DataFrame({"a": np.array(cats)[a.ravel()], "b": np.array(cats)[b.ravel()],
                         "distance": np.asarray(distances)[d.ravel()], "ratio": occ.ravel()})
