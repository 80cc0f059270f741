"""Benchmark: bulk RNA-seq differential expression (pydeseq2) on 200 samples × 20,000 genes.

    .venv/bin/python benchmarks/bench_omics_bulk.py [--samples 200] [--genes 20000] [--cpus 1] [--shrink]

Simulates negative-binomial counts with ``latc.omics.bulk.simulate_bulk`` (100 responder genes
planted), runs ``de_response`` (``~ response``, Wald test, independent filtering, BH) and prints
wall time, CPU time and peak RSS (``resource.getrusage``; this process and its joblib workers),
plus precision / recall of the planted genes at padj < 0.05. ``--shrink`` adds apeGLM shrinkage
(timed separately: it costs more than the fit).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--shrink", action="store_true")
    args = ap.parse_args()

    import anndata as ad

    from latc.omics.bulk import de_response, simulate_bulk

    n = args.samples
    rng = np.random.default_rng(7)
    samples = pd.DataFrame({"sample_id": [f"C01-{i:04d}-BL_TU_BK" for i in range(n)],
                            "patient_id": [f"C01-{i:04d}" for i in range(n)],
                            "responder": rng.permutation(np.arange(n) % 2 == 0), "sex": "female"})
    t0 = time.perf_counter()
    counts, truth = simulate_bulk(samples, n_genes=args.genes, seed=8, n_response_genes=100, n_treatment_genes=0,
                                  plant_qc=False, thyroid_signals=False, immune_signals=False)
    t_sim = time.perf_counter() - t0
    obs = samples.set_index("sample_id", drop=False).astype(str)
    adata = ad.AnnData(X=counts.to_numpy(), obs=obs, var=pd.DataFrame(index=counts.columns))
    adata.layers["counts"] = adata.X

    cpu0, t1 = time.process_time(), time.perf_counter()
    res = de_response(adata, "responder", shrink=False, n_cpus=args.cpus)
    t_de, cpu_de = time.perf_counter() - t1, time.process_time() - cpu0
    out = {"samples": n, "genes": int(counts.shape[1]), "genes_tested": int(len(res)), "cpus": args.cpus,
           "simulate_seconds": round(t_sim, 1), "de_wall_seconds": round(t_de, 1), "de_cpu_seconds": round(cpu_de, 1)}
    if args.shrink:
        t2 = time.perf_counter()
        de_response(adata, "responder", shrink=True, n_cpus=args.cpus)
        out["de_with_shrink_wall_seconds"] = round(time.perf_counter() - t2, 1)
    sig = set(res.loc[res["padj"] < 0.05, "gene"])
    planted = set(truth["response_genes"])
    out.update(n_significant=len(sig), precision=round(len(sig & planted) / max(1, len(sig)), 3),
               recall=round(len(sig & planted) / len(planted), 3), peak_rss_mb=round(_peak_mb(), 0))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
