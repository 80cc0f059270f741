"""H&E tile features: stain normalisation, colour deconvolution, nuclei, texture and a TIL estimate.

Pipeline per tile (all thresholds in :class:`HistologySettings`, recorded with the table):

1. **Tile QC** — background fraction (pixels brighter than ``background_level`` in all channels)
   and focus (variance of the Laplacian of the grey image, Pech-Pacheco et al., ICPR 2000). Tiles
   with more than ``max_background_fraction`` background or a focus below ``min_focus`` are
   flagged and left out of the sample's averages.
2. **Stain normalisation** — Macenko et al., ISBI 2009 ("A method for normalizing histology slides
   for quantitative analysis"): optical density OD = −ln(I/I₀); nearly transparent pixels
   (‖OD‖ < β; the norm rather than Macenko's per-channel test, which drops pale eosin whose red
   OD is tiny) dropped; the two principal directions of the OD cloud span the stain plane; the
   stain vectors are the robust extreme angles (α and 100−α percentiles) in that plane;
   concentrations by least squares; the tile is re-rendered with the reference stain matrix (the
   Ruifrok H and E vectors). Macenko's last step — scaling each stain's 99th-percentile
   concentration to a reference — is optional (``normalise_intensity``, off by default): it depends
   on the tile's composition (a lymphocyte-rich tile would be scaled paler, a tumour-only tile
   darker), which defeats the absolute darkness rule of the TIL classifier. Written in numpy.
3. **Colour deconvolution** — scikit-image ``rgb2hed`` (Ruifrok & Johnston, Anal Quant Cytol
   Histol 2001;23:291). Haematoxylin (H) and eosin (E) are in skimage's units (OD/ln 10⁶).
4. **Nuclei** — H channel smoothed (Gaussian σ = 1 px), fixed threshold ``nucleus_h_threshold``
   (an absolute density is meaningful once the stain vectors are normalised; Otsu's threshold
   rises above pale tumour nuclei when a tile holds many dark lymphocytes),
   holes filled, objects below ``min_nucleus_area_um2`` removed, touching nuclei split by a
   marker-controlled watershed on the distance transform (markers ``min_peak_distance_um`` apart).
5. **Per-nucleus measures** — area (µm²), Crofton perimeter, circularity 4πA/P², eccentricity of
   the equal-second-moment ellipse, mean H.
6. **TIL-like nuclei** — small, round, dark: area in ``til_area_um2``, circularity ≥
   ``til_min_circularity``, mean H ≥ ``til_min_h``. Lymphocyte nuclei are ≈ 6–7 µm across
   (area ≈ 30–40 µm²) and hyperchromatic; tumour nuclei of papillary carcinoma are larger, pale,
   overlapping (Salgado et al., Ann Oncol 2015 — TIL scoring by the International TILs Working
   Group; the classifier is a morphological proxy, not their visual stromal-TIL score).
7. **Texture** — GLCM (skimage ``graycomatrix``, distances 1 and 3 px, 4 angles, 32 grey levels of
   the H channel) contrast, homogeneity, energy, correlation averaged over angles.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError

#: Ruifrok & Johnston H and E optical-density unit vectors (RGB), as in skimage ``rgb_from_hed``.
RUIFROK_HE = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]])


@dataclass(frozen=True)
class HistologySettings:
    """Thresholds of the H&E pipeline (module docstring); recorded with every histology table."""

    microns_per_pixel: float = 0.5  # used when the file records none
    background_level: int = 220
    max_background_fraction: float = 0.5
    min_focus: float = 20.0
    normalise: bool = True
    normalise_intensity: bool = False
    macenko_beta: float = 0.15
    macenko_alpha: float = 1.0
    macenko_io: float = 255.0
    reference_max_concentration: tuple[float, float] = (1.9, 1.0)  # 99th pct H, E in −ln OD units
    nucleus_h_threshold: float = 0.025
    min_nucleus_area_um2: float = 8.0
    min_peak_distance_um: float = 3.0
    til_area_um2: tuple[float, float] = (12.0, 60.0)
    til_min_circularity: float = 0.8
    til_min_h: float = 0.09
    glcm_levels: int = 32

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stain_reference"] = "Ruifrok & Johnston 2001 H/E vectors; Macenko et al. ISBI 2009"
        return d


# ---------------------------------------------------------------------------------------------
def tile_qc(rgb: np.ndarray, settings: HistologySettings | None = None) -> dict[str, float]:
    """Background fraction and focus (variance of the Laplacian) of one RGB tile."""
    from scipy.ndimage import laplace

    s = settings or HistologySettings()
    a = np.asarray(rgb)[..., :3]
    background = float(np.all(a >= s.background_level, axis=-1).mean())
    grey = a.astype(float) @ np.array([0.299, 0.587, 0.114])
    focus = float(laplace(grey).var())
    return {"background_fraction": background, "focus": focus,
            "qc_pass": bool(background <= s.max_background_fraction and focus >= s.min_focus)}


def optical_density(rgb: np.ndarray, io: float = 255.0) -> np.ndarray:
    """OD = −ln(I/I₀) per channel (Beer–Lambert), with I clipped to [1, I₀]."""
    a = np.clip(np.asarray(rgb, dtype=float)[..., :3], 1.0, io)
    return -np.log(a / io)


def macenko_stain_matrix(rgb: np.ndarray, *, beta: float = 0.15, alpha: float = 1.0, io: float = 255.0) -> np.ndarray:
    """Stain matrix (2 × 3, rows H then E, unit OD vectors) estimated as in Macenko et al. 2009."""
    od = optical_density(rgb, io).reshape(-1, 3)[::7]  # a regular subsample is plenty for 3×3 moments
    od = od[np.linalg.norm(od, axis=1) >= beta]
    if len(od) < 10:
        raise ValueError("too few stained pixels to estimate stain vectors")
    _, vecs = np.linalg.eigh(np.cov(od, rowvar=False))
    plane = vecs[:, 1:3]  # the two largest eigenvalues (eigh sorts ascending)
    plane = plane * np.where(plane[0] < 0, -1.0, 1.0)  # point into the positive octant
    proj = od @ plane
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, [alpha, 100 - alpha])
    v1 = plane @ np.array([np.cos(lo), np.sin(lo)])
    v2 = plane @ np.array([np.cos(hi), np.sin(hi)])
    he = np.array([v1, v2]) if v1[0] > v2[0] else np.array([v2, v1])  # H absorbs more red than E
    he = he * np.sign(he.sum(axis=1, keepdims=True))
    return he / np.linalg.norm(he, axis=1, keepdims=True)


def stain_concentrations(rgb: np.ndarray, stain_matrix: np.ndarray, io: float = 255.0) -> np.ndarray:
    """Per-pixel concentrations (H×W×2) of the stains by least squares on the OD."""
    od = optical_density(rgb, io)
    pinv = np.linalg.pinv(stain_matrix)  # 3 × k: least squares for every pixel at once
    # channel-wise sums: a (n×3)@(3×k) matmul with tiny inner dimensions is slow in numpy
    return np.stack([od[..., 0] * pinv[0, j] + od[..., 1] * pinv[1, j] + od[..., 2] * pinv[2, j]
                     for j in range(pinv.shape[1])], axis=-1)


def macenko_normalise(rgb: np.ndarray, settings: HistologySettings | None = None,
                      reference_matrix: np.ndarray = RUIFROK_HE) -> np.ndarray:
    """The tile re-rendered with the reference stain matrix and 99th-percentile concentrations
    (Macenko et al. 2009); returns uint8 RGB. A tile with too little stain is returned unchanged."""
    s = settings or HistologySettings()
    try:
        he = macenko_stain_matrix(rgb, beta=s.macenko_beta, alpha=s.macenko_alpha, io=s.macenko_io)
    except ValueError:
        return np.asarray(rgb)[..., :3].astype(np.uint8)
    c = stain_concentrations(rgb, he, s.macenko_io)
    if s.normalise_intensity:
        max_c = np.percentile(c.reshape(-1, 2)[::7], 99, axis=0)
        c = c * (np.asarray(s.reference_max_concentration) / np.maximum(max_c, 1e-6))
    ref = reference_matrix / np.linalg.norm(reference_matrix, axis=1, keepdims=True)
    od = sum(c[..., j, None] * ref[j] for j in range(ref.shape[0]))
    out = s.macenko_io * np.exp(-od)
    return np.clip(out, 0, 255).astype(np.uint8)


def haematoxylin_eosin(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H and E density maps from skimage ``rgb2hed`` (Ruifrok & Johnston 2001)."""
    from skimage.color import rgb2hed

    hed = rgb2hed(np.asarray(rgb)[..., :3])
    return hed[..., 0], hed[..., 1]


