"""Calibration of the annotation's ``unassigned`` thresholds (latc.omics.sc.annotate; the
numbers and the choice are in docs/omics/single_cell.md, "Annotation: calibration").

    .venv/bin/python benchmarks/calibrate_sc_annotation.py [OUT.csv]      # ≈ 30 s

Data allowed for tuning only — nothing here is the held-out check (tests/test_omics_sc_unassigned.py):
the synthetic scRNA-seq (seeds 3 and 4: 6 patients × tumour, lymph node, blood × 250 cells, true
types known) and scanpy's pbmc68k_reduced (700 PBMCs, FACS-derived ``bulk_labels`` mapped to
lineages; also its T/NK cells alone, a one-lineage sample). Out-of-panel cells are made by
leaving a lineage's types out of the marker table (its cells then fit no modelled type), plus
pbmc's 13 CD34+ progenitors. Grid: ``min_detection`` × ``min_margin`` × ``min_core_fraction``
(``cluster_unassigned`` fixed at 0.5). Reported per setting, at the cluster label the pipeline
uses and per cell: *keep* = share of the cells that the old argmax annotation typed correctly
(type for synthetic, lineage for pbmc) that keep a correct label, and *reject* = share of
out-of-panel cells labelled ``unassigned``. Criterion: keep ≥ 95 % in every calibration set at
both levels, then the highest mean rejection; ties → the most lenient value.
"""

import itertools
import sys
import warnings

import numpy as np
import pandas as pd
import scanpy as sc

from latc.omics.sc import embed, load_markers, normalise, simulate_counts
from latc.omics.sc._annotate import UNASSIGNED, _decide, _Panel, marker_coverage

M = load_markers()
LIN = M.drop_duplicates("cell_type").set_index("cell_type")["lineage"]
CLUSTER_UNASSIGNED = 0.5
PBMC_LINEAGE = {"CD14+ Monocyte": "myeloid", "Dendritic": "myeloid", "CD19+ B": "b_plasma", "CD56+ NK": "t_nk",
                "CD4+/CD25 T Reg": "t_nk", "CD8+ Cytotoxic T": "t_nk", "CD8+/CD45RA+ Naive Cytotoxic": "t_nk",
                "CD4+/CD45RO+ Memory": "t_nk", "CD4+/CD45RA+/CD25- Naive T": "t_nk"}


def prep(a, m):
    """Scores, detection shares, core detection and the scored types of ``a`` for marker table ``m``."""
    cov = marker_coverage(a.var_names, m)
    ok = [t for t in dict.fromkeys(m["cell_type"]) if cov.loc[t, "scored"]]
    p = _Panel(a, m, ok, None)
    return p.scores(p.Wpos), p.detection(p.Wpos), p.core_detected(), np.array(ok, dtype=object)


def cell_call(P, dmin, mmin, gates=True):
    S, D, _, T = P
    if not gates:                       # the annotation before this change: plain argmax
        dmin, mmin = 0.0, -np.inf
    b, _, _ = _decide(S, D, LIN.reindex(T).to_numpy(), dmin, mmin)
    return np.where(b >= 0, T[np.maximum(b, 0)], UNASSIGNED).astype(object)


def cluster_call(lab, clu, P=None, cmin=0.0, old=False):
    df = pd.DataFrame({"c": clu, "l": lab})
    lin = LIN.reindex(P[3]).to_numpy() if P is not None else None
    out = {}
    for k, g in df.groupby("c"):
        assigned = g["l"][g["l"] != UNASSIGNED]
        un = 1 - len(assigned) / len(g)
        v = UNASSIGNED if (not old and un >= CLUSTER_UNASSIGNED) or not len(assigned) else assigned.value_counts().idxmax()
        if not old and v != UNASSIGNED and cmin > 0:
            js = np.flatnonzero(lin == LIN[v])
            if P[2][np.ix_(g.index.to_numpy(), js)].any(axis=1).mean() < cmin:
                v = UNASSIGNED
        out[k] = v
    return df["c"].map(out).to_numpy()


def synthetic(seed):
    rows = [dict(sample_id=f"C01-{i:04d}-{tis}", patient_id=f"C01-{i:04d}", center_id="C01", timepoint="baseline",
                 tissue=tis, responder=i % 2 == 0, neoadjuvant=True)
            for i in range(6) for tis in ("tumour", "lymph_node", "blood")]
    a, _ = simulate_counts(pd.DataFrame(rows), seed=seed, cells_per_sample=250)
    a = a[~a.obs["true_doublet"].to_numpy() & ~a.obs["true_damaged"].to_numpy()].copy()
    normalise(a)
    embed(a, batch_key=None, umap=False, neighbors_method="gauss", seed=0)
    return a


