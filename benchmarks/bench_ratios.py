"""latc beside the best alternative a user has, stage by stage, each pair measured in one run (issue 17 item 4).

    .venv/bin/python benchmarks/bench_ratios.py [--patients 10000] [--cells 20000] [--samples 48] [--genes 20000]
                                                [--repeats 3] [--out benchmarks/results/ratios.json]

| stage | latc | the alternative |
|---|---|---|
| statistics | ``latc.stats``: adjusted and IPTW Cox, KM, weighted KM, PS matching | R ``survival`` + ``MatchIt`` on the same CSV (``bench_vs_r.compare``; best of ``--repeats``) |
| single-cell embedding | ``latc.omics.sc.embed`` (HVG, PCA, Harmony on center, kNN, Leiden, UMAP) | the same steps with scanpy's own calls, as a user writes them; Harmony by ``harmonypy.run_harmony`` (scanpy 1.12's ``harmony_integrate`` fails with harmonypy 2.x) |
| bulk DE | ``latc.omics.bulk.de_response`` (pydeseq2, no shrinkage) | R ``DESeq2`` (``DESeq`` + ``results``) on the same counts and the same low-count filter |

Both sides of a row run in this one process run, one after the other, on the same data, after a
warm-up of each (numba compilation is not timed). Each row gives both wall times, the ratio
latc / alternative (below 1: latc is faster) and how far the answers agree. The JSON records the
sizes, versions and the load average at the start and end.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # like for like with R's reference BLAS (see bench_vs_r.py)

import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

R_DESEQ2 = r"""
suppressPackageStartupMessages({library(DESeq2); library(jsonlite)})
args <- commandArgs(TRUE)
counts <- as.matrix(read.csv(args[1], row.names = 1, check.names = FALSE))
cd <- read.csv(args[2], row.names = 1)
cd$response <- factor(cd$response, levels = c("non_responder", "responder"))
t <- system.time({
  dds <- DESeq(DESeqDataSetFromMatrix(counts[, rownames(cd)], cd, ~ response), quiet = TRUE)
  res <- results(dds, contrast = c("response", "responder", "non_responder"), alpha = 0.05)
})[["elapsed"]]
write.csv(data.frame(gene = rownames(res), log2FoldChange = res$log2FoldChange, padj = res$padj), args[3], row.names = FALSE)
cat(toJSON(list(seconds = t, deseq2_version = as.character(packageVersion("DESeq2"))), auto_unbox = TRUE))
"""


def _timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t0, out


def statistics(patients: int, repeats: int) -> dict:
    from bench_vs_r import compare

    c = compare(patients, repeats)
    py, rr = c["python"], c["r"]
    worst = max(v for v in c["diffs"].values() if not isinstance(v, str))
    return {"stage": "statistics", "size": f"{patients:,} patients ({c['n']:,} compared)",
            "latc_s": sum(py.values()), "alternative": f"R survival {rr['survival_version']} + MatchIt {rr['matchit_version']}",
            "alternative_s": sum(rr[k] for k in py), "agreement": f"estimates agree to {worst:.1e}; matching {c['diffs']['matching']}",
            "detail": {"python": py, "r": {k: rr[k] for k in py}}}


def _sc_data(n_cells: int, seed: int = 1):
    from latc.omics.sc import normalise, qc_filter, qc_metrics, simulate_counts

    rows = []
    for i in range(24):
        pid = f"C0{1 + i % 4}-{i + 1:04d}"
        for tp, code in (("baseline", "BL"), ("surgery", "SX")):
            rows.append({"sample_id": f"{pid}-{code}_TU_SC", "patient_id": pid, "center_id": pid[:3], "timepoint": tp,
                         "tissue": "tumour", "responder": i % 2 == 0, "neoadjuvant": True})
    a, _ = simulate_counts(pd.DataFrame(rows), seed=seed, cells_per_sample=max(20, n_cells // len(rows)), keep_truth=False)
    qc_metrics(a, doublets=False)
    a = qc_filter(a)
    normalise(a)
    return a


def _plain_scanpy(b) -> None:
    import scanpy as sc

    sc.pp.highly_variable_genes(b, n_top_genes=2000, flavor="seurat", batch_key="center_id")
    sc.pp.pca(b, n_comps=30, mask_var="highly_variable", random_state=0)
    # scanpy's own sc.external.pp.harmony_integrate transposes harmonypy 2.x's result and fails (shape
    # (30,) for obsm), so a user calls harmonypy directly, as its README shows
    import harmonypy

    z = np.asarray(harmonypy.run_harmony(b.obsm["X_pca"], b.obs, "center_id", random_state=0).Z_corr)
    b.obsm["X_pca_harmony"] = z if z.shape[0] == b.n_obs else z.T
    sc.pp.neighbors(b, n_neighbors=15, use_rep="X_pca_harmony", random_state=0)
    sc.tl.leiden(b, resolution=1.0, flavor="igraph", n_iterations=2, directed=False, random_state=0)
    sc.tl.umap(b, random_state=0)


def embedding(n_cells: int) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from latc.omics.sc import embed

    warm = _sc_data(10_000, seed=2)  # above scanpy's 8,192-cell switch to pynndescent: its numba compilation is not timed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        embed(warm.copy(), batch_key="center_id", correction="harmony")
        _plain_scanpy(warm.copy())
        a = _sc_data(n_cells)
        a1, a2 = a.copy(), a.copy()
        t_latc, _ = _timed(embed, a1, batch_key="center_id", correction="harmony")
        t_sc, _ = _timed(_plain_scanpy, a2)
    ari = adjusted_rand_score(a1.obs["leiden"], a2.obs["leiden"])
    return {"stage": "single-cell embedding", "size": f"{a.n_obs:,} cells × {a.n_vars:,} genes, 4 centers",
            "latc_s": t_latc, "alternative": f"plain scanpy {version('scanpy')} (harmonypy {version('harmonypy')})",
            "alternative_s": t_sc,
            "agreement": f"Leiden ARI {ari:.3f} ({a1.obs['leiden'].nunique()} vs {a2.obs['leiden'].nunique()} clusters)"}


def bulk_de(n_samples: int, n_genes: int) -> dict:
    import anndata as ad

    from latc.omics.bulk import de_response, simulate_bulk
    from latc.omics.bulk._de import _counts_frame, filter_low_counts

    rng = np.random.default_rng(7)
    samples = pd.DataFrame({"sample_id": [f"C01-{i:04d}-BL_TU_BK" for i in range(n_samples)],
                            "patient_id": [f"C01-{i:04d}" for i in range(n_samples)],
                            "responder": rng.permutation(np.arange(n_samples) % 2 == 0), "sex": "female"})
    counts, _ = simulate_bulk(samples, n_genes=n_genes, seed=8, n_response_genes=100, n_treatment_genes=0,
                              plant_qc=False, thyroid_signals=False, immune_signals=False)
    obs = samples.set_index("sample_id", drop=False).astype(str)
    adata = ad.AnnData(X=counts.to_numpy(), obs=obs, var=pd.DataFrame(index=counts.columns))
    adata.layers["counts"] = adata.X
    de_response(adata[:12].copy(), "responder", shrink=False)  # warm-up
    t_latc, res = _timed(de_response, adata, "responder", shrink=False)
    kept = filter_low_counts(_counts_frame(adata), min_count=10, min_samples=3)  # the genes latc tested
    with tempfile.TemporaryDirectory() as tmp:
        c, cd, out = Path(tmp) / "counts.csv", Path(tmp) / "coldata.csv", Path(tmp) / "res.csv"
        kept.T.to_csv(c)
        pd.DataFrame({"response": np.where(samples["responder"], "responder", "non_responder")},
                     index=samples["sample_id"]).to_csv(cd)
        t0 = time.perf_counter()
        r = subprocess.run(["Rscript", "-e", R_DESEQ2, str(c), str(cd), str(out)], capture_output=True, text=True)
        t_r_total = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(r.stderr[-2000:])
        rr = json.loads(r.stdout.strip().splitlines()[-1])
        rres = pd.read_csv(out)
    m = res.merge(rres, on="gene")
    ok = m["log2_fold_change"].notna() & m["log2FoldChange"].notna()
    corr = float(np.corrcoef(m.loc[ok, "log2_fold_change"], m.loc[ok, "log2FoldChange"])[0, 1])
    sig_py, sig_r = set(m.loc[m["padj_x"] < 0.05, "gene"]), set(m.loc[m["padj_y"] < 0.05, "gene"])
    return {"stage": "bulk DE", "size": f"{n_samples} samples × {n_genes:,} genes ({len(kept.columns):,} tested)",
            "latc_s": t_latc, "alternative": f"R DESeq2 {rr['deseq2_version']}", "alternative_s": rr["seconds"],
            "agreement": f"log2FC r = {corr:.5f}; padj < 0.05: {len(sig_py)} vs {len(sig_r)} genes, {len(sig_py & sig_r)} shared",
            "detail": {"r_with_start_and_csv_read_s": t_r_total}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cells", type=int, default=20_000)
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ratios.json")
    args = ap.parse_args()
    load0 = os.getloadavg()
    rows = []
    for name, fn in (("statistics", lambda: statistics(args.patients, args.repeats)),
                     ("embedding", lambda: embedding(args.cells)),
                     ("bulk", lambda: bulk_de(args.samples, args.genes))):
        print(f"{name} …", file=sys.stderr, flush=True)
        rows.append(fn())
    print("| stage | size | latc (s) | alternative | alternative (s) | latc / alternative | agreement |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        r["ratio"] = r["latc_s"] / r["alternative_s"]
        print(f"| {r['stage']} | {r['size']} | {r['latc_s']:.2f} | {r['alternative']} | {r['alternative_s']:.2f} | "
              f"**{r['ratio']:.2f}** | {r['agreement']} |")
    rec = {"date": time.strftime("%Y-%m-%d"), "load_start": load0, "load_end": os.getloadavg(),
           "latc": version("latc"), "python": sys.version.split()[0], "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rec, indent=2, default=float), encoding="utf-8")
    print(f"→ {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