# ---------------------------------------------------------------------------------------------
def segment_nuclei(h: np.ndarray, microns_per_pixel: float, settings: HistologySettings | None = None) -> np.ndarray:
    """Label image of nuclei segmented on the haematoxylin channel (threshold + watershed)."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian
    from skimage.morphology import remove_small_objects
    from skimage.segmentation import watershed

    s = settings or HistologySettings()
    hs = gaussian(h, sigma=1.0, preserve_range=True)
    fg = ndi.binary_fill_holes(hs > s.nucleus_h_threshold)
    min_px = max(1, int(round(s.min_nucleus_area_um2 / microns_per_pixel ** 2)))
    fg = remove_small_objects(fg, max_size=min_px)
    if not fg.any():
        return np.zeros(h.shape, dtype=np.int32)
    dist = ndi.distance_transform_edt(fg)
    dist = gaussian(dist, sigma=1.0, preserve_range=True)
    min_d = max(1, int(round(s.min_peak_distance_um / microns_per_pixel)))
    comp, _ = ndi.label(fg)
    peaks = peak_local_max(dist, min_distance=min_d, labels=comp, exclude_border=False)
    markers = np.zeros(h.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-dist, markers, mask=fg)
    # components that got no marker (tiny/flat) keep their own label
    missing = comp * (labels == 0) * fg
    if missing.any():
        extra, _ = ndi.label(missing > 0)
        labels = np.where(extra > 0, extra + labels.max(), labels)
    return labels.astype(np.int32)


NUCLEUS_COLUMNS = ["label", "area_um2", "perimeter_um", "circularity", "eccentricity", "mean_h", "til_like"]


def nuclei_table(labels: np.ndarray, h: np.ndarray, microns_per_pixel: float,
                 settings: HistologySettings | None = None) -> pd.DataFrame:
    """One row per nucleus: morphology (µm), mean haematoxylin, and the TIL-like flag."""
    from scipy import ndimage as ndi
    from skimage.measure import regionprops_table

    s = settings or HistologySettings()
    if labels.max() == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in NUCLEUS_COLUMNS})
    t = pd.DataFrame(regionprops_table(labels, properties=("label", "perimeter_crofton")))
    idx = t["label"].to_numpy()
    # area, mean H and second moments for all labels at once (eccentricity of the equal-moment ellipse)
    ones = np.ones(labels.shape)
    yy, xx = np.indices(labels.shape, dtype=float)
    n = ndi.sum_labels(ones, labels, idx)
    my, mx = ndi.sum_labels(yy, labels, idx) / n, ndi.sum_labels(xx, labels, idx) / n
    vyy = ndi.sum_labels(yy * yy, labels, idx) / n - my ** 2
    vxx = ndi.sum_labels(xx * xx, labels, idx) / n - mx ** 2
    vxy = ndi.sum_labels(yy * xx, labels, idx) / n - my * mx
    root = np.sqrt(((vyy - vxx) / 2) ** 2 + vxy ** 2)
    l1, l2 = (vyy + vxx) / 2 + root, np.maximum((vyy + vxx) / 2 - root, 0)
    mpp = float(microns_per_pixel)
    out = pd.DataFrame({
        "label": idx,
        "area_um2": n * mpp ** 2,
        "perimeter_um": t["perimeter_crofton"].to_numpy() * mpp,
        "eccentricity": np.sqrt(1 - np.divide(l2, l1, out=np.ones_like(l1), where=l1 > 0)),
        "mean_h": ndi.mean(h, labels, idx),
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        out["circularity"] = np.clip(4 * np.pi * out["area_um2"] / out["perimeter_um"] ** 2, 0, 1)
    out["til_like"] = classify_til(out, s)
    return out[NUCLEUS_COLUMNS]


def classify_til(nuclei: pd.DataFrame, settings: HistologySettings | None = None) -> np.ndarray:
    """Small, round, dark nuclei (TIL-like) by the documented area / circularity / H thresholds."""
    s = settings or HistologySettings()
    lo, hi = s.til_area_um2
    return ((nuclei["area_um2"] >= lo) & (nuclei["area_um2"] <= hi)
            & (nuclei["circularity"] >= s.til_min_circularity) & (nuclei["mean_h"] >= s.til_min_h)).to_numpy(dtype=bool)


def glcm_texture(h: np.ndarray, levels: int = 32) -> dict[str, float]:
    """GLCM contrast/homogeneity/energy/correlation of the H channel (skimage.feature), averaged
    over 4 angles, at distances 1 and 3 pixels."""
    from skimage.feature import graycomatrix, graycoprops

    hi = float(np.percentile(h, 99.5)) or 1.0
    q = np.clip(np.floor(np.clip(h, 0, None) / hi * levels), 0, levels - 1).astype(np.uint8)
    g = graycomatrix(q, distances=[1, 3], angles=[0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=levels,
                     symmetric=True, normed=True)
    out = {}
    for prop in ("contrast", "homogeneity", "energy", "correlation"):
        v = graycoprops(g, prop)
        out[f"glcm_h_{prop}_d1"] = float(v[0].mean())
        out[f"glcm_h_{prop}_d3"] = float(v[1].mean())
    return out


def tile_features(rgb: np.ndarray, microns_per_pixel: float, settings: HistologySettings | None = None,
                  *, return_labels: bool = False):
    """Features of one tile: QC, stain densities, nuclei counts/density/morphology, TIL estimate,
    texture. With ``return_labels`` also returns (labels, nuclei table) for overlays."""
    s = settings or HistologySettings()
    rgb = np.asarray(rgb)[..., :3]
    qc = tile_qc(rgb, s)
    work = macenko_normalise(rgb, s) if s.normalise else rgb
    h, e = haematoxylin_eosin(work)
    labels = segment_nuclei(h, microns_per_pixel, s)
    nuc = nuclei_table(labels, h, microns_per_pixel, s)
    tissue = ~np.all(rgb >= s.background_level, axis=-1)
    tissue_mm2 = float(tissue.sum()) * (microns_per_pixel / 1000.0) ** 2
    n, n_til = len(nuc), int(nuc["til_like"].sum()) if len(nuc) else 0
    f = {**qc, "tissue_area_mm2": tissue_mm2, "mean_h": float(h[tissue].mean()) if tissue.any() else np.nan,
         "mean_e": float(e[tissue].mean()) if tissue.any() else np.nan,
         "n_nuclei": n, "n_til": n_til,
         "nuclei_density_per_mm2": n / tissue_mm2 if tissue_mm2 > 0 else np.nan,
         "til_density_per_mm2": n_til / tissue_mm2 if tissue_mm2 > 0 else np.nan,
         "til_pct": 100.0 * n_til / n if n else np.nan,
         "nucleus_area_um2_mean": float(nuc["area_um2"].mean()) if n else np.nan,
         "nucleus_area_um2_sd": float(nuc["area_um2"].std()) if n > 1 else np.nan,
         "nucleus_circularity_mean": float(nuc["circularity"].mean()) if n else np.nan,
         "nucleus_eccentricity_mean": float(nuc["eccentricity"].mean()) if n else np.nan,
         "nucleus_h_mean": float(nuc["mean_h"].mean()) if n else np.nan,
         **glcm_texture(h, s.glcm_levels)}
    if return_labels:
        return f, labels, nuc
    return f


#: Columns summed (counts, areas) rather than averaged over a sample's tiles.
_SUMMED = ("n_nuclei", "n_til", "tissue_area_mm2")


def histology_features(samples: pd.DataFrame, settings: HistologySettings | None = None) -> pd.DataFrame:
    """One row per H&E sample: :data:`SAMPLE_KEYS`, ``microns_per_pixel``, ``mpp_source``,
    ``n_tiles``, ``n_tiles_qc_pass``, then tile features over tiles passing QC (counts and tissue
    area summed; densities recomputed from the sums; the rest averaged). ``attrs["parameters"]``
    holds the settings (a dict). The per-tile table is :func:`histology_tiles` (until December
    2026 in ``attrs["tiles"]``; a DataFrame in ``attrs`` breaks pandas' concat)."""
    return histology_tables(samples, settings)[0]


def histology_tiles(samples: pd.DataFrame, settings: HistologySettings | None = None) -> pd.DataFrame:
    """One row per tile of each H&E sample: ``sample_id``, ``tile``, the tile's features and
    ``qc_pass`` — what :func:`histology_features` aggregates."""
    return histology_tables(samples, settings)[1]


def histology_tables(samples: pd.DataFrame, settings: HistologySettings | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`histology_features`, :func:`histology_tiles`) from one pass over the images."""
    from latc.omics.imaging._io import load_he_tiles

    s = settings or HistologySettings()
    rows, tiles_all = [], []
    for rec in samples.to_dict("records"):  # per image file (I/O), not per table row of a cohort
        sid = str(rec["sample_id"])
        tiles, mpp = load_he_tiles(sid, rec["path"])
        src = "file" if mpp else "assumed"
        mpp = mpp or s.microns_per_pixel
        try:
            t = pd.DataFrame([tile_features(tile, mpp, s) for tile in tiles])
        except Exception as exc:  # noqa: BLE001
            raise OmicsInputError(f"he_slide sample {sid}: feature extraction failed: {type(exc).__name__}: {exc}") from None
        t.insert(0, "tile", np.arange(len(t)))
        t.insert(0, "sample_id", sid)
        tiles_all.append(t)
        ok = t[t["qc_pass"]]
        agg = {"microns_per_pixel": mpp, "mpp_source": src, "n_tiles": len(t), "n_tiles_qc_pass": len(ok)}
        if len(ok):
            mean = ok.drop(columns=["sample_id", "tile", "qc_pass", *_SUMMED]).mean()
            agg.update(mean.to_dict())
            agg.update({c: float(ok[c].sum()) for c in _SUMMED})
            area = agg["tissue_area_mm2"]
            agg["nuclei_density_per_mm2"] = agg["n_nuclei"] / area if area > 0 else np.nan
            agg["til_density_per_mm2"] = agg["n_til"] / area if area > 0 else np.nan
            agg["til_pct"] = 100.0 * agg["n_til"] / agg["n_nuclei"] if agg["n_nuclei"] else np.nan
        rows.append({**{k: rec.get(k) for k in SAMPLE_KEYS}, **agg})
    out = pd.DataFrame(rows)
    out.attrs["parameters"] = s.to_dict()
    return out, pd.concat(tiles_all, ignore_index=True) if tiles_all else pd.DataFrame()
