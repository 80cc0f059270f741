"""Time the spatial pipeline: per-sample features on 20 slides × 2,500 spots, and squidpy
neighbourhood enrichment alone at growing slide sizes.

    .venv/bin/python benchmarks/bench_omics_spatial.py                      # 20 × 2,500 spots
    .venv/bin/python benchmarks/bench_omics_spatial.py --samples 20 --side 50 --nhood-sides 50 100 150

Slides are simulated in memory (``latc.omics.spatial._synth``, hex grid ``side × side``; 50 × 50
= 2,500 spots ≈ a Visium capture area's 4,992 spots / 2, 147 genes), deconvolved against a
simulated single-cell reference (Poisson), then analysed as ``latc omics spatial run`` does
(spot classes, squidpy ``nhood_enrichment`` with ``--n-perms`` permutations and ``co_occurrence``,
infiltration, TLS). Reports wall time per step (the first slide includes numba JIT compilation of
squidpy's kernels, reported separately), CPU time of the features step, peak RSS of the process
(``resource.getrusage``) and the 1-minute load average (a busy shared machine inflates wall times).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np


def _rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 1024**2


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--side", type=int, default=50)
    ap.add_argument("--n-perms", type=int, default=1000)
    ap.add_argument("--nhood-sides", type=int, nargs="*", default=[50, 100])
    args = ap.parse_args(argv)

    from latc.omics.spatial import neighbourhood_enrichment, reference_profiles, simulate_reference, spatial_features, spot_classes
    from latc.omics.spatial._deconvolution import deconvolve
    from latc.omics.spatial._synth import simulate_slide

    out: dict = {"samples": args.samples, "spots_per_sample": args.side**2, "n_perms": args.n_perms}
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    ref = reference_profiles(simulate_reference(rng))
    slides = {}
    for i in range(args.samples):
        pat = ("infiltrated", "excluded", "desert")[i % 3]
        obs = {"sample_id": f"S{i:03d}", "patient_id": f"C01-{i:04d}", "center_id": "C01", "timepoint": "surgery", "tissue": "tumour"}
        slides[f"S{i:03d}"] = simulate_slide(np.random.default_rng(i), pattern=pat, n_tls=3, n_side=args.side, obs=obs).adata
    out["simulate_seconds"] = round(time.perf_counter() - t, 2)

    # warm-up: numba JIT of squidpy kernels on a small slide (reported, then excluded)
    small = simulate_slide(np.random.default_rng(99), pattern="infiltrated", n_tls=2, n_side=30).adata  # 4 classes
    t = time.perf_counter()
    spatial_features({"warm": small}, reference=ref, n_perms=50, keep=False)
    out["jit_warmup_seconds"] = round(time.perf_counter() - t, 2)

    t, c = time.perf_counter(), time.process_time()
    res = spatial_features(slides, reference=ref, n_perms=args.n_perms, keep=False)
    dt = time.perf_counter() - t
    out["features_seconds"] = round(dt, 2)
    out["features_cpu_seconds"] = round(time.process_time() - c, 2)
    out["features_seconds_per_sample"] = round(dt / args.samples, 3)
    out["tls_detected_total"] = int(res.features["tls_count"].sum())

    a = next(iter(slides.values()))
    t = time.perf_counter()
    for _ in range(3):
        deconvolve(a, ref)
    out["deconvolve_seconds_per_sample"] = round((time.perf_counter() - t) / 3, 3)

    nh = []
    for side in args.nhood_sides:
        s = simulate_slide(np.random.default_rng(side), pattern="infiltrated", n_tls=3, n_side=side)
        props = s.proportions  # planted fractions: times squidpy alone
        classes = spot_classes(props)
        t = time.perf_counter()
        neighbourhood_enrichment(s.adata, classes, n_perms=args.n_perms, seed=0)
        nh.append({"spots": side * side, "nhood_seconds": round(time.perf_counter() - t, 3)})
    out["nhood_enrichment"] = nh
    out["peak_rss_mb"] = round(_rss_mb(), 1)
    out["load_average_1min"] = round(os.getloadavg()[0], 2)  # other processes on the machine inflate wall times
    out["cpus"] = os.cpu_count()
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
