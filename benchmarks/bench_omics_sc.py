"""Benchmark the single-cell pipeline on synthetic cells: wall time per step and peak RSS.

    .venv/bin/python benchmarks/bench_omics_sc.py --cells 50000 200000          # in memory
    .venv/bin/python benchmarks/bench_omics_sc.py --cells 500000 --mode streamed # per-sample path
    .venv/bin/python benchmarks/bench_omics_sc.py --cells 1580000 --mode streamed --design study \
        --no-scrublet --out benchmarks/results/2026-12-05-sc-1.5M.json              # the study at 1.5 M
    .venv/bin/python benchmarks/bench_omics_sc.py --cells 50000 200000 500000 --mode corrections
    .venv/bin/python benchmarks/bench_omics_sc.py --cells 9600 --mode integration

Each size runs in a fresh process (peak RSS = ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that
process alone). Data: ``latc.omics.sc.simulate_counts`` — 40 patients × (baseline, surgery) tumour
samples, cells split evenly, ~985 genes, ~575 non-zeros per cell.

Modes
-----
``memory``: the whole pipeline on one in-memory AnnData (``latc.omics.sc.run_sc`` steps: QC with
Scrublet, normalise, HVG/PCA/centre correction, exact/approximate kNN, Leiden, UMAP, annotation,
signatures, composition + DA, pseudobulk + one pydeseq2 model, sample features).

``corrections`` (batch correction alone): simulate, add a center batch effect (per-center gene
factors exp(N(0, 0.25)) applied by binomial thinning of the counts, so Harmony has something to
correct), normalise, batch-aware HVG and PCA once, then time each correction on the same data:
``pc_centering`` and ``harmony`` on the 30 PCs, ``combat`` on the dense HVG matrix + PCA (skipped
above 300,000 cells, its documented limit). Harmony's rounds and convergence are recorded.

``integration`` (batch-correction quality, not speed): the four corrections through ``embed`` on
three designs of 4 centers × 8 baseline samples with the same thinning center effect (``--cells``
is the total before QC; default sd 0.25 and 0.5, seeds 11 and 12): ``balanced`` (every center 4
tumour, 2 lymph node, 2 blood), ``unbalanced`` (C01 7 tumour + 1 blood, C02 7 blood + 1 tumour, C03
7 lymph node + 1 tumour, C04 mixed) and ``disjoint`` (C01 only tumour, C02 only blood: types
absent from a center). Metrics against the simulator's true types: iLISI (harmonypy's LISI,
perplexity 30), within-type kNN batch mixing (entropy of the centers among a cell's 15 same-type
neighbours / entropy of the type's center distribution), batch ASW within types (1 − |silhouette|),
15-NN true-type purity, cell-type ASW, Leiden ARI.

``streamed`` (the 1.5 M-cell design, docs/omics/single_cell.md): samples are simulated and written
one at a time to ``.h5ad`` (raw counts on disk); pass 1 reads each sample, runs QC (Scrublet per
sample) and log-normalisation, and keeps only the working set (log-normalised float32 CSR of the
HVG ∪ marker ∪ signature genes — here every gene of the small synthetic panel, so the measured working set is
an upper bound per non-zero), written per library and gathered with ``concat_on_disk``; HVG on a
seeded 100k-cell subsample, PCA fitted on a 200k subsample and every cell projected in chunks, then
kNN (pynndescent), Leiden, annotation and signature scores on the working set; pass 2 streams each sample's raw counts from disk and sums them per
sample × cell type (pseudobulk) — counts are never all in memory.

``streamed --design study`` (issue #16 item 5: the whole study design at 1.5 M cells): 8 centers,
patients with tumour, lymph node and blood libraries at baseline (pre) and surgery (post) — 6
libraries per patient; the patient count is a multiple of 8 (one patient per center per group)
chosen so a library holds ≈ ``--cells-per-library`` (5,200) cells (the simulator draws each
library's size × U(0.7, 1.3), so 3.6k–6.8k: 10x-like). 1.58 M cells → 48 patients, 288 libraries (1.51 M after QC).
Patients are simulated in groups of 8 (one per center; ``simulate_counts`` on the group, so
patients of a group differ in composition) and each group gets the center effect of the
``corrections`` mode (``add_center_effect``, sd 0.25, binomial thinning; the same 8 center factors
in every group since each group holds all 8 centers and the seed is fixed), then each library is
written to its own ``.h5ad``. Pass 1 as above (Scrublet per library unless ``--no-scrublet``);
working set gathered with ``anndata.experimental.concat_on_disk``; batch-aware HVG (center) on a
100k subsample; PCA fitted on 200k, all cells projected; ``pc_centering`` timed for comparison and
**Harmony** (``latc.omics.sc._pipeline.harmony``, batch = center) used downstream; kNN
(pynndescent), Leiden, ``annotate`` (with its ``unassigned`` outcome; accuracy against the
simulator's true types recorded), ``score_signatures``, composition + paired DA, optional UMAP on
a subsample (``--umap-cells``), pass 2 ``latc.omics.sc.pseudobulk`` per library streamed from the
count files, one pydeseq2 model. Per step: wall and CPU seconds, cells, RSS at the start, the
step's own peak (``VmHWM`` reset through ``/proc/self/clear_refs`` before each step), the
process peak so far, the 1-minute load average and the engine used.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

N_PATIENTS = 40


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _samples() -> pd.DataFrame:
    rows = []
    for i in range(N_PATIENTS):
        pid = f"C0{1 + i % 4}-{i + 1:04d}"
        for tp, code in (("baseline", "BL"), ("surgery", "SX")):
            rows.append({"sample_id": f"{pid}-{code}_TU_SC", "patient_id": pid, "center_id": pid[:3], "timepoint": tp,
                         "tissue": "tumour", "responder": i % 2 == 0, "neoadjuvant": True})
    return pd.DataFrame(rows)


class Timer:
    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self.rss: dict[str, float] = {}

    def __call__(self, name, fn, *a, **k):
        t = time.perf_counter()
        out = fn(*a, **k)
        self.steps[name] = round(time.perf_counter() - t, 2)
        self.rss[name] = round(_rss_gib(), 2)
        print(f"  {name}: {self.steps[name]} s (peak RSS so far {self.rss[name]} GiB)", file=sys.stderr, flush=True)
        return out


def run_memory(n_cells: int) -> dict:
    import scanpy as sc

    from latc.omics.sc import (annotate, composition, differential_abundance, embed, normalise, pseudobulk,
                               pseudobulk_de, qc_filter, qc_metrics, sample_features, score_signatures, simulate_counts)

    S = _samples()
    T = Timer()
    a, _ = T("simulate", simulate_counts, S, seed=1, cells_per_sample=n_cells // len(S), keep_truth=False)
    nnz = a.X.nnz / a.n_obs
    T("qc_metrics+scrublet", qc_metrics, a, doublets=True)
    a = T("qc_filter", qc_filter, a)
    T("normalise", normalise, a)
    T("hvg+pca+correction+knn+leiden+umap", embed, a, batch_key="center_id", umap=False)
    T("umap", sc.tl.umap, a, random_state=0)
    T("annotate", annotate, a)
    T("signatures", score_signatures, a)
    comp = T("composition", composition, a)
    T("da_paired", differential_abundance, comp, design="paired")
    pb = T("pseudobulk", pseudobulk, a)
    T("pydeseq2_one_cell_type", pseudobulk_de, pb, "cd8_t_effector", design="paired")
    T("features", sample_features, a)
    return {"mode": "memory", "cells": int(a.n_obs), "cells_simulated": n_cells, "genes": int(a.n_vars),
            "nnz_per_cell": round(nnz, 1), "seconds": T.steps, "total_seconds": round(sum(T.steps.values()), 1),
            "peak_rss_gib": round(_rss_gib(), 2), "rss_after_step_gib": T.rss}


def run_corrections(n_cells: int) -> dict:
    import scanpy as sc
    from scipy import sparse

    from latc.omics.sc import add_center_effect, normalise, simulate_counts
    from latc.omics.sc._pipeline import harmony

    S = _samples()
    T = Timer()
    a, _ = T("simulate", simulate_counts, S, seed=1, cells_per_sample=n_cells // len(S), keep_truth=False)
    T("center effect (binomial thinning)", add_center_effect, a, seed=1)
    T("normalise", normalise, a)
    del a.layers["counts"]
    T("hvg (per center)", sc.pp.highly_variable_genes, a, n_top_genes=2000, flavor="seurat", batch_key="center_id")
    T("pca", sc.pp.pca, a, n_comps=30, mask_var="highly_variable", random_state=0)
    pcs = np.asarray(a.obsm["X_pca"], dtype=np.float64)
    codes = a.obs["center_id"].astype("category").cat.codes.to_numpy()

    def centre():
        m = np.zeros((codes.max() + 1, pcs.shape[1]))
        np.add.at(m, codes, pcs)
        m /= np.bincount(codes)[:, None]
        return pcs - m[codes] + pcs.mean(axis=0)

    T("pc_centering", centre)
    _, hinfo = T("harmony", harmony, pcs, a.obs["center_id"].to_numpy(), seed=0)

    def combat():
        hv = a[:, a.var["highly_variable"].to_numpy()].copy()
        hv.X = hv.X.toarray() if sparse.issparse(hv.X) else np.asarray(hv.X, dtype=float)
        sc.pp.combat(hv, key="center_id")
        sc.pp.pca(hv, n_comps=30, random_state=0)

    if a.n_obs <= 300_000:
        T("combat (dense HVG) + pca", combat)
    return {"mode": "corrections", "cells": int(a.n_obs), "cells_simulated": n_cells, "genes": int(a.n_vars),
            "n_hvg": int(a.var["highly_variable"].sum()), "n_pcs": 30, "harmony": hinfo, "seconds": T.steps,
            "peak_rss_gib": round(_rss_gib(), 2), "rss_after_step_gib": T.rss}


INTEGRATION_DESIGNS = {
    "balanced": {c: ["tumour"] * 4 + ["lymph_node"] * 2 + ["blood"] * 2 for c in ("C01", "C02", "C03", "C04")},
    "unbalanced": {"C01": ["tumour"] * 7 + ["blood"], "C02": ["blood"] * 7 + ["tumour"],
                   "C03": ["lymph_node"] * 7 + ["tumour"], "C04": ["tumour"] * 3 + ["blood"] * 3 + ["lymph_node"] * 2},
    "disjoint": {"C01": ["tumour"] * 8, "C02": ["blood"] * 8, "C03": ["lymph_node"] * 6 + ["tumour"] * 2,
                 "C04": ["tumour"] * 3 + ["blood"] * 3 + ["lymph_node"] * 2},
}


def _integration_metrics(Z: np.ndarray, obs: pd.DataFrame, k: int = 15) -> dict:
    """latc's within-type batch mixing and kNN purity, plus iLISI / cLISI (harmonypy) and ASWs."""
    import harmonypy
    from anndata import AnnData
    from sklearn.metrics import silhouette_samples, silhouette_score

    from latc.omics.sc import integration_metrics

    bt, ct = obs["center_id"].astype(str).to_numpy(), obs["true_cell_type"].astype(str).to_numpy()
    a = AnnData(obs=obs[["center_id", "true_cell_type"]].reset_index(drop=True).set_axis(
        [str(i) for i in range(len(obs))]), obsm={"X_pca_corrected": Z})
    m = integration_metrics(a, "center_id", "true_cell_type", k=k)
    lisi = harmonypy.compute_lisi(Z, {"b": bt, "t": ct}, ["b", "t"])
    basw, w = [], []
    for t in np.unique(ct):
        sel = ct == t
        if len(np.unique(bt[sel])) < 2 or sel.sum() <= k:
            continue
        basw.append(float(np.mean(1 - np.abs(silhouette_samples(Z[sel], bt[sel])))))
        w.append(sel.sum())
    sub = np.random.default_rng(0).choice(len(Z), min(5000, len(Z)), replace=False)
    return {"ilisi": round(float(lisi[:, 0].mean()), 3),
            "mixing_within_type": round(m["batch_mixing_within_type"], 3),
            "batch_asw_within_type": round(float(np.average(basw, weights=w)), 3),
            "knn_type_purity": round(m["knn_label_purity"], 4),
            "clisi": round(float(lisi[:, 1].mean()), 3), "celltype_asw": round(float(silhouette_score(Z[sub], ct[sub])), 3)}


