"""Synthetic ultrasound images (with lesion masks) and H&E tiles for ``latc synth --omics``.

Registered in :mod:`latc.synth.omics_registry` as ``ultrasound`` and ``he_slide``. Only a seeded
subset of patients gets files (``n_patients × scale``; all of a chosen patient's samples of the
assay), so other manifest rows keep a ``file_ref`` whose file is absent (``truth.json`` lists
the generated samples; ``latc omics imaging run`` skips absent files unless ``--strict``).

**Ultrasound** (``<sample_id>.png`` 8-bit grey, 256 × 256 at 0.2 mm/pixel recorded in the PNG
``pHYs``; lesion mask ``<sample_id>_mask.png``): fully developed speckle (magnitude of a
low-pass-filtered complex Gaussian field → Rayleigh amplitude) times a tissue echogenicity map,
log-compressed over 40 dB. The lesion is hypoechoic (echogenicity 0.55 of the parenchyma) with an
irregular margin r(θ) = R·(1 + Σₖ aₖ cos(kθ + φₖ)), k = 3…7, and 0–4 bright calcification-like
foci. Planted truths:

* lesion size — equivalent radius R₀ ~ U(8, 14) mm at baseline; on treatment
  R = R₀·(1 + 0.8·depth_pct/100) (``depth_pct``: the patient's best % change of the RECIST sum),
  so responders' lesions shrink;
* texture heterogeneity — echogenicity inside the lesion is modulated by a smooth Gaussian field
  of amplitude h = 0.10 + 0.40·expit(−response_latent) (non-responders more heterogeneous); on
  treatment h is halved in objective responders.

**H&E** (``<sample_id>.tif``: multi-page RGB TIFF, ``N_TILES`` tiles of 512 × 512 at 0.5 µm/pixel
recorded as TIFF resolution): eosin background, pale large overlapping tumour nuclei (ellipses,
semi-axis 5–7 µm, H 0.055) and small round dark lymphocyte nuclei (radius 3.0–3.6 µm, H 0.13),
rendered with skimage ``hed2rgb`` (Ruifrok vectors). Planted: lymphocyte density per mm²
(tumour tissue) = 150·exp(0.35·L) at baseline and 200·exp(0.8·L) at surgery (L =
``response_latent``; clipped to 20–2,500), so TIL density at surgery follows the response;
lymph-node samples are lymphocyte-rich (2,500/mm²). Exact per-tile counts are in the truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

US_SIZE = 256
US_SPACING_MM = 0.2
HE_SIZE = 512
HE_MPP = 0.5
N_TILES = 3
US_PATIENTS = 20
HE_PATIENTS = 12
TUMOUR_NUCLEI_PER_MM2 = 1500.0


def _stream(seed: int, name: str) -> np.random.Generator:
    from latc.synth._util import stream

    return stream(seed, name)


def _expit(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _smooth_field(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma)
    return f / (f.std() or 1.0)


# ---------------------------------------------------------------------------------------------
def lesion_mask(rng: np.random.Generator, radius_px: float, size: int = US_SIZE, irregularity: float = 0.08) -> np.ndarray:
    """Irregular lesion r(θ) = R·(1 + Σ aₖ cos(kθ + φₖ)) centred in the image; area ≈ πR²."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    c = size / 2 + rng.uniform(-size * 0.05, size * 0.05, 2)
    theta = np.arctan2(yy - c[0], xx - c[1])
    r = np.hypot(yy - c[0], xx - c[1])
    k = np.arange(3, 8)
    a = irregularity * rng.uniform(0.3, 1.0, len(k)) / np.sqrt(len(k))
    ph = rng.uniform(0, 2 * np.pi, len(k))
    edge = radius_px * (1 + (a[:, None, None] * np.cos(k[:, None, None] * theta + ph[:, None, None])).sum(0))
    return r <= edge


