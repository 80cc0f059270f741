"""Immune-infiltration measures of one slide from spot coordinates and cell-type proportions.

Definitions (distances in spot spacings, the median nearest-neighbour distance; × the
spacing in µm — 100 µm on Visium — for physical units):

* **tumour region** — spots with tumour fraction ≥ ``tumour_min`` (0.5);
  **CD8 signal** — CD8 T fraction ≥ ``cd8_min`` (0.1);
* ``cd8_density_tumour`` / ``cd8_density_stroma`` / ``cd8_density`` — mean CD8 T fraction over
  tumour / non-tumour / all spots (CD8 T "density" as a share of cells per spot);
* ``cd8_intratumoural_fraction`` — share of tumour spots with CD8 signal;
* ``cd8_margin_fraction`` — share of non-tumour spots within ``margin_spots`` (1.5) of a tumour
  spot (the invasive margin) with CD8 signal;
* ``cd8_tumour_adjacent_fraction`` — share of tumour-adjacent spots (tumour + margin) with CD8
  signal;
* ``cd8_distance_to_tumour_median`` / ``_mean`` — over spots with CD8 signal, distance to the
  nearest tumour spot (0 inside the tumour; scipy ``cKDTree``); NaN without CD8 or tumour spots;
* ``cd8_infiltration_ratio`` — intratumoural / (intratumoural + margin) CD8 signal fraction:
  near 1 infiltrated, near 0 excluded (Galon's immunoscore idea of core vs invasive margin,
  Pagès 2018 Lancet 391:2128, on spots);
* ``interface_edges`` — spatial-graph edges (radius ``radius_factor`` spacings) joining a tumour
  and a non-tumour spot (the tumour–stroma interface length in edges); ``interface_immune_fraction``
  — share of those edges whose non-tumour end is lymphocyte-rich (CD8 + CD4 T + B ≥
  ``lymphocyte_min``, 0.2); ``interface_cd8_fraction`` — share with CD8 signal on either end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from latc.omics.spatial._neighbourhood import spot_spacing

INFILTRATION_COLUMNS = [
    "tumour_spot_fraction", "cd8_density", "cd8_density_tumour", "cd8_density_stroma",
    "cd8_intratumoural_fraction", "cd8_margin_fraction", "cd8_tumour_adjacent_fraction",
    "cd8_distance_to_tumour_median", "cd8_distance_to_tumour_mean", "cd8_infiltration_ratio",
    "interface_edges", "interface_immune_fraction", "interface_cd8_fraction",
]


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def distance_to_tumour(xy: np.ndarray, tumour: np.ndarray) -> np.ndarray:
    """Per spot, distance (coordinate units) to the nearest tumour spot; 0 for tumour spots,
    inf when the slide has no tumour spot."""
    xy = np.asarray(xy, dtype=float)
    if not tumour.any():
        return np.full(len(xy), np.inf)
    d, _ = cKDTree(xy[tumour]).query(xy, k=1)
    return np.where(tumour, 0.0, d)


def infiltration(xy: np.ndarray, proportions: pd.DataFrame, *, tumour_min: float = 0.5, cd8_min: float = 0.1,
                 lymphocyte_min: float = 0.2, margin_spots: float = 1.5, radius_factor: float = 1.5) -> dict[str, float]:
    """The infiltration measures of the module docstring for one slide (a dict, keys
    :data:`INFILTRATION_COLUMNS`). ``proportions`` needs ``tumour``, ``cd8_t``; ``cd4_t`` and
    ``b_cell`` are used for lymphocyte richness when present."""
    xy = np.asarray(xy, dtype=float)
    p = proportions.fillna(0)
    h = spot_spacing(xy)
    tumour = p["tumour"].to_numpy() >= tumour_min
    cd8 = p["cd8_t"].to_numpy()
    cd8_pos = cd8 >= cd8_min
    lymph = cd8 + sum(p[c].to_numpy() for c in ("cd4_t", "b_cell") if c in p)
    dist = distance_to_tumour(xy, tumour) / h
    margin = ~tumour & (dist <= margin_spots)
    adjacent = tumour | margin
    intra, marg = _mean(cd8_pos[tumour]), _mean(cd8_pos[margin])
    d_cd8 = dist[cd8_pos & np.isfinite(dist)]
    pairs = cKDTree(xy).query_pairs(radius_factor * h, output_type="ndarray")
    t0, t1 = tumour[pairs[:, 0]], tumour[pairs[:, 1]]
    cross = pairs[t0 != t1]
    other = np.where(tumour[cross[:, 0]], cross[:, 1], cross[:, 0])
    return {
        "tumour_spot_fraction": float(tumour.mean()),
        "cd8_density": float(cd8.mean()),
        "cd8_density_tumour": _mean(cd8[tumour]),
        "cd8_density_stroma": _mean(cd8[~tumour]),
        "cd8_intratumoural_fraction": intra,
        "cd8_margin_fraction": marg,
        "cd8_tumour_adjacent_fraction": _mean(cd8_pos[adjacent]),
        "cd8_distance_to_tumour_median": float(np.median(d_cd8)) if len(d_cd8) else float("nan"),
        "cd8_distance_to_tumour_mean": _mean(d_cd8),
        "cd8_infiltration_ratio": intra / (intra + marg) if (intra + marg) > 0 else float("nan"),
        "interface_edges": float(len(cross)),
        "interface_immune_fraction": _mean(lymph[other] >= lymphocyte_min),
        "interface_cd8_fraction": _mean(cd8_pos[cross[:, 0]] | cd8_pos[cross[:, 1]]),
    }