def run_integration(n_cells: int, sds=(0.25, 0.5), seeds=(11, 12)) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from latc.omics.sc import add_center_effect, embed, normalise, simulate_counts

    rows = []
    for sd in sds:
        for seed in seeds:
            for design, centers in INTEGRATION_DESIGNS.items():
                S = pd.DataFrame([{"sample_id": f"{c}-{i:04d}-BL_{t[:2].upper()}_SC", "patient_id": f"{c}-{i:04d}",
                                   "center_id": c, "timepoint": "baseline", "tissue": t, "responder": None,
                                   "neoadjuvant": False}
                                  for c, tissues in centers.items() for i, t in enumerate(tissues)])
                base, _ = simulate_counts(S, seed=seed, cells_per_sample=n_cells // len(S))
                base = base[~(base.obs["true_doublet"] | base.obs["true_damaged"]).to_numpy()].copy()
                add_center_effect(base, sd, seed=seed + 1000)
                normalise(base)
                for correction in ("none", "pc_centering", "combat", "harmony"):
                    a = base.copy()
                    t = time.perf_counter()
                    embed(a, correction=correction, umap=False, neighbors_method="gauss", seed=0)
                    secs = time.perf_counter() - t
                    m = _integration_metrics(np.asarray(a.obsm["X_pca_corrected"], dtype=np.float64), a.obs)
                    m["leiden_ari"] = round(float(adjusted_rand_score(a.obs["true_cell_type"].astype(str),
                                                                      a.obs["leiden"].astype(str))), 3)
                    rows.append({"design": design, "sd": sd, "seed": seed, "correction": correction, "cells": int(a.n_obs),
                                 **m, "embed_seconds": round(secs, 2)})
                    print(f"  {design} sd={sd} seed={seed} {correction}: {m}", file=sys.stderr, flush=True)
    return {"mode": "integration", "cells_simulated": n_cells, "rows": rows}


def run_streamed(n_cells: int, workdir: Path, doublets: bool = True) -> dict:
    import anndata as ad
    import scanpy as sc
    from scipy import sparse

    from latc.omics.sc import (annotate, normalise, qc_filter, qc_metrics,
                               score_signatures, simulate_counts)

    S = _samples()
    T = Timer()
    per = n_cells // len(S)

    def write_all():
        for _, row in S.iterrows():
            a, _ = simulate_counts(row.to_frame().T, seed=1, cells_per_sample=per, keep_truth=False)
            a.write_h5ad(workdir / f"{row.sample_id}.h5ad")
            del a

    T("simulate+write per sample", write_all)
    keep_genes = None
    parts = []

    def pass1():
        nonlocal keep_genes
        for sid in S["sample_id"]:
            a = ad.read_h5ad(workdir / f"{sid}.h5ad")
            qc_metrics(a, doublets=doublets)
            a = qc_filter(a)
            normalise(a)
            del a.layers["counts"]
            if keep_genes is None:   # HVG ∪ markers ∪ signatures; the synthetic panel keeps every gene
                keep_genes = list(a.var_names)
            a = a[:, keep_genes].copy()
            a.X = a.X.astype(np.float32)
            a.obs = a.obs[["sample_id", "patient_id", "center_id", "timepoint", "tissue"]]
            f = workdir / f"ws_{sid}.h5ad"
            a.write_h5ad(f)
            parts.append(f)

    T("pass1 QC+normalise per sample (working set to disk)", pass1)

    def gather():
        from anndata.experimental import concat_on_disk

        concat_on_disk(parts, workdir / "working_set.h5ad", join="inner")
        return ad.read_h5ad(workdir / "working_set.h5ad")

    w = T("concat_on_disk + read working set", gather)
    ws_gib = (w.X.data.nbytes + w.X.indices.nbytes + w.X.indptr.nbytes) / 1024**3

    def hvg():  # on a seeded 100k-cell subsample: scanpy's seurat HVG copies X
        sub = np.sort(np.random.default_rng(0).choice(w.n_obs, min(w.n_obs, 100_000), replace=False))
        h = w[sub].copy()
        sc.pp.highly_variable_genes(h, n_top_genes=2000, flavor="seurat")
        w.var["highly_variable"] = h.var["highly_variable"].to_numpy()

    T("hvg (100k subsample)", hvg)
    def pca():  # fit on a seeded 200k-cell subsample, project every cell in 100k-row chunks
        hv = w.var["highly_variable"].to_numpy()
        sub = np.sort(np.random.default_rng(1).choice(w.n_obs, min(w.n_obs, 200_000), replace=False))
        h = w[sub][:, hv].copy()
        sc.pp.pca(h, n_comps=30, random_state=0)
        load = np.asarray(h.varm["PCs"], dtype=np.float32)
        mu = np.asarray(h.X.mean(axis=0), dtype=np.float32).ravel()
        del h
        Xh = w.X[:, np.flatnonzero(hv)] if not hv.all() else w.X
        out = np.empty((w.n_obs, load.shape[1]), dtype=np.float32)
        for i in range(0, w.n_obs, 100_000):
            out[i:i + 100_000] = Xh[i:i + 100_000] @ load - mu @ load
        w.obsm["X_pca"] = out

    T("pca (fit on 200k subsample, project in chunks)", pca)
    codes = w.obs["center_id"].astype("category").cat.codes.to_numpy()
    pcs = np.asarray(w.obsm["X_pca"], dtype=np.float64)

    def centre():
        m = np.zeros((codes.max() + 1, pcs.shape[1]))
        np.add.at(m, codes, pcs)
        m /= np.bincount(codes)[:, None]
        w.obsm["X_pca_corrected"] = (pcs - m[codes] + pcs.mean(axis=0)).astype(np.float32)

    T("pc_centering", centre)
    T("knn (pynndescent)", sc.pp.neighbors, w, use_rep="X_pca_corrected", random_state=0)
    T("leiden", sc.tl.leiden, w, flavor="igraph", n_iterations=2, directed=False, random_state=0)
    T("annotate", annotate, w)
    T("signatures", score_signatures, w)
    labels = w.obs["cell_type"]

    def pass2():
        sums = []
        for sid in S["sample_id"]:
            a = ad.read_h5ad(workdir / f"{sid}.h5ad")
            lab = labels.reindex(a.obs_names)
            ok = lab.notna().to_numpy()
            X = a.X[ok]
            codes2 = lab[ok].cat.codes.to_numpy()
            G = sparse.csr_matrix((np.ones(len(codes2)), (codes2, np.arange(len(codes2)))),
                                  shape=(len(labels.cat.categories), len(codes2)))
            sums.append(pd.DataFrame((G @ X).toarray(), index=[f"{sid}|{c}" for c in labels.cat.categories],
                                     columns=a.var_names))
        return pd.concat(sums)

    pb = T("pass2 pseudobulk streamed from disk", pass2)
    return {"mode": "streamed", "scrublet": doublets, "cells": int(w.n_obs), "cells_simulated": n_cells, "genes": int(w.n_vars),
            "nnz_per_cell": round(w.X.nnz / w.n_obs, 1), "working_set_gib": round(ws_gib, 3),
            "pseudobulk_shape": list(pb.shape), "seconds": T.steps, "total_seconds": round(sum(T.steps.values()), 1),
            "peak_rss_gib": round(_rss_gib(), 2), "rss_after_step_gib": T.rss}


# ---------------------------------------------------------------------------------------------
# streamed --design study: 8 centers × patients × (tumour, lymph node, blood) × (baseline, surgery)

STUDY_CENTERS = [f"C{i:02d}" for i in range(1, 9)]
STUDY_TISSUES = {"tumour": "TU", "lymph_node": "LN", "blood": "PB"}   # codes of latc.synth._biospecimens
STUDY_TIMEPOINTS = {"baseline": "BL", "surgery": "SX"}


def study_design(n_cells: int, cells_per_library: int = 5200) -> tuple[pd.DataFrame, int]:
    """Sample table of the study design and the target cells per library for ``n_cells`` in total."""
    libs_per_group = len(STUDY_CENTERS) * len(STUDY_TISSUES) * len(STUDY_TIMEPOINTS)
    groups = max(1, int(round(n_cells / (libs_per_group * cells_per_library))))
    rows = []
    for g in range(groups):
        for c, center in enumerate(STUDY_CENTERS):
            i = g * len(STUDY_CENTERS) + c
            pid = f"{center}-{i + 1:04d}"
            for tp, tcode in STUDY_TIMEPOINTS.items():
                for tissue, code in STUDY_TISSUES.items():
                    rows.append({"sample_id": f"{pid}-{tcode}_{code}_SC", "patient_id": pid, "center_id": center,
                                 "timepoint": tp, "tissue": tissue, "responder": i % 2 == 0, "neoadjuvant": True,
                                 "group": g})
    S = pd.DataFrame(rows)
    return S, n_cells // len(S)


def _mem() -> tuple[float, float]:
    """(current RSS, peak RSS since the last reset) of this process in GiB, from /proc/self/status."""
    d = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                d[k] = int(v.split()[0]) / 1024**2
    return d["VmRSS"], d["VmHWM"]


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                               # resets VmHWM to the current RSS (Linux ≥ 4.0)
        return True
    except OSError:
        return False


class StepTimer:
    """Wall, CPU (all threads of the process), cells, RSS at start, the step's own peak, the
    process peak so far, load average — one record per step."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.process_peak = _mem()[1]

    def __call__(self, name, fn, *a, cells=None, engine: str = "", **k):
        import os

        reset = _reset_peak()
        rss0 = _mem()[0]
        t, c = time.perf_counter(), time.process_time()
        out = fn(*a, **k)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        rss1, hwm = _mem()
        self.process_peak = max(self.process_peak, hwm)
        n = cells() if callable(cells) else cells
        r = {"step": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "cells": n,
             "rss_start_gib": round(rss0, 2), "step_peak_gib": round(hwm, 2),
             "step_increase_gib": round(hwm - rss0, 2), "rss_end_gib": round(rss1, 2),
             "process_peak_gib": round(self.process_peak, 2), "load1": round(os.getloadavg()[0], 2),
             "engine": engine, "peak_reset": reset}
        self.records.append(r)
        print(f"  {name}: {r['wall_s']} s wall, {r['cpu_s']} s CPU, step peak {r['step_peak_gib']} GiB "
              f"(+{r['step_increase_gib']}), process peak {r['process_peak_gib']} GiB, load {r['load1']} "
              f"[{time.strftime('%H:%M:%S')}]", file=sys.stderr, flush=True)
        return out


def run_streamed_study(n_cells: int, workdir: Path, *, doublets: bool = True, cells_per_library: int = 5200,
                       umap_cells: int = 0, center_sd: float = 0.25) -> dict:
    import anndata as ad
    import h5py
    import scanpy as sc
    from anndata.experimental import concat_on_disk

    from latc.omics._manifest import SAMPLE_KEYS
    from latc.omics.sc import (add_center_effect, annotate, composition, differential_abundance, normalise, pseudobulk,
                               pseudobulk_de, qc_filter, qc_metrics, score_signatures, simulate_counts)
    from latc.omics.sc._pipeline import harmony

    S, per = study_design(n_cells, cells_per_library)
    T = StepTimer()
    load_start = __import__("os").getloadavg()
    info: dict = {"n_simulated": 0}
    keep_obs = SAMPLE_KEYS + ["true_cell_type"]

    def simulate_write():
        for _, grp in S.groupby("group"):
            a, _ = simulate_counts(grp.drop(columns="group"), seed=1, cells_per_sample=per)
            add_center_effect(a, center_sd, seed=1)      # every group holds the 8 centers: same factors
            info["n_simulated"] += a.n_obs
            sid = a.obs["sample_id"].to_numpy()
            for s in grp["sample_id"]:
                part = a[sid == s]
                o = part.obs[keep_obs].copy()
                for k in keep_obs:
                    o[k] = o[k].astype("category")
                ad.AnnData(X=part.X.copy(), obs=o, var=part.var.copy()).write_h5ad(workdir / f"{s}.h5ad")
            del a, part       # the last view would keep this group's matrix alive into the next group

    T("simulate (groups of 8 patients) + center effect + write per library", simulate_write,
      cells=lambda: info["n_simulated"], engine="latc simulate_counts + add_center_effect per group; one .h5ad per library")
    parts = []
    qc_rows = []

    def pass1():
        for sid in S["sample_id"]:
            a = ad.read_h5ad(workdir / f"{sid}.h5ad")
            n0 = a.n_obs
            qc_metrics(a, doublets=doublets)
            a = qc_filter(a)
            normalise(a)
            del a.layers["counts"]
            a.X = a.X.astype(np.float32)
            a.obs = a.obs[keep_obs]
            a.var = a.var[[]]
            a.uns = {}
            f = workdir / f"ws_{sid}.h5ad"
            a.write_h5ad(f)
            parts.append(f)
            qc_rows.append((sid, n0, a.n_obs))

    T("pass1 per library: QC" + (" + Scrublet" if doublets else "") + " + normalise → working set to disk", pass1,
      cells=lambda: sum(r[2] for r in qc_rows), engine="anndata read_h5ad, one library in memory at a time")

    T("concat_on_disk (working set)", concat_on_disk, parts, workdir / "working_set.h5ad", join="inner",
      cells=lambda: sum(r[2] for r in qc_rows), engine="anndata.experimental.concat_on_disk (out of core)")
    for f in parts:
        f.unlink()

    def read_ws():
        with h5py.File(workdir / "working_set.h5ad", "r") as f:
            info["ws_dtypes_on_disk"] = {k: str(f["X"][k].dtype) for k in ("data", "indices", "indptr")}
        return ad.read_h5ad(workdir / "working_set.h5ad")

    w = T("read working set into memory", read_ws, cells=lambda: None, engine="anndata.read_h5ad (CSR float32)")
    T.records[-1]["cells"] = int(w.n_obs)
    ws_gib = (w.X.data.nbytes + w.X.indices.nbytes + w.X.indptr.nbytes) / 1024**3
    info["ws_dtypes_in_memory"] = {"data": str(w.X.data.dtype), "indices": str(w.X.indices.dtype),
                                   "indptr": str(w.X.indptr.dtype)}
    N = int(w.n_obs)

    def hvg():  # seurat HVG copies X: a seeded 100k-cell subsample, batch = center as in embed()
        sub = np.sort(np.random.default_rng(0).choice(N, min(N, 100_000), replace=False))
        h = w[sub].copy()
        sc.pp.highly_variable_genes(h, n_top_genes=2000, flavor="seurat", batch_key="center_id")
        w.var["highly_variable"] = h.var["highly_variable"].to_numpy()

    T("hvg (100k subsample, batch_key=center)", hvg, cells=min(N, 100_000), engine="scanpy, in memory (subsample)")

    def pca():  # fit on a seeded 200k-cell subsample, project every cell in 100k-row slices
        hv = w.var["highly_variable"].to_numpy()
        sub = np.sort(np.random.default_rng(1).choice(N, min(N, 200_000), replace=False))
        h = w[sub][:, hv].copy()
        sc.pp.pca(h, n_comps=30, random_state=0)
        load = np.asarray(h.varm["PCs"], dtype=np.float32)
        mu = np.asarray(h.X.mean(axis=0), dtype=np.float32).ravel()
        del h
        Xh = w.X[:, np.flatnonzero(hv)] if not hv.all() else w.X
        out = np.empty((N, load.shape[1]), dtype=np.float32)
        for i in range(0, N, 100_000):
            out[i:i + 100_000] = Xh[i:i + 100_000] @ load - mu @ load
        w.obsm["X_pca"] = out

    T("pca (fit on 200k subsample, project all cells)", pca, cells=N, engine="scanpy PCA (arpack) + sparse matmul")
    codes = w.obs["center_id"].astype("category").cat.codes.to_numpy()

    def centre():
        pcs = np.asarray(w.obsm["X_pca"], dtype=np.float64)
        m = np.zeros((codes.max() + 1, pcs.shape[1]))
        np.add.at(m, codes, pcs)
        m /= np.bincount(codes)[:, None]
        return pcs - m[codes] + pcs.mean(axis=0)

    T("pc_centering (comparison only, not used)", centre, cells=N, engine="numpy")

    def run_harmony():
        z, hinfo = harmony(w.obsm["X_pca"], w.obs["center_id"].to_numpy(), seed=0)
        w.obsm["X_pca_corrected"] = z.astype(np.float32)
        info["harmony"] = hinfo

    T("harmony (batch = center, 8 centers)", run_harmony, cells=N, engine="harmonypy (latc.omics.sc._pipeline.harmony)")
    T("knn (pynndescent, k=15)", sc.pp.neighbors, w, n_neighbors=15, use_rep="X_pca_corrected", random_state=0,
      cells=N, engine="scanpy.pp.neighbors → pynndescent, in memory")
    T("leiden (igraph)", sc.tl.leiden, w, resolution=1.0, flavor="igraph", n_iterations=2, directed=False,
      random_state=0, key_added="leiden", cells=N, engine="scanpy.tl.leiden (igraph), in memory")
    info["n_leiden_clusters"] = int(w.obs["leiden"].nunique())
    graph_gib = sum((m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) for m in w.obsp.values()) / 1024**3
    del w.obsp["distances"], w.obsp["connectivities"]   # not needed after Leiden; frees the graph

    T("annotate (markers, unassigned outcome, 20 bootstraps)", annotate, w, seed=0, cells=N,
      engine="latc annotate, in memory (marker genes)")
    truth = w.obs["true_cell_type"].astype(str).to_numpy()
    call = w.obs["cell_type"].astype(str).to_numpy()
    ann = w.uns["latc_sc"]["annotation"]
    info["annotation"] = {k: ann[k] for k in ("n_unassigned_cells", "n_no_marker_evidence", "n_ambiguous_lineage",
                                              "n_unassigned_clusters", "n_unassigned_final")}
    info["annotation"]["accuracy_vs_truth"] = round(float((call == truth).mean()), 4)
    info["annotation"]["accuracy_assigned"] = round(float((call == truth)[call != "unassigned"].mean()), 4)
    T("signatures (score_genes)", score_signatures, w, seed=0, cells=N, engine="latc score_signatures → scanpy")

    def comp_da():
        comp = composition(w)
        return comp, differential_abundance(comp, design="paired", tissue="tumour")

    comp, da = T("composition + paired DA (tumour)", comp_da, cells=N, engine="pandas on labels")
    if umap_cells:
        def umap_sub():
            sub = np.sort(np.random.default_rng(2).choice(N, min(N, umap_cells), replace=False))
            u = ad.AnnData(obs=w.obs.iloc[sub][["center_id", "tissue", "cell_type"]].copy(),
                           obsm={"X_pca_corrected": w.obsm["X_pca_corrected"][sub]})
            sc.pp.neighbors(u, n_neighbors=15, use_rep="X_pca_corrected", random_state=0)
            sc.tl.umap(u, random_state=0)

        T(f"umap ({umap_cells:,}-cell subsample: its own kNN + UMAP)", umap_sub, cells=min(N, umap_cells),
          engine="scanpy, in memory (subsample)")
    labels = w.obs["cell_type"]

    def pass2():
        pbs = []
        for sid in S["sample_id"]:
            a = ad.read_h5ad(workdir / f"{sid}.h5ad")
            lab = labels.reindex(a.obs_names)
            ok = lab.notna().to_numpy()
            a = a[ok].copy()
            a.layers["counts"] = a.X
            a.obs["cell_type"] = pd.Categorical(lab[ok].astype(str))
            pbs.append(pseudobulk(a))
        return ad.concat(pbs, join="outer")

    pb = T("pass2 pseudobulk per library streamed from the count files", pass2, cells=N,
           engine="anndata read_h5ad per library + latc pseudobulk (sc.get.aggregate)")
    de = T("pydeseq2 (cd8_t_effector, tumour, paired)", pseudobulk_de, pb, "cd8_t_effector", design="paired",
           cells=None, engine="pydeseq2 on pseudobulk")
    import importlib.metadata as md

    cells_after_qc = sum(r[2] for r in qc_rows)
    libs = pd.Series([r[1] for r in qc_rows])
    return {"mode": "streamed", "design": "study", "scrublet": doublets, "cells_simulated": n_cells,
            "cells_simulated_actual": info["n_simulated"], "cells": cells_after_qc,
            "n_centers": len(STUDY_CENTERS), "n_patients": int(S["patient_id"].nunique()), "n_libraries": len(S),
            "libraries": "per patient: tumour, lymph_node, blood × baseline, surgery",
            "cells_per_library_target": per,
            "library_cells_min_median_max": [int(libs.min()), int(libs.median()), int(libs.max())],
            "center_effect_sd": center_sd, "genes": int(w.n_vars), "nnz_per_cell": round(w.X.nnz / N, 1),
            "working_set_gib": round(ws_gib, 3), **{k: v for k, v in info.items() if k != "n_simulated"},
            "knn_graph_gib": round(graph_gib, 3), "n_pseudobulk_profiles": int(pb.n_obs),
            "pseudobulk_shape": list(pb.shape), "da_rows": int(len(da)), "de_genes": int(len(de)),
            "umap": f"{umap_cells}-cell subsample" if umap_cells else "skipped",
            "steps": T.records, "total_wall_s": round(sum(r["wall_s"] for r in T.records), 1),
            "total_cpu_s": round(sum(r["cpu_s"] for r in T.records), 1),
            "peak_rss_gib": round(T.process_peak, 2), "load_average_at_start": [round(x, 2) for x in load_start],
            "load_average_at_end": [round(x, 2) for x in __import__("os").getloadavg()],
            "versions": {p: md.version(p) for p in ("scanpy", "anndata", "harmonypy", "pynndescent", "igraph",
                                                    "leidenalg", "numpy", "scipy", "pydeseq2")},
            "started_utc": None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, nargs="+", default=[50_000])
    p.add_argument("--mode", choices=["memory", "streamed", "corrections", "integration"], default="memory")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "omics_sc.json")
    p.add_argument("--no-scrublet", action="store_true", help="streamed mode: skip Scrublet (time only; it runs per library)")
    p.add_argument("--design", choices=["tumour", "study"], default="tumour",
                   help="streamed mode: 40 patients × 2 tumour samples (tumour) or the full study (8 centers, "
                        "tumour/lymph node/blood × baseline/surgery)")
    p.add_argument("--cells-per-library", type=int, default=5200, help="streamed --design study: target library size")
    p.add_argument("--umap-cells", type=int, default=0, help="streamed --design study: UMAP on a subsample of this size (0 = skip)")
    p.add_argument("--workdir", type=Path, default=None, help="where the per-library .h5ad files go (default: a temp dir)")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    if args.one:
        if args.mode == "memory":
            r = run_memory(args.one)
        elif args.mode == "corrections":
            r = run_corrections(args.one)
        elif args.mode == "integration":
            r = run_integration(args.one)
        else:
            with tempfile.TemporaryDirectory(dir=args.workdir) as d:
                if args.design == "study":
                    t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    r = run_streamed_study(args.one, Path(d), doublets=not args.no_scrublet,
                                           cells_per_library=args.cells_per_library, umap_cells=args.umap_cells)
                    r["started_utc"] = t0
                    r["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                else:
                    r = run_streamed(args.one, Path(d), doublets=not args.no_scrublet)
        print(json.dumps(r))
        return
    for n in args.cells:
        print(f"{args.mode}: {n:,} cells …", file=sys.stderr, flush=True)
        cmd = ([sys.executable, __file__, "--mode", args.mode, "--one", str(n), "--design", args.design,
                "--cells-per-library", str(args.cells_per_library), "--umap-cells", str(args.umap_cells)]
               + (["--no-scrublet"] if args.no_scrublet else [])
               + (["--workdir", str(args.workdir)] if args.workdir else []))
        cp = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)   # stderr (progress) goes straight through
        if cp.returncode != 0:
            print(f"{args.mode} {n:,}: exit code {cp.returncode}", file=sys.stderr)
            continue
        r = json.loads(cp.stdout.strip().splitlines()[-1])
        print(json.dumps(r, indent=1))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        results = json.loads(args.out.read_text()) if args.out.exists() else []  # re-read: runs may overlap
        results = [x for x in results if not (x["mode"] == r["mode"] and x["cells_simulated"] == n
                                              and x.get("design") == r.get("design")
                                              and x.get("scrublet") == r.get("scrublet"))] + [r]
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
