"""Synthetic scRNA-seq for the biospecimen manifest (registered as ``scrna_seq`` in
:mod:`latc.synth.omics_registry`), with planted effects tied to each patient's simulated response.

Generative model (per sample):

* **Genes**: every marker (``immune_markers.csv``) and signature gene (``sc_signatures.csv``), the 13
  mitochondrial genes (``MT-…``) and the shipped background panel (``sc_background_genes.csv``, real
  symbols) — about 1,000 genes.
* **Cell types**: the 16 types of the marker table. Each has a mean profile: background genes drawn
  once per seed (log-normal), a type-specific perturbation of 15 % of background genes, its markers
  high, other types' markers near zero, plus functional programmes (IFNG/GZM in cytotoxic cells,
  CXCL9/10/11 in M1-like macrophages and DCs, CCL19/CCL21 in stroma, TDS genes in thyrocytes …).
* **Composition**: tissue-specific mean proportions (tumour: thyrocytes/tumour, stroma, myeloid,
  T/NK/B; lymph node: mostly lymphocytes; blood: PBMC-like), a patient random effect (log-scale SD
  0.3 per type, shared across the patient's samples), then Dirichlet(α = 150) and a multinomial draw.
* **Counts**: gamma–Poisson (negative binomial, cell-level dispersion 0.3) around library size ×
  profile × a per-sample gene factor (log-scale SD 0.1: biological sample-to-sample variation, so
  pseudobulk tests see realistic replicate noise).
* **QC material**: 4 % damaged cells (library × 0.3, mitochondrial share × 8) and 4 % doublets (the
  sum of two cells of the same sample).
* **Malignant thyrocytes** (:data:`CNV_SEGMENTS`, :func:`plant_malignant`): among a tumour
  sample's ``thyrocyte_tumour`` cells a share is malignant (Beta(7, 3), mean 0.7; every thyroid
  cell of a lymph node is a metastasis); a patient's malignant cells carry that patient's clone —
  1–3 arm-level segments of 22q loss, 1q gain, 7q gain (thyroid-cancer copy-number changes; see
  the constant) or none (a CNV-quiet tumour, as most PTCs are; 1 patient in 6). Each gene in a
  segment has its expected count × the copy ratio (3/2 gain, 1/2 loss), applied after the counts
  are drawn — extra Poisson counts, or binomial thinning — from a generator of its own, so every
  other draw (compositions, immune and stromal counts) is what it was before malignancy was
  simulated. Gene positions: the shipped GRCh38 table (``gene_positions_grch38.csv``).

Planted effects (``effects=True``), documented in the returned dict (→ ``truth.json``):

* responders (neoadjuvant cohort and ``objective_response_latent == 1``) after treatment
  (on_treatment / surgery): CD8 effector proportion × 4 in tumour and lymph node (× 2 in blood),
  thyrocyte/tumour × 0.35 in tumour; TLS chemokines (CXCL13, CCL19, CCL21) × 3 in every cell;
* non-responders at baseline: exhausted CD8 proportion × 3 in tumour and lymph node;
* every neoadjuvant patient after treatment: 20 background genes differentially expressed in
  ``cd8_t_effector`` (10 up, 10 down, log2 fold change ±1) — the pseudobulk DE truth;
* responders after treatment: the malignant share of the remaining thyrocytes falls to a mean of
  0.35 (Beta(3.5, 6.5)); the clones and segments are not effects (the null has them too).

``effects=False`` gives the null dataset: the same seed draws everything else identically.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from importlib import resources
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from latc.omics._manifest import SAMPLE_KEYS
from latc.omics.sc._annotate import load_markers
from latc.omics.sc._signatures import load_signatures

__all__ = ["CELL_TYPES", "CNV_SEGMENTS", "MT_GENES", "TISSUE_MIX", "add_center_effect", "gene_panel",
           "plant_malignant", "simulate_counts", "write_scrna"]

MT_GENES = ["MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3", "MT-ND3", "MT-ND4L",
            "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB"]

#: Mean cell-type proportions per tissue (normalised on use).
TISSUE_MIX: dict[str, dict[str, float]] = {
    "tumour": {"cd8_t_effector": .05, "cd8_t_exhausted": .05, "cd8_t_memory": .04, "cd4_t": .08, "treg": .03,
               "nk": .03, "b": .04, "plasma": .02, "monocyte": .02, "macrophage_m1_like": .04,
               "macrophage_m2_like": .07, "dendritic": .02, "neutrophil": .01, "thyrocyte_tumour": .35,
               "fibroblast": .09, "endothelial": .06},
    "lymph_node": {"cd8_t_effector": .05, "cd8_t_exhausted": .02, "cd8_t_memory": .12, "cd4_t": .30, "treg": .05,
                   "nk": .02, "b": .28, "plasma": .02, "monocyte": .01, "macrophage_m1_like": .02,
                   "macrophage_m2_like": .02, "dendritic": .03, "neutrophil": .005, "thyrocyte_tumour": .03,
                   "fibroblast": .015, "endothelial": .015},
    "blood": {"cd8_t_effector": .08, "cd8_t_exhausted": .01, "cd8_t_memory": .10, "cd4_t": .30, "treg": .03,
              "nk": .10, "b": .10, "plasma": .005, "monocyte": .22, "macrophage_m1_like": .003,
              "macrophage_m2_like": .003, "dendritic": .02, "neutrophil": .03, "thyrocyte_tumour": 0.0,
              "fibroblast": 0.0, "endothelial": 0.0},
}
CELL_TYPES: list[str] = list(TISSUE_MIX["tumour"])

#: Functional programmes: type → genes expressed at a moderate level (beyond its markers).
_PROGRAMMES: dict[str, list[str]] = {
    "cd8_t_effector": ["GZMA", "GZMK", "CCL4", "CCL3", "CXCR6", "HLA-E", "CD27", "LAT", "SKAP1"],
    "cd8_t_exhausted": ["GZMA", "GZMB", "CCL5", "CCL4", "CXCR6", "HLA-E", "LAT", "SKAP1"],
    "cd8_t_memory": ["CCL5", "GZMA", "LAT", "SKAP1", "CD27"],
    "cd4_t": ["LAT", "SKAP1", "CCR6"],
    "treg": ["LAT", "SKAP1", "CCR6"],
    "nk": ["GZMA", "CCL4", "CCL3", "CCL5", "IFNG", "HLA-E"],
    "b": ["CD1D", "CCR6", "HLA-DRA", "HLA-DQA1", "HLA-DRB1"],
    "plasma": ["HLA-E"],
    "monocyte": ["HLA-DRA", "CD274", "STAT1", "CCL2"],
    "macrophage_m1_like": ["CXCL11", "IDO1", "HLA-DRA", "HLA-DRB1", "HLA-DQA1", "PSMB10", "CD274", "PDCD1LG2",
                           "CCL8", "CMKLR1", "CD276"],
    "macrophage_m2_like": ["CCL18", "CCL2", "CCL8", "HLA-DRA", "HLA-DRB1", "CMKLR1"],
    "dendritic": ["CXCL9", "CXCL10", "IDO1", "CCR7", "HLA-DRB1", "CD274", "PSMB10"],
    "neutrophil": ["S100A8", "S100A9"],
    "thyrocyte_tumour": ["DIO1", "DIO2", "DUOX1", "DUOX2", "GLIS3", "SLC26A4", "SLC5A5", "SLC5A8", "THRA", "THRB",
                         "CD276", "CETP", "RBP5"],
    "fibroblast": ["CCL19", "CCL21", "CCL2", "PTGDS"],
    "endothelial": ["CCL21", "HLA-E", "CD276"],
}
_LIBRARY = {"thyrocyte_tumour": 5000, "fibroblast": 4000, "endothelial": 3500, "macrophage_m1_like": 4000,
            "macrophage_m2_like": 4000, "monocyte": 3000, "dendritic": 3500, "neutrophil": 1200, "plasma": 5000}
_TLS_GENES = ["CXCL13", "CCL19", "CCL21"]

#: Arm-level copy-number segments planted in malignant thyrocytes: name → (chromosome, start, end
#: (bp, GRCh38; None = chromosome end), copy ratio, weight of the segment in a clone). Arms split at
#: the centromere midpoints of UCSC's hg38 cytoBand (chr1 123.4 Mb, chr7 60.1 Mb; 22p carries no
#: expressed gene). Why these: arm-level changes are rare in PTC and 22q loss is the most frequent
#: one (TCGA, Cell 2014;159:676), also in 46 % of follicular carcinomas (Hemmer et al., Br J Cancer
#: 1998;78:1012); 1q gain is the other recurrent PTC arm event (TCGA 2014); chromosome 7 / 7q gains
#: are the commonest gains of follicular-pattern thyroid tumours (Hemmer 1998; Roque et al., Genes
#: Chromosomes Cancer 2003;36:292). Copy ratio = expression ratio (one extra copy of two: 3/2).
CNV_SEGMENTS: dict[str, tuple[str, int, int | None, float, float]] = {
    "22q-": ("chr22", 0, None, 0.5, 0.5),
    "1q+": ("chr1", 123_400_000, None, 1.5, 0.3),
    "7q+": ("chr7", 60_100_000, None, 1.5, 0.2),
}
#: share of patients whose tumour carries no planted copy-number change (CNV-quiet)
CNV_QUIET = 1 / 6
#: Beta parameters of the malignant share of a sample's thyrocytes
_MALIGNANT_SHARE = {"tumour": (7.0, 3.0), "tumour_responder_post": (3.5, 6.5)}
_POST = ("on_treatment", "surgery", "follow_up")


def _stream(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(part.encode())])


@lru_cache(maxsize=1)
def _background() -> tuple[str, ...]:
    with resources.files("latc.omics.resources").joinpath("sc_background_genes.csv").open("r", encoding="utf-8") as f:
        return tuple(pd.read_csv(f)["gene"])


def gene_panel() -> list[str]:
    """Genes of the synthetic data: markers, signature genes, ``MT-`` genes, background."""
    m = load_markers()
    sig = [g for genes in load_signatures().values() for g in genes]
    known = list(dict.fromkeys(list(m["gene"]) + sig + [g for p in _PROGRAMMES.values() for g in p]))
    return known + MT_GENES + [g for g in _background() if g not in set(known)]


def _profiles(seed: int, genes: list[str]) -> tuple[np.ndarray, list[str]]:
    """Cell types × genes expected counts at the reference library (before normalisation)."""
    rng = _stream(seed, "sc_profiles")
    gi = {g: i for i, g in enumerate(genes)}
    G = len(genes)
    m = load_markers()
    special = set(m["gene"]) | {g for p in _PROGRAMMES.values() for g in p} | {g for s in load_signatures().values() for g in s}
    is_bg = np.array([(g not in special) and not g.startswith("MT-") for g in genes])
    base = np.exp(rng.normal(-1.8, 1.3, G))
    base[~is_bg] = np.exp(rng.normal(-3.5, 0.5, (~is_bg).sum()))
    mt = np.array([g.startswith("MT-") for g in genes])
    P = np.empty((len(CELL_TYPES), G))
    for t, ct in enumerate(CELL_TYPES):
        prof = base.copy()
        pert = is_bg & (rng.random(G) < 0.15)
        prof[pert] *= np.exp(rng.normal(0, 0.8, pert.sum()))
        for g in _PROGRAMMES.get(ct, []):
            prof[gi[g]] = np.exp(rng.normal(0.2, 0.4))
        mk = m[(m["cell_type"] == ct) & (m["weight"] > 0)]["gene"]
        for g in mk:
            prof[gi[g]] = np.exp(rng.normal(1.2, 0.5))
        prof[mt] = 0.0
        prof = prof / prof.sum() * (1 - 0.04)
        prof[mt] = 0.04 * rng.dirichlet(np.full(mt.sum(), 5.0))
        P[t] = prof
    return P, genes


def _de_genes(seed: int, genes: list[str], P: np.ndarray) -> tuple[list[str], list[str]]:
    rng = _stream(seed, "sc_de_genes")
    bg = set(_background()) - set(load_markers()["gene"])
    t = CELL_TYPES.index("cd8_t_effector")
    cand = [g for i, g in enumerate(genes) if g in bg and P[t, i] > np.quantile(P[t], 0.8)]
    pick = list(rng.choice(sorted(cand), size=20, replace=False))
    return sorted(pick[:10]), sorted(pick[10:])


def simulate_counts(samples: pd.DataFrame, *, seed: int, cells_per_sample: int = 400, effects: bool = True,
                    doublet_rate: float = 0.04, damaged_rate: float = 0.04,
                    keep_truth: bool = True) -> tuple[ad.AnnData, dict]:
    """Simulate the libraries of ``samples`` (columns :data:`SAMPLE_KEYS` plus ``responder``:
    True / False / NA and ``neoadjuvant``: bool). Returns ``(adata, truth)``: raw integer counts in
    ``X`` (CSR), ``obs`` = sample keys (+ ``true_cell_type, true_doublet, true_damaged`` when
    ``keep_truth``), and the planted effects.
    """
    genes = gene_panel()
    P, _ = _profiles(seed, genes)
    G = len(genes)
    gi = {g: i for i, g in enumerate(genes)}
    up, down = _de_genes(seed, genes, P)
    de_mult = np.ones(G)
    de_mult[[gi[g] for g in up]] = 2.0
    de_mult[[gi[g] for g in down]] = 0.5
    tls_idx = [gi[g] for g in _TLS_GENES]
    mt = np.array([g.startswith("MT-") for g in genes])
    lib = np.array([_LIBRARY.get(ct, 2500) for ct in CELL_TYPES], dtype=float)
    k = len(CELL_TYPES)
    t_eff, t_exh, t_thy = (CELL_TYPES.index(c) for c in ("cd8_t_effector", "cd8_t_exhausted", "thyrocyte_tumour"))
    patients = sorted(samples["patient_id"].astype(str).unique())
    prng = _stream(seed, "sc_patient_effects")
    poff = dict(zip(patients, prng.normal(0, 0.3, (len(patients), k))))
    clones = {p: _clone(seed, p) for p in patients}
    ratios = _segment_ratios(genes)
    blocks, obs_parts, realised, malignant = [], [], [], []
    for row in samples.sort_values("sample_id").itertuples(index=False):
        sid = str(row.sample_id)
        rng = _stream(seed, "sc_sample_" + sid)
        mix = np.array([TISSUE_MIX[row.tissue][c] for c in CELL_TYPES])
        logm = np.log(np.where(mix > 0, mix, 1e-300)) + poff[str(row.patient_id)]
        resp = row.responder
        responder = bool(resp) if not pd.isna(resp) else None
        post = row.timepoint in _POST and bool(row.neoadjuvant)
        gene_f = np.exp(rng.normal(0, 0.1, G))
        if effects and post and responder:
            logm[t_eff] += np.log(4.0 if row.tissue != "blood" else 2.0)
            if row.tissue == "tumour":
                logm[t_thy] += np.log(0.35)
            gene_f[tls_idx] *= 3.0
        if effects and row.timepoint == "baseline" and responder is False and row.tissue != "blood":
            logm[t_exh] += np.log(3.0)
        on = mix > 0
        w = np.exp(logm[on] - logm[on].max())
        p = np.zeros(k)
        p[on] = rng.dirichlet(150 * w / w.sum())
        n = int(max(50, round(cells_per_sample * rng.uniform(0.7, 1.3))))
        n_dbl = int(round(n * doublet_rate))
        types = rng.choice(k, size=n + n_dbl, p=p)
        Ps = P * gene_f[None, :]
        if effects and post:
            Ps[t_eff] *= de_mult
        L = lib[types] * np.exp(rng.normal(0, 0.35, n + n_dbl))
        damaged = rng.random(n + n_dbl) < damaged_rate
        L[damaged] *= 0.3
        lam = L[:, None] * Ps[types] / Ps[types].sum(axis=1, keepdims=True)
        lam[np.ix_(damaged, mt)] *= 8.0
        lam *= rng.gamma(1 / 0.3, 0.3, size=lam.shape)
        X = rng.poisson(lam).astype(np.int32)
        share = _malignant_share(row.tissue, effects and post and bool(responder))
        is_mal = plant_malignant(X, lam, types == t_thy, clones[str(row.patient_id)], ratios, share=share,
                                 rng=_stream(seed, "sc_malignant_" + sid))
        dbl = np.zeros(n, dtype=bool)
        if n_dbl:
            hosts = rng.choice(n, size=n_dbl, replace=False)
            X[hosts] += X[n:]
            dbl[hosts] = True
        X = X[:n]
        blocks.append(sparse.csr_matrix(X))
        o = pd.DataFrame({kk: str(getattr(row, kk)) for kk in SAMPLE_KEYS}, index=[f"{sid}:{i:05d}" for i in range(n)])
        o["true_cell_type"] = np.array(CELL_TYPES)[types[:n]]
        o["true_doublet"] = dbl
        o["true_damaged"] = damaged[:n]
        o["true_malignant"] = is_mal[:n]
        o["true_cnv"] = np.where(is_mal[:n], ",".join(clones[str(row.patient_id)]), "")
        obs_parts.append(o)
        realised.append({"sample_id": sid, "n_cells": n, "responder": responder, "post_treatment": post})
        malignant.append({"sample_id": sid, "patient_id": str(row.patient_id), "tissue": str(row.tissue),
                          "malignant_share_prior": list(share) if isinstance(share, tuple) else share,
                          "n_thyrocytes": int((types[:n] == t_thy).sum()),
                          "n_malignant": int(is_mal[:n].sum()), "segments": list(clones[str(row.patient_id)])})
    obs = pd.concat(obs_parts)
    if not keep_truth:
        obs = obs[SAMPLE_KEYS]
    a = ad.AnnData(X=sparse.vstack(blocks).tocsr(), obs=obs, var=pd.DataFrame(index=pd.Index(genes, name=None)))
    truth = {
        "effects_planted": bool(effects),
        "cell_types": CELL_TYPES,
        "n_genes": G,
        "responder_definition": "cohort == 'neoadjuvant' and objective_response_latent == 1 (truth_patients.csv)",
        "composition_effects": [
            {"cell_type": "cd8_t_effector", "who": "responders", "timepoints": list(_POST), "tissue": "tumour, lymph_node",
             "fold": 4.0},
            {"cell_type": "cd8_t_effector", "who": "responders", "timepoints": list(_POST), "tissue": "blood", "fold": 2.0},
            {"cell_type": "thyrocyte_tumour", "who": "responders", "timepoints": list(_POST), "tissue": "tumour", "fold": 0.35},
            {"cell_type": "cd8_t_exhausted", "who": "non-responders", "timepoints": ["baseline"],
             "tissue": "tumour, lymph_node", "fold": 3.0},
        ] if effects else [],
        "expression_effects": {
            "tls_chemokines": {"genes": _TLS_GENES, "fold": 3.0, "who": "responders", "timepoints": list(_POST),
                               "cell_types": "all"},
            "de_cell_type": "cd8_t_effector", "de_genes_up": up, "de_genes_down": down, "de_log2fc": 1.0,
            "de_who": "neoadjuvant patients", "de_timepoints": list(_POST),
        } if effects else {},
        "doublet_rate": doublet_rate, "damaged_rate": damaged_rate,
        "samples": realised,
        "malignant": {
            "cell_type": "thyrocyte_tumour", "obs_columns": ["true_malignant", "true_cnv"],
            "segments": {k: {"chromosome": c, "start": b, "end": e, "copy_ratio": r}
                         for k, (c, b, e, r, _) in CNV_SEGMENTS.items()},
            "n_genes_in_segment": {k: int((np.abs(ratios[k] - 1) > 0).sum()) for k in CNV_SEGMENTS},
            "cnv_quiet_share": CNV_QUIET,
            "malignant_share_beta": {"tumour": list(_MALIGNANT_SHARE["tumour"]),
                                     "tumour, responders after treatment": list(_MALIGNANT_SHARE["tumour_responder_post"])
                                     if effects else list(_MALIGNANT_SHARE["tumour"]),
                                     "lymph_node": "all thyroid cells malignant (metastasis)"},
            "clones": {p: list(c) for p, c in clones.items()},
            "samples": malignant,
        },
    }
    return a, truth


def _clone(seed: int, patient: str) -> tuple[str, ...]:
    """The patient's planted segments: none (CNV-quiet, probability :data:`CNV_QUIET`), else 1–3 of
    :data:`CNV_SEGMENTS` drawn by weight without replacement (1: 0.4, 2: 0.4, 3: 0.2)."""
    rng = _stream(seed, "sc_cnv_clone_" + patient)
    if rng.random() < CNV_QUIET:
        return ()
    names = list(CNV_SEGMENTS)
    w = np.array([CNV_SEGMENTS[s][4] for s in names])
    k = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
    pick = rng.choice(len(names), size=k, replace=False, p=w / w.sum())
    return tuple(names[i] for i in sorted(pick))


def _segment_ratios(genes: list[str]) -> dict[str, np.ndarray]:
    """Per segment, the copy ratio of every gene of the panel (1 outside it or without position)."""
    from latc.omics.sc._genome import load_gene_positions

    pos = load_gene_positions().drop_duplicates("gene").set_index("gene").reindex(genes)
    out = {}
    for name, (chrom, start, end, ratio, _) in CNV_SEGMENTS.items():
        inside = (pos["chromosome"] == chrom) & (pos["start"] >= start) & ((pos["start"] <= end) if end else True)
        out[name] = np.where(inside.fillna(False).to_numpy(dtype=bool), ratio, 1.0)
    return out


def _malignant_share(tissue: str, responder_post: bool) -> tuple[float, float] | float:
    if tissue == "lymph_node":
        return 1.0
    if tissue != "tumour":
        return 0.0
    return _MALIGNANT_SHARE["tumour_responder_post" if responder_post else "tumour"]


def plant_malignant(X: np.ndarray, lam: np.ndarray, candidates: np.ndarray, clone: tuple[str, ...],
                    ratios: dict[str, np.ndarray], *, share: tuple[float, float] | float,
                    rng: np.random.Generator) -> np.ndarray:
    """Make a share of the ``candidates`` (thyrocytes) malignant and give them the ``clone``'s
    copy-number changes, in place on the counts ``X`` drawn with means ``lam`` (cells × genes).

    ``share``: a fixed probability or Beta parameters (one draw per sample). Gained genes get
    Poisson(λ·(r − 1)) extra counts, lost genes are thinned with probability r, so a malignant
    cell's count of gene g is Poisson(λ·r_g) given the same cell-level draws. Uses only ``rng``
    (the caller's own stream). Returns the malignant mask.
    """
    p = float(rng.beta(*share)) if isinstance(share, tuple) else float(share)
    mal = candidates & (rng.random(X.shape[0]) < p)
    if not clone or not mal.any():
        return mal
    r = np.prod([ratios[s] for s in clone], axis=0)
    rows = np.flatnonzero(mal)
    gain, loss = np.flatnonzero(r > 1), np.flatnonzero(r < 1)
    if gain.size:
        X[np.ix_(rows, gain)] += rng.poisson(lam[np.ix_(rows, gain)] * (r[gain] - 1)).astype(X.dtype)
    if loss.size:
        X[np.ix_(rows, loss)] = rng.binomial(X[np.ix_(rows, loss)], r[loss]).astype(X.dtype)
    return mal


def add_center_effect(adata: ad.AnnData, sd: float = 0.25, *, seed: int, key: str = "center_id") -> None:
    """A technical center (batch) effect on simulated counts, in place: per center and gene a factor
    exp(N(0, ``sd``)), rescaled so the largest per gene is 1 and applied by binomial thinning of
    the counts (they stay counts, so normalise → HVG → PCA run unchanged). Used to test and
    benchmark batch correction; ``simulate_counts`` itself has no center effect."""
    rng = np.random.default_rng(seed)
    centers = sorted(adata.obs[key].unique())
    b = rng.normal(0, sd, (len(centers), adata.n_vars))
    p = np.exp(b - b.max(axis=0))                      # thinning probabilities ≤ 1
    X = sparse.csr_matrix(adata.X)
    codes = pd.Categorical(adata.obs[key], categories=centers).codes
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    X.data = rng.binomial(X.data, p[codes[rows], X.indices]).astype(X.data.dtype)
    X.eliminate_zeros()
    adata.X = X


def _choose(manifest: pd.DataFrame, latent: pd.DataFrame, n_samples: int, seed: int) -> pd.DataFrame:
    """A seeded subset favouring neoadjuvant patients with paired (same-tissue) samples."""
    rng = _stream(seed, "sc_choose")
    m = manifest.merge(latent[["patient_id", "cohort", "objective_response_latent"]], on="patient_id", how="left")
    pairs = m.groupby(["patient_id", "tissue"])["timepoint"].transform("nunique") >= 2
    m["rank"] = np.where(pairs & (m["cohort"] == "neoadjuvant"), 0, 1)
    pts = m.groupby("patient_id")["rank"].min()
    order = pd.DataFrame({"patient_id": pts.index, "rank": pts.to_numpy(), "u": rng.random(len(pts))}).sort_values(["rank", "u"])
    m = m.set_index("patient_id").loc[order["patient_id"]].reset_index()
    return m.head(n_samples)


def write_scrna(manifest: pd.DataFrame, latent: pd.DataFrame, tables: dict, study_dir: Path, *, seed: int,
                scale: float = 1.0) -> dict:
    """Registry writer: an ``.h5ad`` of raw counts at each chosen sample's ``file_ref`` and, beside
    it, the library's paired TCR contigs (``<stem>_filtered_contig_annotations.csv``,
    :func:`latc.omics.sc._tcr_synth.write_vdj`; truth under ``truth["tcr"]``).

    Default size: 40 samples × ~400 cells (a seeded subset favouring paired samples of neoadjuvant
    patients); ``scale`` multiplies the number of samples (up to all of them), then the cells per
    sample. Samples not chosen keep their manifest entry without a file (read them with
    ``missing="skip"`` / ``--skip-missing``).
    """
    study_dir = Path(study_dir)
    total = len(manifest)
    want = max(1, int(np.ceil(40 * scale)))
    n_samples = min(total, want)
    cells = int(round(400 * max(1.0, want / max(total, 1))))
    chosen = _choose(manifest, latent, n_samples, seed)
    chosen["neoadjuvant"] = chosen["cohort"].eq("neoadjuvant").fillna(False).astype(bool)
    resp = pd.to_numeric(chosen["objective_response_latent"], errors="coerce") == 1
    chosen["responder"] = pd.Series([bool(r) if neo else None for r, neo in zip(resp, chosen["neoadjuvant"])],
                                    index=chosen.index, dtype=object)
    a, truth = simulate_counts(chosen, seed=seed, cells_per_sample=cells)
    files = {}
    for sid, fref in zip(chosen["sample_id"].astype(str), chosen["file_ref"].astype(str)):
        part = a[(a.obs["sample_id"] == sid).to_numpy()]
        out = ad.AnnData(X=part.X.copy(), obs=part.obs[SAMPLE_KEYS].copy(), var=part.var.copy())
        out.obs_names = [n.split(":", 1)[1] for n in out.obs_names]
        path = study_dir / fref
        path.parent.mkdir(parents=True, exist_ok=True)
        out.write_h5ad(path, compression="gzip")
        files[sid] = fref
    # paired T-cell receptor contigs beside each library (10x filtered_contig_annotations.csv)
    from latc.omics.sc._tcr_synth import write_vdj

    truth["tcr"] = write_vdj(a.obs, dict(zip(chosen["patient_id"].astype(str), chosen["responder"])), study_dir, files,
                             seed=seed)
    truth["n_samples_written"] = len(files)
    truth["n_samples_in_manifest"] = total
    truth["cells_per_sample_target"] = cells
    truth["true_cell_counts"] = (a.obs.groupby(["sample_id", "true_cell_type"], observed=True).size()
                                 .unstack(fill_value=0).astype(int).to_dict(orient="index"))
    return truth
