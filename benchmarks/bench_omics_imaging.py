"""Benchmark: ultrasonomics on N synthetic 2D ultrasound images (issue 7 asks for 500), and H&E
tile features.

    .venv/bin/python benchmarks/bench_omics_imaging.py [--n 500] [--tiles 60] [--size 256]

Writes N speckle images with irregular hypoechoic lesions (``latc.omics.imaging._synth``,
256 × 256 at 0.2 mm/pixel, lesion radius 8–14 mm ≈ 5,000–15,000 ROI pixels) and their masks to a
temporary folder, then times :func:`latc.omics.imaging.extract_radiomics` with the default IBSI
settings (2D morphology + MIRP intensity, histogram, GLCM, GLRLM, GLSZM, GLDZM, NGTDM, NGLDM;
fixed bin number 32) — reading included, one process. Then times ``tile_features`` on ``--tiles``
512 × 512 H&E tiles. Reports wall and process CPU time (the CPU figure is the one to trust on a
shared machine), per-image time and peak RSS (``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    from latc.omics.imaging import extract_radiomics, tile_features
    from latc.omics.imaging._synth import US_SPACING_MM, render_he_tile, render_ultrasound

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--tiles", type=int, default=60)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rows = []
        dpi = 25.4 / US_SPACING_MM
        for i in range(args.n):
            img, mask = render_ultrasound(rng, rng.uniform(8, 14) * args.size / 256, rng.uniform(0.1, 0.5),
                                          int(rng.integers(0, 5)), size=args.size)
            sid = f"C01-{i:04d}-BL_TU_US"
            p = Path(tmp) / f"{sid}.png"
            Image.fromarray(img).save(p, dpi=(dpi, dpi))
            Image.fromarray((mask * 255).astype(np.uint8)).save(Path(tmp) / f"{sid}_mask.png")
            rows.append({"sample_id": sid, "patient_id": f"C01-{i:04d}", "center_id": "C01",
                         "timepoint": "baseline", "tissue": "tumour", "path": p})
        t_write = time.perf_counter() - t0
        rss0 = peak_rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        feats = extract_radiomics(pd.DataFrame(rows))
        t_rad, c_rad = time.perf_counter() - t0, time.process_time() - c0
        rss1 = peak_rss_mb()
    print(f"ultrasound: {args.n} images {args.size}x{args.size} (written in {t_write:.1f} s); "
          f"radiomics {t_rad:.1f} s wall, {c_rad:.1f} s CPU ({1000 * c_rad / args.n:.0f} ms CPU/image), "
          f"{feats.shape[1]} columns, median ROI {int(feats['n_pixels_roi'].median())} px; "
          f"peak RSS {rss1:.0f} MB (before extraction {rss0:.0f} MB)")
    tiles = [render_he_tile(rng, int(rng.integers(40, 140)), int(rng.integers(5, 250)))["rgb"] for _ in range(args.tiles)]
    t0, c0 = time.perf_counter(), time.process_time()
    for t in tiles:
        tile_features(t, 0.5)
    t_he, c_he = time.perf_counter() - t0, time.process_time() - c0
    print(f"H&E: {args.tiles} tiles 512x512: {t_he:.1f} s wall, {c_he:.1f} s CPU "
          f"({1000 * c_he / max(args.tiles, 1):.0f} ms CPU/tile); "
          f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
