"""Malignant versus normal epithelial cells from inferred copy-number profiles (infercnvpy).

A tumour sample mixes cancer cells with normal thyroid epithelium; immune fractions and tumour-
intrinsic programmes (TDS, ERK, resistance signatures) need the split. Marker genes cannot make it
(both are thyrocytes), copy-number changes can (Tirosh et al., *Science* 2016;352:189; Puram et al.,
*Cell* 2017;171:1611; the thyroid atlases of Pu 2021 and Lu 2023 do the same with inferCNV).

Method (:func:`call_malignant`; docs/omics/malignant_cells.md has the reasoning and the numbers):

1. **Profiles.** Genes are placed on the genome (:func:`latc.omics.sc._genome.add_gene_positions`:
   ``var``'s own positions, a table or GTF given, else the shipped GRCh38 panel table); chrX/Y are
   left out. Reference = the mean log-expression of each reference lineage (immune and stromal;
   at most ``max_reference_cells`` per clone group, seeded), per ``batch_key`` (center: a
   center's technical gene factors then cancel) with the pooled mean for a lineage with fewer
   than 20 cells there. ``infercnvpy.tl.infercnv`` per clone group and batch: infercnvpy's bounded
   difference (zero between the lowest and the highest lineage mean, so a gene of one reference
   lineage's programme does not count), clipped at ``lfc_clip``, pyramid-weighted running mean of
   ``window_size`` genes along each chromosome (default ``n_genes / 40`` within 11–101: ≈ 100 on a
   transcriptome, 25 on the 1,000-gene synthetic panel) every ``step`` genes, centred per cell; no
   dynamic noise threshold (infercnvpy computes it per chunk of cells, so it would depend on the
   sample's composition).
2. **Epithelial baseline B.** Normal epithelium is not in the reference and differs from it by
   cell type, so its profile is not flat (thyroid genes lift their windows): a baseline shared by
   every patient, while a tumour clone adds copy-number segments that differ between patients.
   ``baseline="split"``: in each sample (not patient: a patient's samples differ by more than the
   clone) the epithelial profiles are split in two (2-means on the top 3 principal components);
   where at least ``min_windows`` windows differ between the halves (Welch |t| ≥ ``split_t`` and
   by ≥ ``min_effect``), the half closer to zero on them is taken as normal; B = window-wise
   median of the normal halves' means over the samples that split. A mis-split sample moves the
   median little; a change present in most patients' tumours does not enter B as long as their
   samples split. ``baseline="reference"``: B = 0, for a reference that contains
   normal cells of the called type (known-normal thyroid epithelium; oligodendrocytes in the
   glioma check).
3. **Clone.** Per clone group (``clone_key``, default the patient: a patient's samples share the
   tumour, so a post-treatment sample with few tumour cells is read against the clone its baseline
   sample shows), P = mean of (profile − B) over its epithelial cells. Altered windows: |P| ≥
   ``window_z`` standard errors and ≥ max(``min_clone_shift``, ``relative_shift`` × max |P|); runs
   of them shorter than one window width must shift P by ≥ ``min_segment_shift`` (a baseline
   error or sample-level expression noise shifts few windows a little; an arm-level change many).
   No altered window (fewer than ``min_windows``): no clone detected.
4. **Cell score.** ``cnv_score`` = the cell's mean of (profile − B) over the altered windows,
   signed by P (log-expression units: the clone's cells score like its mean shift, normal cells
   ≈ 0). ``cnv_z`` = robust z (median, 1.4826 × MAD) against a null from the group's own
   epithelial cells at windows without the clone's changes — the altered-window mask rotated
   along the genome, keeping one window width away from altered windows — so the null has these
   cells' depth and cell type. When the clone covers so much of the genome that fewer than 10
   rotations are clean: zero-centred (a reference-like cell scores 0) with the spread of the
   group's scores (conservative when the group is mixed).
5. **Call** (epithelial cells): ``malignant`` if ``cnv_z ≥ z_malignant`` (2), ``normal`` if
   ``cnv_z < z_normal`` (1), else ``undetermined``; every epithelial cell of a group without a
   detected clone is ``undetermined`` — a CNV-quiet tumour (most PTCs) and tumour-free epithelium
   look alike to copy number; other cells are ``not_epithelial``. The thresholds were calibrated
   on the synthetic data (docs/omics/malignant_cells.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from latc.omics._manifest import OmicsInputError
from latc.omics.sc._genome import add_gene_positions

__all__ = ["MALIGNANT_LABELS", "REFERENCE_LINEAGES", "MalignantResult", "call_malignant", "summarise_malignant"]

#: categories of ``obs["malignant"]``
MALIGNANT_LABELS = ("malignant", "normal", "undetermined", "not_epithelial")
#: the reference lineages of the shipped marker table (immune and stromal)
REFERENCE_LINEAGES = ("t_nk", "b_plasma", "myeloid", "stromal")
_MIN_LINEAGE_CELLS = 20


@dataclass
class MalignantResult:
    """What :func:`call_malignant` found besides the ``obs`` columns: the per-sample summary, the
    per-group clone segments, the epithelial baseline and the parameters used."""

    summary: pd.DataFrame
    segments: pd.DataFrame
    baseline: np.ndarray | None
    params: dict = field(default_factory=dict)


def _auto_window(n_genes: int) -> int:
    w = int(np.clip(n_genes // 40, 11, 101))
    return w if w % 2 else w + 1


def _log_expression(adata: AnnData, rows: np.ndarray, layer: str | None):
    from latc.omics.sc._qc import _is_counts

    X: Any = adata.layers[layer] if layer else adata.X
    X = X[rows]
    X = sparse.csr_matrix(X, dtype=np.float32) if sparse.issparse(X) else np.asarray(X, dtype=np.float32)
    if _is_counts(X):  # raw counts: normalise to 10,000 per cell and log1p, as latc.omics.sc.normalise
        tot = np.asarray(X.sum(axis=1)).ravel()
        scale = np.divide(1e4, tot, out=np.zeros_like(tot, dtype=np.float64), where=tot > 0)
        X = sparse.diags(scale.astype(np.float32)) @ X if sparse.issparse(X) else X * scale[:, None]
        X = X.log1p() if sparse.issparse(X) else np.log1p(X)
    return X


def _window_positions(var: pd.DataFrame, chr_pos: dict, window: int, step: int, n_windows: int) -> pd.DataFrame:
    """Chromosome and genomic span of each infercnvpy window (its genes sorted by start)."""
    chroms = sorted(chr_pos, key=lambda c: chr_pos[c])
    rows = []
    for k, c in enumerate(chroms):
        end_idx = chr_pos[chroms[k + 1]] if k + 1 < len(chroms) else n_windows
        g = var.loc[var["chromosome"] == c].sort_values("start")
        starts, ends = g["start"].to_numpy(), g["end"].to_numpy()
        n_win = int(end_idx - chr_pos[c])
        for j in range(n_win):
            lo = j * step if len(g) > window else 0
            hi = min(lo + window, len(g)) - 1
            rows.append((c, float(starts[lo]), float(ends[hi])))
    return pd.DataFrame(rows, columns=["chromosome", "start", "end"])


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if sparse.issparse(X) else X, dtype=np.float32)


def _infercnv(X, var: pd.DataFrame, reference: np.ndarray, window: int, step: int, lfc_clip: float):
    import infercnvpy as cnv

    a = AnnData(X=X, var=var)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chr_pos, res, _ = cnv.tl.infercnv(a, reference=reference, window_size=window, step=step, lfc_clip=lfc_clip,
                                          dynamic_threshold=None, exclude_chromosomes=("chrX", "chrY"),
                                          chunksize=2000, n_jobs=1, inplace=False)
    return chr_pos, np.asarray(res.toarray() if sparse.issparse(res) else res, dtype=np.float64)


def _robust(x: np.ndarray) -> tuple[float, float]:
    med = float(np.median(x))
    mad = 1.4826 * float(np.median(np.abs(x - med)))
    return med, (mad if mad > 0 else float(np.std(x)) or 1.0)


def _split_baseline(Z: np.ndarray, *, seed: int, split_t: float, min_effect: float, min_windows: int,
                    min_group: int) -> np.ndarray | None:
    """The normal half's mean profile when a sample's epithelial profiles split in two (2-means on
    the top 3 principal components) with at least ``min_windows`` windows clearly different between
    the halves (Welch |t| ≥ ``split_t`` and ≥ ``min_effect``); the normal half is the one closer to
    zero on those windows. None when they do not split."""
    from sklearn.cluster import KMeans
    from sklearn.utils.extmath import randomized_svd

    if Z.shape[0] < 2 * min_group:
        return None
    Y = Z - Z.mean(axis=0)
    U, S, _ = randomized_svd(Y, 3, random_state=seed)
    pcs = U * S
    lab = KMeans(n_clusters=2, n_init=4, random_state=seed).fit_predict(pcs)
    g = [Z[lab == k] for k in (0, 1)]
    if min(len(g[0]), len(g[1])) < min_group:
        return None
    m = [x.mean(axis=0) for x in g]
    se = np.sqrt(g[0].var(axis=0, ddof=1) / len(g[0]) + g[1].var(axis=0, ddof=1) / len(g[1]))
    diff = m[0] - m[1]
    w = (np.abs(diff) >= split_t * np.maximum(se, 1e-12)) & (np.abs(diff) >= min_effect)
    if w.sum() < min_windows:
        return None
    return m[int(np.argmin([np.abs(m[0][w]).mean(), np.abs(m[1][w]).mean()]))]


def _rotation_null(E: np.ndarray, alt: np.ndarray, sgn: np.ndarray, *, guard: int, n_rot: int = 60,
                   min_rot: int = 10) -> np.ndarray | None:
    """The score of the group's own epithelial cells at genome positions without the clone's
    changes: the altered-window mask (with its signs) rotated along the genome by offsets whose
    windows stay ≥ ``guard`` windows away from every altered one. Noise matched to these cells
    (depth, cell type), unlike reference cells; pooled over cells and offsets."""
    n = E.shape[1]
    near = np.zeros(n, dtype=bool)
    for i in alt:
        near[max(0, i - guard):i + guard + 1] = True
    ok = [k for k in range(1, n) if not near[(alt + k) % n].any()]
    if len(ok) < min_rot:  # the clone covers most of the genome: no clean position to compare with
        return None
    ks = np.asarray(ok)[np.linspace(0, len(ok) - 1, min(n_rot, len(ok))).astype(int)]
    return np.concatenate([(E[:, (alt + k) % n] * sgn).mean(axis=1) for k in ks])


def _segments(wpos: pd.DataFrame, altered: np.ndarray, P: np.ndarray) -> list[dict]:
    """Runs of consecutive altered windows of one sign on one chromosome."""
    out: list[dict] = []
    cur: dict | None = None
    for i in np.flatnonzero(altered):
        c, s, e = wpos.iloc[i]
        sign = "gain" if P[i] > 0 else "loss"
        if cur and cur["chromosome"] == c and cur["kind"] == sign and cur["last"] == i - 1:
            cur.update(end=max(cur["end"], e), last=i, n_windows=cur["n_windows"] + 1)
            cur["windows"].append(i)
            continue
        if cur:
            out.append(cur)
        cur = {"chromosome": c, "start": s, "end": e, "kind": sign, "n_windows": 1, "last": i, "windows": [i]}
    if cur:
        out.append(cur)
    for r in out:
        r["mean_shift"] = float(np.mean(P[r["windows"]]))
        r.pop("last")
    return out


def _segment_label(seg: list[dict]) -> str:
    return "; ".join(f"{r['chromosome']}:{r['start'] / 1e6:.1f}-{r['end'] / 1e6:.1f}Mb {r['kind']}" for r in seg)


def call_malignant(adata: AnnData, *, reference_key: str = "lineage",
                   reference_cats: Sequence[str] = REFERENCE_LINEAGES, epithelial_key: str | None = None,
                   epithelial_cats: Sequence[str] = ("epithelial",), sample_key: str = "sample_id",
                   clone_key: str | None = "patient_id", gene_positions: pd.DataFrame | str | None = None,
                   layer: str | None = None, window_size: int | None = None, step: int | None = None,
                   lfc_clip: float = 3.0, baseline: str = "split", batch_key: str | None = "center_id", max_reference_cells: int = 1000,
                   min_epithelial_cells: int = 10, window_z: float = 4.0,
                   min_effect: float = 0.1, min_clone_shift: float = 0.04, relative_shift: float = 1 / 3,
                   min_segment_shift: float = 0.08,
                   min_windows: int = 3, split_t: float = 5.0,
                   z_malignant: float = 2.0, z_normal: float = 1.0, seed: int = 0) -> MalignantResult:
    """Call malignant epithelial cells per sample from inferred copy-number profiles (in place).

    ``adata``: log-normalised expression in ``X`` (or ``layer``; raw counts are normalised on a
    copy), gene symbols as ``var_names``; ``obs[reference_key]`` labels the reference cells
    (``reference_cats``: immune and stromal lineages of :func:`latc.omics.sc.annotate`) and
    ``obs[epithelial_key]`` (default: ``reference_key``) the cells to call (``epithelial_cats``).
    ``clone_key``: cells sharing a tumour clone (default the patient; None = each sample alone).
    ``batch_key``: reference means per batch (default ``center_id``; pooled when absent).
    ``gene_positions``: None (``var``'s own, else the shipped GRCh38 panel table), a table
    (gene, chromosome, start, end) or a GTF path. ``baseline``: ``"split"`` (estimate the normal-
    epithelium profile, module docs) or ``"reference"`` (the reference includes normal cells of
    the called type). Steps, rules and defaults: module docstring.

    Adds ``obs`` columns ``cnv_score`` (mean copy-number deviation over the clone's altered
    windows, signed by the clone), ``cnv_z`` (robust z against the null of step 4), ``malignant``
    (categorical :data:`MALIGNANT_LABELS`; scores NaN where not scored), ``obsm["X_cnv"]``
    (CSR: epithelial profiles minus B, reference cells' profiles, zero rows for other cells) and ``uns["cnv"]`` (``chr_pos`` for
    ``infercnvpy.pl.chromosome_heatmap``, ``window``, ``step``) and ``uns["latc_malignant"]``
    (parameters, gene-position coverage, baseline record). Returns a :class:`MalignantResult`
    whose ``summary`` has one row per sample (:func:`summarise_malignant`).

    Errors (:class:`OmicsInputError`): missing obs columns, no reference cell, fewer than 200 genes
    with a position. Reference categories absent from the data are skipped (recorded).
    """
    if baseline not in ("split", "reference"):
        raise ValueError("baseline must be 'split' or 'reference'")
    epithelial_key = epithelial_key or reference_key
    for col in dict.fromkeys([reference_key, epithelial_key, sample_key] + ([clone_key] if clone_key else [])):
        if col not in adata.obs:
            raise OmicsInputError(f"obs has no column {col!r} (needed to call malignant cells); obs columns: "
                                  f"{', '.join(map(str, adata.obs.columns[:20]))}")
    ref_lab = adata.obs[reference_key].astype(str).to_numpy()
    absent = [c for c in reference_cats if c not in set(ref_lab)]
    if len(absent) == len(reference_cats):
        raise OmicsInputError(f"no reference cell: none of {list(reference_cats)} in obs[{reference_key!r}]")
    is_ref = np.isin(ref_lab, list(reference_cats))
    is_epi = np.isin(adata.obs[epithelial_key].astype(str).to_numpy(), list(epithelial_cats)) & ~is_ref

    # gene positions on a light copy of var (object index: infercnvpy 0.6.1 fails on pandas' arrow strings)
    var0 = pd.DataFrame(adata.var)
    tmp = AnnData(obs=pd.DataFrame(index=adata.obs_names[:1]), var=var0.drop(
        columns=[c for c in ("chromosome", "start", "end") if c in var0 and gene_positions is not None]))
    coverage = add_gene_positions(tmp, gene_positions)
    var = tmp.var[["chromosome", "start", "end"]].copy()
    var.index = pd.Index([str(g) for g in var.index], dtype=object)
    placed = var["chromosome"].notna().to_numpy() & ~var["chromosome"].isin(["chrX", "chrY", "chrM"]).to_numpy()
    var = var[placed]
    gcols = np.flatnonzero(placed)
    window = int(window_size or _auto_window(int(placed.sum())))
    step = int(step or max(1, window // 10))

    groups = (adata.obs[clone_key] if clone_key else adata.obs[sample_key]).astype(str).to_numpy()
    has_batch = bool(batch_key) and batch_key in adata.obs
    batches = adata.obs[batch_key].astype(str).to_numpy() if has_batch else np.full(adata.n_obs, "all")
    cats = [c for c in reference_cats if c not in absent]
    rng = np.random.default_rng(seed)
    # reference cells used: at most max_reference_cells per clone group (seeded)
    use_ref = np.zeros(adata.n_obs, dtype=bool)
    for gname in np.unique(groups[is_ref]):
        idx = np.flatnonzero(is_ref & (groups == gname))
        use_ref[rng.choice(idx, size=min(len(idx), max_reference_cells), replace=False)] = True
    rows_ref = np.flatnonzero(use_ref)
    Xr = _log_expression(adata, rows_ref, layer)[:, gcols]

    def means(sel: np.ndarray, fallback: dict | None) -> dict:
        """Lineage means of the reference cells in ``sel`` (rows of ``Xr``); ``fallback``'s below 20 cells."""
        out = {}
        for c in cats:
            m = sel & (ref_lab[rows_ref] == c)
            if fallback is not None and m.sum() < _MIN_LINEAGE_CELLS:
                out[c] = fallback[c]
            else:
                out[c] = np.asarray(Xr[m].mean(axis=0)).ravel() if m.any() else np.zeros(len(gcols))
        return out

    pooled = means(np.ones(len(rows_ref), dtype=bool), None)
    ref_batch = {b: means(batches[rows_ref] == b, pooled) for b in np.unique(batches)}

    def stack(d: dict) -> np.ndarray:
        return np.vstack([d[c] for c in cats])

    # profiles per batch against that batch's lineage means (a cell's profile depends only on its own
    # expression and the reference, so one call per batch gives every clone group's cells)
    rows_epi = np.flatnonzero(is_epi)
    pos_epi = np.full(adata.n_obs, -1)
    pos_epi[rows_epi] = np.arange(len(rows_epi))
    epi_prof = np.zeros((len(rows_epi), 0), dtype=np.float32)
    ref_prof = np.zeros((len(rows_ref), 0), dtype=np.float32)
    chr_pos: dict = {}
    for b in np.unique(batches[is_epi | use_ref]):
        rows_e = np.flatnonzero(is_epi & (batches == b))
        sel_r = batches[rows_ref] == b
        X = _log_expression(adata, rows_e, layer)[:, gcols]
        X = sparse.vstack([X, Xr[sel_r]]).tocsr() if sparse.issparse(X) else np.vstack([X, _dense(Xr[sel_r])])
        chr_pos, M = _infercnv(X, var, stack(ref_batch[b]), window, step, lfc_clip)
        if ref_prof.shape[1] == 0:
            epi_prof = np.zeros((len(rows_epi), M.shape[1]), dtype=np.float32)
            ref_prof = np.zeros((len(rows_ref), M.shape[1]), dtype=np.float32)
        epi_prof[pos_epi[rows_e]] = M[: len(rows_e)]
        ref_prof[sel_r] = M[len(rows_e):]
    profiles: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # clone group → (epithelial rows, profiles)
    for gname in np.unique(groups[is_epi]):
        rows = np.flatnonzero(is_epi & (groups == gname))
        profiles[gname] = (rows, epi_prof[pos_epi[rows]].astype(np.float64))
    n_win = ref_prof.shape[1]
    wpos = _window_positions(var, chr_pos, window, step, n_win) if n_win else pd.DataFrame()

    # 2. epithelial baseline
    B = np.zeros(n_win)
    base_rec: dict = {"method": baseline, "n_samples_split": 0}
    if baseline == "split" and profiles:
        found = []
        samples = adata.obs[sample_key].astype(str).to_numpy()
        for gname, (rows, M) in profiles.items():
            for smp in np.unique(samples[rows]):  # per sample: samples of one patient differ by more than clone
                b = _split_baseline(M[samples[rows] == smp], seed=seed, split_t=split_t, min_effect=min_effect,
                                    min_windows=min_windows, min_group=min_epithelial_cells)
                if b is not None:
                    found.append(b)
        base_rec["n_samples_split"] = len(found)
        if found:
            B = np.median(np.vstack(found), axis=0)
        else:
            base_rec["note"] = ("no sample split into normal and altered epithelium: baseline 0 (the reference); "
                                "normal epithelium may score as altered")
            warnings.warn("call_malignant: " + base_rec["note"], UserWarning, stacklevel=2)
    base_rec["rms"] = float(np.sqrt(np.mean(B ** 2))) if n_win else 0.0

    # 3–4. clone, scores, calls
    score = np.full(adata.n_obs, np.nan)
    zs = np.full(adata.n_obs, np.nan)
    label = np.where(is_epi, "undetermined", "not_epithelial").astype(object)
    seg_rows, group_info = [], {}
    guard = max(1, window // step)
    for gname, (rows, M) in profiles.items():
        E = M - B
        epi_prof[pos_epi[rows]] = E
        info = {"clone_detected": False, "n_altered_windows": 0, "segments": "", "null": ""}
        group_info[gname] = info
        if len(E) < min_epithelial_cells:
            info["note"] = f"fewer than {min_epithelial_cells} epithelial cells"
            continue
        P = E.mean(axis=0)
        se = E.std(axis=0, ddof=1) / np.sqrt(len(E))
        shift = max(min_clone_shift, relative_shift * float(np.abs(P).max()))
        alt = (np.abs(P) >= window_z * np.maximum(se, 1e-12)) & (np.abs(P) >= shift)
        # a change spans a window's worth of genes, or shifts the group's mean by ≥ min_segment_shift
        segs = [r for r in _segments(wpos, alt, P)
                if r["n_windows"] >= guard or abs(r["mean_shift"]) >= min_segment_shift]
        alt = np.zeros(n_win, dtype=bool)
        for r in segs:
            alt[r.pop("windows")] = True
        info["n_altered_windows"] = int(alt.sum())
        if alt.sum() < min_windows:
            continue
        info.update(clone_detected=True, segments=_segment_label(segs))
        seg_rows += [{"group": gname, **r} for r in segs]
        sgn = np.sign(P[alt])
        s_epi = (E[:, alt] * sgn).mean(axis=1)
        null = _rotation_null(E, np.flatnonzero(alt), sgn, guard=guard)
        info["null"] = "rotation"
        if null is None:  # the clone covers most of the genome: a zero-centred null (a reference-like
            # cell scores 0) with the spread of the group's own scores (conservative when it is mixed)
            null = np.concatenate([-s_epi + np.median(s_epi), s_epi - np.median(s_epi)])
            info["null"] = "zero-centred, spread of the group's scores"
        med, sd = _robust(null)
        z = (s_epi - med) / sd
        score[rows], zs[rows] = s_epi, z
        label[rows] = np.where(z >= z_malignant, "malignant", np.where(z < z_normal, "normal", "undetermined"))

    adata.obs["cnv_score"] = score
    adata.obs["cnv_z"] = zs
    adata.obs["malignant"] = pd.Categorical(label, categories=list(MALIGNANT_LABELS))
    # CSR with the profiled rows only (epithelial minus B, reference cells); zero rows elsewhere
    prof_rows = np.concatenate([rows_epi, rows_ref])
    place = sparse.csr_matrix((np.ones(len(prof_rows), dtype=np.float32), (prof_rows, np.arange(len(prof_rows)))),
                              shape=(adata.n_obs, len(prof_rows)))
    adata.obsm["X_cnv"] = (place @ sparse.csr_matrix(np.vstack([epi_prof, ref_prof]))).tocsr()
    adata.uns["cnv"] = {"chr_pos": {k: int(v) for k, v in chr_pos.items()}, "window": window, "step": step}
    params = {"reference_key": reference_key, "reference_cats": list(reference_cats), "epithelial_key": epithelial_key,
              "epithelial_cats": list(epithelial_cats), "sample_key": sample_key, "clone_key": clone_key,
              "batch_key": batch_key if has_batch else None, "window_size": window, "step": step, "lfc_clip": lfc_clip, "baseline": baseline,
              "max_reference_cells": max_reference_cells,
              "min_epithelial_cells": min_epithelial_cells, "window_z": window_z, "min_effect": min_effect,
              "min_clone_shift": min_clone_shift, "relative_shift": relative_shift,
              "min_segment_shift": min_segment_shift, "min_windows": min_windows, "split_t": split_t, "z_malignant": z_malignant, "z_normal": z_normal,
              "seed": seed}
    segments = pd.DataFrame(seg_rows, columns=["group", "chromosome", "start", "end", "kind", "n_windows", "mean_shift"])
    # h5ad-safe record (no None): summarise_malignant reads the groups back after a save
    adata.uns["latc_malignant"] = _h5ad_safe({
        "params": params, "gene_positions": coverage, "genes_used": int(len(var)), "baseline": base_rec,
        "reference_cats_absent": absent, "groups": group_info})
    adata.uns["latc_malignant"]["segments"] = segments
    summary = summarise_malignant(adata, sample_key=sample_key, clone_key=clone_key)
    return MalignantResult(summary=summary, segments=segments, baseline=B if n_win else None, params=params)


def _h5ad_safe(v):
    if isinstance(v, dict):
        return {str(k): _h5ad_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_h5ad_safe(x) for x in v] if v else np.array([], dtype=str)
    return "" if v is None else v


def summarise_malignant(adata: AnnData, *, sample_key: str = "sample_id", clone_key: str | None = "patient_id",
                        group_info: dict | None = None) -> pd.DataFrame:
    """One row per sample from ``obs["malignant"]``: ``n_cells, n_epithelial, n_malignant, n_normal,
    n_undetermined, malignant_fraction`` (malignant / epithelial; NaN without epithelial cells),
    ``malignant_fraction_called`` (malignant / (malignant + normal)), the clone group's
    ``clone_detected``, ``n_altered_windows``, ``segments`` and the ``null`` its z-scores used
    (from ``group_info``, default ``uns["latc_malignant"]["groups"]`` written by
    :func:`call_malignant`, so it works on a saved ``adata.h5ad`` too); ``note`` says why a sample
    has no call."""
    if "malignant" not in adata.obs:
        raise OmicsInputError("obs has no 'malignant' column: run call_malignant first")
    if group_info is None:
        group_info = dict(adata.uns.get("latc_malignant", {}).get("groups", {})) or None
    o = adata.obs
    keys = [sample_key] + ([clone_key] if clone_key and clone_key != sample_key and clone_key in o else [])
    lab = o["malignant"].astype(str)
    t = pd.crosstab([o[k].astype(str) for k in keys], lab).reindex(columns=list(MALIGNANT_LABELS), fill_value=0)
    out = pd.DataFrame({"n_cells": t.sum(axis=1), "n_malignant": t["malignant"], "n_normal": t["normal"],
                        "n_undetermined": t["undetermined"]})
    out.insert(1, "n_epithelial", t[["malignant", "normal", "undetermined"]].sum(axis=1))
    out["malignant_fraction"] = (out["n_malignant"] / out["n_epithelial"]).where(out["n_epithelial"] > 0)
    called = out["n_malignant"] + out["n_normal"]
    out["malignant_fraction_called"] = (out["n_malignant"] / called).where(called > 0)
    out = out.reset_index()
    gcol = clone_key if clone_key and clone_key in out else sample_key
    if group_info is not None:
        gi = pd.DataFrame.from_dict(group_info, orient="index")
        for c in ("clone_detected", "n_altered_windows", "segments", "null"):
            out[c] = out[gcol].map(gi[c]) if c in gi else np.nan
        out["clone_detected"] = out["clone_detected"].astype("boolean")
    out["note"] = np.select(
        [out["n_epithelial"] == 0,
         out.get("clone_detected", pd.Series(True, index=out.index)).fillna(False).eq(False) & (out["n_epithelial"] > 0)],
        ["no epithelial cells", "no copy-number clone detected in this clone group (CNV-quiet tumour or no tumour "
                                "cells): epithelial cells undetermined"], default="")
    return out