def render_ultrasound(rng: np.random.Generator, radius_mm: float, heterogeneity: float, n_calcifications: int,
                      size: int = US_SIZE, spacing_mm: float = US_SPACING_MM) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image, bool lesion mask) of a speckled thyroid with a hypoechoic lesion."""
    from scipy.ndimage import gaussian_filter

    mask = lesion_mask(rng, radius_mm / spacing_mm, size)
    echo = np.ones((size, size)) * (1 + 0.1 * _smooth_field(rng, (size, size), 12))
    het = np.clip(1 + heterogeneity * _smooth_field(rng, (size, size), 4), 0.15, None)
    echo = np.where(mask, 0.55 * het, echo)
    if n_calcifications:
        ys, xs = np.nonzero(mask)
        pick = rng.choice(len(ys), size=n_calcifications, replace=False)
        spots = np.zeros((size, size))
        spots[ys[pick], xs[pick]] = 1.0
        echo += 6.0 * gaussian_filter(spots, 1.2) / gaussian_filter(np.pad([[1.0]], 3), 1.2).max()
    z = gaussian_filter(rng.standard_normal((size, size)), 0.8) + 1j * gaussian_filter(rng.standard_normal((size, size)), 0.8)
    amp = np.abs(z) / np.sqrt(np.mean(np.abs(z) ** 2)) * echo
    db = 20 * np.log10(np.maximum(amp, 1e-6))
    img = np.clip((db + 30.0) / 40.0 * 255.0, 0, 255)
    return img.astype(np.uint8), mask


def _subset_patients(rows: pd.DataFrame, rng: np.random.Generator, n: int) -> pd.DataFrame:
    pts = np.sort(rows["patient_id"].astype(str).unique())
    chosen = rng.choice(pts, size=min(n, len(pts)), replace=False) if len(pts) else pts
    return rows[rows["patient_id"].astype(str).isin(set(chosen))].sort_values("sample_id")


def write_ultrasound(manifest: pd.DataFrame, latent: pd.DataFrame, tables: dict, study_dir: Path, *,
                     seed: int, scale: float = 1.0) -> dict:
    """Write ``<sample_id>.png`` + ``<sample_id>_mask.png`` for a seeded subset of patients."""
    from PIL import Image

    rng = _stream(seed, "omics_ultrasound")
    rows = _subset_patients(manifest, rng, max(1, int(round(US_PATIENTS * scale))))
    lat = latent.set_index(latent["patient_id"].astype(str))
    per_patient = {}
    out = []
    dpi = 25.4 / US_SPACING_MM
    for rec in rows.to_dict("records"):  # one image file per sample
        pid = str(rec["patient_id"])
        L = float(lat.at[pid, "response_latent"]) if pid in lat.index else 0.0
        depth = lat.at[pid, "depth_pct"] if pid in lat.index else np.nan
        depth = 0.0 if pd.isna(depth) else float(depth)
        responder = bool(lat.at[pid, "objective_response_latent"]) if pid in lat.index else False
        if pid not in per_patient:
            per_patient[pid] = (float(rng.uniform(8, 14)), 0.10 + 0.40 * float(_expit(-L)))
        r0, h0 = per_patient[pid]
        on_treatment = rec["timepoint"] != "baseline"
        radius = r0 * (1 + 0.8 * depth / 100) if on_treatment else r0
        het = h0 * (0.5 if on_treatment and responder else 1.0)
        n_calc = int(rng.integers(0, 5))
        img, mask = render_ultrasound(rng, radius, het, n_calc)
        path = Path(study_dir) / str(rec["file_ref"])
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path, dpi=(dpi, dpi))
        Image.fromarray((mask * 255).astype(np.uint8)).save(path.with_name(path.stem + "_mask.png"), dpi=(dpi, dpi))
        out.append({"sample_id": rec["sample_id"], "patient_id": pid, "timepoint": rec["timepoint"],
                    "radius_mm": round(radius, 4), "area_mm2": round(float(mask.sum()) * US_SPACING_MM ** 2, 4),
                    "heterogeneity": round(het, 4), "n_calcifications": n_calc})
    return {
        "n_files": len(out), "pixel_spacing_mm": US_SPACING_MM, "image_size": US_SIZE,
        "planted": {
            "lesion_radius": "R0 ~ U(8,14) mm; on treatment R0*(1 + 0.8*depth_pct/100)",
            "heterogeneity": "h = 0.10 + 0.40*expit(-response_latent); halved on treatment in objective responders",
            "echogenicity": "lesion 0.55 x parenchyma; 0-4 calcification foci",
        },
        "samples": out,
    }


# ---------------------------------------------------------------------------------------------
def _place(rng: np.random.Generator, n: int, radii: np.ndarray, size_px: int, existing: list, min_overlap: float):
    """Rejection-sample centres so that nuclei overlap at most a little (distance ≥ f·(rᵢ+rⱼ))."""
    pts = list(existing)
    out = []
    for r in radii[:n]:
        for _ in range(60):
            c = rng.uniform(r, size_px - r, 2)
            if all(np.hypot(*(c - p[:2])) >= min_overlap * (r + p[2]) for p in pts):
                pts.append((c[0], c[1], r))
                out.append((c[0], c[1], r))
                break
    return out


def render_he_tile(rng: np.random.Generator, n_tumour: int, n_lymphocytes: int, size: int = HE_SIZE,
                   mpp: float = HE_MPP) -> dict:
    """An H&E-like RGB tile rendered from planted H/E densities; returns ``rgb`` (uint8), ``h``,
    ``e`` (planted density maps, skimage units) and the placed counts."""
    from skimage.color import hed2rgb

    h = np.full((size, size), 0.004)
    e = np.clip(0.035 + 0.008 * _smooth_field(rng, (size, size), 20), 0.01, None)
    r_l = rng.uniform(3.0, 3.6, n_lymphocytes) / mpp
    lym = _place(rng, n_lymphocytes, r_l, size, [], 1.05)
    a_t = rng.uniform(5.0, 7.0, n_tumour) / mpp
    tum = _place(rng, n_tumour, a_t, size, lym, 0.85)
    yy, xx = np.mgrid[0:size, 0:size]
    for (cy, cx, a), kind in [(p, "t") for p in tum] + [(p, "l") for p in lym]:
        if kind == "t":
            b, ang, dens = a * rng.uniform(0.75, 0.9), rng.uniform(0, np.pi), 0.055
        else:
            b, ang, dens = a, 0.0, 0.13
        y0, y1 = int(max(cy - a - 2, 0)), int(min(cy + a + 3, size))
        x0, x1 = int(max(cx - a - 2, 0)), int(min(cx + a + 3, size))
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        u = (dx * np.cos(ang) + dy * np.sin(ang)) / a
        v = (-dx * np.sin(ang) + dy * np.cos(ang)) / b
        inside = (u ** 2 + v ** 2) <= 1.0
        val = dens * (1 + 0.12 * rng.standard_normal(inside.shape))
        h[y0:y1, x0:x1] = np.where(inside, np.maximum(h[y0:y1, x0:x1], val), h[y0:y1, x0:x1])
        e[y0:y1, x0:x1] = np.where(inside, e[y0:y1, x0:x1] * 0.3, e[y0:y1, x0:x1])
    h = np.clip(h, 0, None)
    rgb = hed2rgb(np.stack([h, e, np.zeros_like(h)], axis=-1))
    rgb = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    return {"rgb": rgb, "h": h, "e": e, "n_tumour": len(tum), "n_lymphocytes": len(lym)}


def til_density_planted(response_latent: float, timepoint: str, tissue: str) -> float:
    """Planted lymphocyte density (per mm²) of a sample (module docstring)."""
    if tissue == "lymph_node":
        return 2500.0
    lam = 200.0 * np.exp(0.8 * response_latent) if timepoint == "surgery" else 150.0 * np.exp(0.35 * response_latent)
    return float(np.clip(lam, 20.0, 2500.0))


def write_he_slide(manifest: pd.DataFrame, latent: pd.DataFrame, tables: dict, study_dir: Path, *,
                   seed: int, scale: float = 1.0) -> dict:
    """Write ``<sample_id>.tif`` (``N_TILES`` RGB tiles) for a seeded subset of patients."""
    import tifffile

    rng = _stream(seed, "omics_he_slide")
    rows = _subset_patients(manifest, rng, max(1, int(round(HE_PATIENTS * scale))))
    lat = latent.set_index(latent["patient_id"].astype(str))
    tile_mm2 = (HE_SIZE * HE_MPP / 1000.0) ** 2
    px_per_cm = 1e4 / HE_MPP
    out = []
    for rec in rows.to_dict("records"):
        pid = str(rec["patient_id"])
        L = float(lat.at[pid, "response_latent"]) if pid in lat.index else 0.0
        dens = til_density_planted(L, str(rec["timepoint"]), str(rec["tissue"]))
        tumour_dens = TUMOUR_NUCLEI_PER_MM2 * (0.3 if rec["tissue"] == "lymph_node" else 1.0)
        tiles, counts = [], []
        for _ in range(N_TILES):
            t = render_he_tile(rng, int(rng.poisson(tumour_dens * tile_mm2)), int(rng.poisson(dens * tile_mm2)))
            tiles.append(t["rgb"])
            counts.append({"n_tumour": t["n_tumour"], "n_lymphocytes": t["n_lymphocytes"]})
        path = Path(study_dir) / str(rec["file_ref"])
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, np.stack(tiles), photometric="rgb", compression="zlib",
                         resolution=(px_per_cm, px_per_cm), resolutionunit="CENTIMETER")
        n_l = sum(c["n_lymphocytes"] for c in counts)
        out.append({"sample_id": rec["sample_id"], "patient_id": pid, "timepoint": rec["timepoint"],
                    "tissue": rec["tissue"], "til_density_planted_per_mm2": round(dens, 3),
                    "til_density_placed_per_mm2": round(n_l / (N_TILES * tile_mm2), 3), "tiles": counts})
    return {
        "n_files": len(out), "microns_per_pixel": HE_MPP, "tile_size": HE_SIZE, "tiles_per_sample": N_TILES,
        "planted": {
            "til_density": "tumour: 150*exp(0.35*L) baseline, 200*exp(0.8*L) surgery per mm2 (L=response_latent, "
                           "clipped 20-2500); lymph node 2500",
            "nuclei": "tumour 1500/mm2 (lymph node 450/mm2), semi-axis 5-7 um, H 0.055; lymphocytes r 3.0-3.6 um, H 0.13",
        },
        "samples": out,
    }