def calibration_sets():
    """(name, prepared scores, clusters, truth, kind, mask) for every calibration condition."""
    sets = []
    for seed in (3, 4):
        a = synthetic(seed)
        truth = a.obs["true_cell_type"].astype(str).to_numpy()
        clu = a.obs["leiden"].astype(str).to_numpy()
        sets.append((f"syn{seed}_in", prep(a, M), clu, truth, "type", None))
        for L in LIN.unique():
            sets.append((f"syn{seed}_out_{L}", prep(a, M[M["lineage"] != L]), clu, None, "out",
                         LIN.reindex(truth).to_numpy() == L))
    full = sc.datasets.pbmc68k_reduced()
    p = full.raw.to_adata()
    p.obs = full.obs.copy()
    normalise(p)
    embed(p, batch_key=None, umap=False, neighbors_method="gauss", seed=0)
    lab = p.obs["bulk_labels"].astype(str).to_numpy()
    tl = pd.Series(lab).map(PBMC_LINEAGE).to_numpy()
    clu = p.obs["leiden"].astype(str).to_numpy()
    sets.append(("pbmc_in", prep(p, M), clu, tl, "lineage", pd.notna(tl)))
    sets.append(("pbmc_cd34", prep(p, M), clu, None, "out", lab == "CD34+"))
    for L in ("t_nk", "b_plasma", "myeloid"):
        sets.append((f"pbmc_out_{L}", prep(p, M[M["lineage"] != L]), clu, None, "out", tl == L))
    t = p[tl == "t_nk"].copy()
    embed(t, batch_key=None, umap=False, neighbors_method="gauss", seed=0)
    sets.append(("pbmc_Tonly", prep(t, M), t.obs["leiden"].astype(str).to_numpy(),
                 np.array(["t_nk"] * t.n_obs, dtype=object), "lineage", None))
    return sets


def main(out: str) -> pd.DataFrame:
    warnings.filterwarnings("ignore")
    sets = calibration_sets()
    res = []
    for dmin, mmin, cmin in itertools.product((0, 0.34, 0.4, 0.5, 0.6), (0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4),
                                              (0, 0.3, 0.4, 0.5, 0.6, 0.7)):
        r = {"min_detection": dmin, "min_margin": mmin, "min_core_fraction": cmin}
        for name, P, clu, truth, kind, mask in sets:
            cl = cell_call(P, dmin, mmin)
            fin = cluster_call(cl, clu, P=P, cmin=cmin)
            k = np.ones(len(cl), bool) if mask is None else mask
            if kind == "out":
                r[f"reject__{name}"] = (fin[k] == UNASSIGNED).mean()
                r[f"reject_cell__{name}"] = (cl[k] == UNASSIGNED).mean()
                continue
            f = (lambda x: x) if kind == "type" else (lambda x: LIN.reindex(x).to_numpy())
            old_cell = cell_call(P, 0, 0, gates=False)
            old = cluster_call(old_cell, clu, old=True)
            good, good_cell = (f(old) == truth) & k, (f(old_cell) == truth) & k
            r[f"keep__{name}"] = (f(fin)[good] == truth[good]).mean()
            r[f"keep_cell__{name}"] = (f(cl)[good_cell] == truth[good_cell]).mean()
        res.append(r)
    d = pd.DataFrame(res)
    d["min_keep"] = d[[c for c in d if c.startswith("keep__")]].min(axis=1)
    d["min_keep_cell"] = d[[c for c in d if c.startswith("keep_cell__")]].min(axis=1)
    rej = [c for c in d if c.startswith("reject__")]
    d["mean_reject"] = d[rej].mean(axis=1)
    d["reject_synthetic"] = d[[c for c in rej if "syn" in c]].mean(axis=1)
    d["reject_pbmc"] = d[[c for c in rej if "pbmc" in c]].mean(axis=1)
    d.to_csv(out, index=False)
    ok = d[(d["min_keep"] >= 0.95) & (d["min_keep_cell"] >= 0.95)]
    ok = ok.sort_values(["mean_reject", "min_detection", "min_margin", "min_core_fraction"],
                        ascending=[False, True, True, True])
    pd.set_option("display.width", 250)
    print(ok.head(8)[["min_detection", "min_margin", "min_core_fraction", "min_keep", "min_keep_cell", "mean_reject",
                      "reject_synthetic", "reject_pbmc"]].round(3).to_string(index=False))
    return d


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "calibrate_sc_annotation.csv")
