"""Synthetic spatial transcriptomics (assay ``spatial``) with planted, documented truths.

One Visium-like slide per sample: a hexagonal grid of spots (``n_side × n_side``, 30 × 30 at
``scale`` 1, centre-to-centre 100 µm as on 10x Visium) with

* **tumour regions** — 2–3 round nests of tumour cells (thyrocyte-derived) in a stroma of
  fibroblasts, endothelial cells and macrophages;
* **an immune pattern** — ``infiltrated`` (CD8 T cells scattered *inside* the tumour nests (40 % of
  nest spots), with an
  IFN-γ chemokine program: CXCL9/10/11, STAT1, IDO1), ``excluded`` (CD8 T cells in a stromal band
  1–3.5 spots *outside* the nests, none inside) or ``desert`` (few CD8 T cells anywhere) — the
  three immune phenotypes of Chen & Mellman (Nature 2017;541:321);
* **tertiary lymphoid structures (TLS)** — round B/T aggregates of 7–19 spots in the stroma
  (B 45 %, CD4 T 25 %, CD8 T 10 %) expressing the TLS chemokines (CCL19, CCL21, CXCL13 and the rest
  of the 12-chemokine signature, LAMP3, CCR7; Coppola 2011, Cabrita 2020).

Spot counts are a mixture of seven cell-type expression profiles over real gene symbols
(the markers of ``resources/spatial_markers.csv``, the TLS / cytotoxicity signatures of
``resources/spatial_signatures.csv``, shared T-cell genes and ~60 housekeeping / ribosomal
background genes). Cell types differ in RNA content (``CELL_SIZE``), so the share of a spot's RNA
differs from its share of cells; the planted *cell fractions* are the truth. Counts are
negative binomial (gamma–Poisson, dispersion ``1/NB_THETA``) around the mixture × a log-normal
spot depth.

**Planted association** (``effect`` = 1; ``effect`` = 0 gives a null cohort): the responder flag is
the patient's ``objective_response_latent`` (neoadjuvant cohort). At **surgery** (after neoadjuvant
therapy; the manifest has no on-treatment spatial samples, so the post-treatment tissue is the
resection) responders are mostly ``infiltrated`` (80 % vs 20 %) and carry more TLS
(1 + Poisson(2) vs Poisson(0.4)). Baseline samples and upfront-surgery patients follow the same
distribution whatever the response (``infiltrated`` / ``excluded`` / ``desert`` 35 / 35 / 30 %,
Poisson(0.8) TLS), i.e. a built-in null.

Besides one ``.h5ad`` per manifest row (raw counts in ``X``, ``obsm["spatial"]`` in µm,
``obs["array_row"/"array_col"]``, ``uns["spot_distance_um"]``), the writer writes a small
single-cell reference ``omics/spatial/sc_reference.h5ad`` (cells with ``obs["cell_type"]``)
simulated from the same profiles, for reference-based deconvolution.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from latc.omics.spatial._resources import spatial_markers, spatial_signatures

CELL_TYPES: list[str] = ["tumour", "fibroblast", "endothelial", "cd8_t", "cd4_t", "b_cell", "macrophage"]
#: relative RNA content per cell (larger tumour cells and macrophages, small lymphocytes)
CELL_SIZE: dict[str, float] = {"tumour": 1.6, "fibroblast": 1.2, "endothelial": 1.0, "cd8_t": 0.6,
                               "cd4_t": 0.6, "b_cell": 0.7, "macrophage": 1.4}
NB_THETA = 10.0           # NB size; variance = μ + μ²/θ
SPOT_DEPTH = 3000.0        # median UMI per spot
SPOT_DISTANCE_UM = 100.0   # Visium centre-to-centre spacing
PATTERNS = ("infiltrated", "excluded", "desert")
P_PATTERN_NULL = (0.35, 0.35, 0.30)
P_PATTERN_RESPONDER = (0.80, 0.10, 0.10)
P_PATTERN_NONRESPONDER = (0.20, 0.40, 0.40)
TLS_MEAN_NULL = 0.8
TLS_MEAN_NONRESPONDER = 0.4
TLS_RESPONDER_MIN, TLS_RESPONDER_EXTRA = 1, 2.0

_SHARED_T = ["CD3D", "CD3E", "CD2", "PTPRC"]
_IFN = ["CXCL9", "CXCL10", "CXCL11", "STAT1", "IDO1", "HLA-DRA", "CCL5"]
_BACKGROUND = (
    "ACTB GAPDH B2M TPT1 EEF1A1 MALAT1 FTL FTH1 TMSB4X TMSB10 PPIA PFN1 CFL1 MYL6 UBC UBB YWHAZ "
    "SRP14 NACA EIF1 HSP90AB1 HSPA8 VIM S100A6 RPL3 RPL4 RPL5 RPL7 RPL8 RPL10 RPL11 RPL13 RPL13A "
    "RPL14 RPL15 RPL18 RPL19 RPL21 RPL23 RPL27A RPL30 RPL32 RPL34 RPL35A RPL37 RPL39 RPL41 RPS2 "
    "RPS3 RPS3A RPS4X RPS6 RPS8 RPS12 RPS13 RPS14 RPS15A RPS18 RPS19 RPS23 RPS24 RPS27 RPS27A RPS29"
).split()
# TLS chemokine program: gene → relative level (Coppola 2011; Cabrita 2020; CCL19/CCL21/CXCL13 dominate)
_TLS_PROGRAM = {"CCL19": 8, "CCL21": 8, "CXCL13": 8, "LAMP3": 2, "CCR7": 2, "CCL2": 1, "CCL3": 1, "CCL4": 1,
                "CCL5": 1, "CCL8": 1, "CCL18": 1, "CXCL9": 1, "CXCL10": 1, "CXCL11": 1, "CXCR5": 1,
                "RBP5": 0.5, "CETP": 0.3, "SKAP1": 0.5, "CCR6": 0.5, "CD1D": 0.5}
_IFN_PROGRAM = {"CXCL9": 4, "CXCL10": 4, "CXCL11": 2, "STAT1": 2, "IDO1": 1.5, "HLA-DRA": 2, "CCL5": 2}
TLS_PROGRAM_SHARE = 0.04   # share of a TLS spot's RNA from the chemokine program
IFN_PROGRAM_SHARE = 0.15   # × the spot's CD8 fraction


@dataclass(frozen=True)
class Profiles:
    """Cell-type expression profiles (genes × cell types, columns sum to 1) and programs."""

    genes: list[str]
    matrix: pd.DataFrame          # genes × CELL_TYPES
    tls_program: np.ndarray       # over genes, sums to 1
    ifn_program: np.ndarray


@lru_cache(maxsize=1)
def cell_type_profiles() -> Profiles:
    """The fixed (seed-independent) profiles used by the simulator, derived from the shipped marker
    and signature tables: markers 30–60× the background median in their own type, 2 % leak elsewhere."""
    markers = spatial_markers()
    sigs = spatial_signatures()
    genes = list(dict.fromkeys(list(markers["gene"]) + _SHARED_T + list(sigs["gene"]) + _IFN + _BACKGROUND))
    rng = np.random.default_rng(zlib.crc32(b"latc-spatial-profiles"))
    g_idx = {g: i for i, g in enumerate(genes)}
    m = np.zeros((len(genes), len(CELL_TYPES)))
    bg = np.array([g_idx[g] for g in _BACKGROUND])
    base = rng.lognormal(2.0, 0.8, len(bg))
    m[bg, :] = base[:, None] * rng.lognormal(0, 0.2, (len(bg), len(CELL_TYPES)))
    m += 0.05  # every gene detectable at a low level
    for k, ct in enumerate(CELL_TYPES):
        mk = [g_idx[g] for g in markers.loc[markers["cell_type"] == ct, "gene"]]
        lvl = rng.uniform(30, 60, len(mk)) * 7.4
        m[mk, k] = lvl
        others = [j for j in range(len(CELL_TYPES)) if j != k]
        m[np.ix_(mk, others)] += 0.02 * lvl[:, None] * rng.uniform(0, 1, (len(mk), len(others)))
    col = {c: k for k, c in enumerate(CELL_TYPES)}
    for g in ("CD3D", "CD3E", "CD2"):
        m[g_idx[g], [col["cd8_t"], col["cd4_t"]]] = 250
    m[g_idx["PTPRC"], [col[c] for c in ("cd8_t", "cd4_t", "b_cell", "macrophage")]] = 200
    for g, cts, lvl in (("CCL5", ["cd8_t"], 150), ("CCL18", ["macrophage"], 60), ("CCL2", ["macrophage", "fibroblast"], 30),
                        ("CCL3", ["macrophage"], 20), ("CCL4", ["cd8_t", "macrophage"], 20), ("LAT", ["cd8_t", "cd4_t"], 40),
                        ("SKAP1", ["cd8_t", "cd4_t"], 30), ("CCR6", ["b_cell"], 30), ("CD1D", ["b_cell", "macrophage"], 15),
                        ("SELL", ["b_cell", "cd4_t"], 40), ("CXCR5", ["b_cell"], 30), ("CCR7", ["cd4_t", "b_cell"], 30),
                        ("PTGDS", ["fibroblast"], 20), ("EIF1AY", CELL_TYPES, 5), ("HLA-DRA", ["macrophage", "b_cell"], 150),
                        ("STAT1", CELL_TYPES, 10)):
        m[g_idx[g], [col[c] for c in cts]] = lvl
    m /= m.sum(axis=0, keepdims=True)

    def program(levels: dict[str, float]) -> np.ndarray:
        v = np.zeros(len(genes))
        for g, lvl in levels.items():
            v[g_idx[g]] = lvl
        return v / v.sum()

    return Profiles(genes, pd.DataFrame(m, index=genes, columns=CELL_TYPES), program(_TLS_PROGRAM), program(_IFN_PROGRAM))


def hex_grid(n_side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, col, xy)`` of a Visium-like hexagonal grid in units of the spot spacing."""
    row, col = np.divmod(np.arange(n_side * n_side), n_side)
    xy = np.column_stack([col + 0.5 * (row % 2), row * np.sqrt(3) / 2])
    return row, col, xy


@dataclass
class SimulatedSlide:
    """One simulated slide: the AnnData written to disk, the true cell fractions per spot and the
    planted summary (pattern, TLS)."""

    adata: ad.AnnData
    proportions: pd.DataFrame       # spots × CELL_TYPES (cell fractions, rows sum to 1)
    tls_label: np.ndarray           # 0 = no TLS, 1..n = planted TLS id
    tumour_region: np.ndarray       # bool per spot
    pattern: str
    summary: dict


def simulate_slide(rng: np.random.Generator, *, pattern: str, n_tls: int, n_side: int = 30,
                   obs: dict | None = None) -> SimulatedSlide:
    """Simulate one slide with the given immune ``pattern`` and (at most) ``n_tls`` TLS."""
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, not {pattern!r}")
    prof = cell_type_profiles()
    row, col, xy = hex_grid(n_side)
    n = len(xy)
    s = n_side / 30.0
    # tumour nests: 2–3 discs, radius 4.5–7 spots (× side/30), centres away from the edge
    n_nests = int(rng.integers(2, 4))
    d_tumour = np.full(n, np.inf)
    for _ in range(n_nests):
        c = rng.uniform(0.25, 0.75, 2) * np.array([n_side, n_side * np.sqrt(3) / 2])
        r = rng.uniform(4.5, 7.0) * s
        d_tumour = np.minimum(d_tumour, np.linalg.norm(xy - c, axis=1) - r)
    tumour = d_tumour <= 0
    dist_out = np.where(tumour, 0.0, d_tumour)  # distance (spots) from the nest edge

    base_tumour = np.array([0.72, 0.10, 0.05, 0.01, 0.03, 0.01, 0.08])
    base_stroma = np.array([0.04, 0.50, 0.16, 0.03, 0.08, 0.03, 0.16])
    target = np.where(tumour[:, None], base_tumour, base_stroma)
    ci = {c: k for k, c in enumerate(CELL_TYPES)}
    cd8_extra = np.zeros(n)
    if pattern == "infiltrated":
        inside = np.flatnonzero(tumour)
        hot = inside[rng.random(len(inside)) < 0.4]  # scattered among tumour cells
        cd8_extra[hot] = 0.2
        cd8_extra[~tumour & (dist_out <= 3)] = 0.05
    elif pattern == "excluded":
        target[tumour, ci["cd8_t"]] = 0.003
        cd8_extra[~tumour & (dist_out > 0.5) & (dist_out <= 3.5)] = 0.25
    else:
        target[:, ci["cd8_t"]] = 0.008
    target[:, ci["cd8_t"]] += cd8_extra

    # TLS in the stroma: centre ≥ 4.5 spots from tumour, ≥ 8 from another TLS, ≥ 2.5 from the edge
    # (fewer than planned when the slide has no room: the truth records the TLS placed)
    tls = np.zeros(n, dtype=int)
    edge = np.minimum.reduce([xy[:, 0], xy[:, 1], xy[:, 0].max() - xy[:, 0], xy[:, 1].max() - xy[:, 1]])
    centres: list[np.ndarray] = []
    cand = np.flatnonzero((dist_out >= 4.5) & (edge >= 2.5))
    rng.shuffle(cand)
    for i in cand:
        if len(centres) >= n_tls:
            break
        if all(np.linalg.norm(xy[i] - c) >= 8 for c in centres):
            centres.append(xy[i])
            r = rng.uniform(1.2, 2.2)
            tls[(np.linalg.norm(xy - xy[i], axis=1) <= r) & (tls == 0)] = len(centres)
    in_tls = tls > 0
    target[in_tls] = np.array([0.0, 0.08, 0.07, 0.10, 0.25, 0.45, 0.05])

    target /= target.sum(axis=1, keepdims=True)
    p = _dirichlet_rows(rng, 60 * target + 0.05)
    sizes = np.array([CELL_SIZE[c] for c in CELL_TYPES])
    w = p * sizes
    w /= w.sum(axis=1, keepdims=True)
    ifn_share = IFN_PROGRAM_SHARE * p[:, ci["cd8_t"]] * tumour
    tls_share = TLS_PROGRAM_SHARE * in_tls
    mix = (w * (1 - ifn_share - tls_share)[:, None]) @ prof.matrix.to_numpy().T
    mix += ifn_share[:, None] * prof.ifn_program + tls_share[:, None] * prof.tls_program
    depth = SPOT_DEPTH * rng.lognormal(0, 0.3, n)
    mu = depth[:, None] * mix
    counts = rng.poisson(rng.gamma(NB_THETA, mu / NB_THETA)).astype(np.float32)

    obs_df = pd.DataFrame({"array_row": row, "array_col": col}, index=[f"spot_{i:05d}" for i in range(n)])
    for k, v in (obs or {}).items():
        obs_df[k] = v
    a = ad.AnnData(X=counts, obs=obs_df, var=pd.DataFrame(index=prof.genes))
    a.obsm["spatial"] = xy * SPOT_DISTANCE_UM
    a.uns["spot_distance_um"] = SPOT_DISTANCE_UM
    props = pd.DataFrame(p, index=obs_df.index, columns=CELL_TYPES)
    tumour_cd8 = props.loc[tumour, "cd8_t"]
    summary = {
        "pattern": pattern,
        "tls_count": int(len(centres)),
        "tls_spots": int(in_tls.sum()),
        "n_spots": int(n),
        "tumour_spot_fraction": round(float(tumour.mean()), 4),
        "mean_proportions": {c: round(float(v), 4) for c, v in props.mean().items()},
        "cd8_fraction_in_tumour": round(float(tumour_cd8.mean()), 4) if len(tumour_cd8) else None,
        "tumour_spots_with_cd8_ge_0.1": round(float((tumour_cd8 >= 0.1).mean()), 4) if len(tumour_cd8) else None,
    }
    return SimulatedSlide(a, props, tls, tumour, pattern, summary)


def _dirichlet_rows(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    g = rng.gamma(alpha)
    return g / g.sum(axis=1, keepdims=True)


def simulate_reference(rng: np.random.Generator, n_per_type: int = 80) -> ad.AnnData:
    """A single-cell reference (raw counts, ``obs["cell_type"]``) drawn from the same profiles."""
    prof = cell_type_profiles()
    labels = np.repeat(CELL_TYPES, n_per_type)
    size = np.array([CELL_SIZE[c] for c in labels])
    depth = 2500 * size * rng.lognormal(0, 0.3, len(labels))
    mu = depth[:, None] * prof.matrix[labels].to_numpy().T
    x = rng.poisson(rng.gamma(NB_THETA, mu / NB_THETA)).astype(np.float32)
    obs = pd.DataFrame({"cell_type": pd.Categorical(labels, categories=CELL_TYPES)},
                       index=[f"cell_{i:05d}" for i in range(len(labels))])
    return ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=prof.genes))


def _sample_rng(seed: int, sample_id: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(b"spatial"), zlib.crc32(str(sample_id).encode())])


def plan_samples(samples: pd.DataFrame, latent: pd.DataFrame, *, seed: int, effect: float = 1.0) -> pd.DataFrame:
    """Per sample: responder flag (``objective_response_latent`` of a neoadjuvant patient, else
    missing), immune pattern and planted TLS count — the design stated in the module docstring.
    ``effect`` in [0, 1] interpolates between the null (0) and the planted difference (1)."""
    lat = latent.drop_duplicates("patient_id").set_index("patient_id")
    out = samples[["sample_id", "patient_id", "center_id", "timepoint", "tissue"]].copy().reset_index(drop=True)
    neo = lat["cohort"].reindex(out["patient_id"]).to_numpy() == "neoadjuvant"
    resp = lat["objective_response_latent"].reindex(out["patient_id"]).to_numpy()
    out["responder"] = pd.array(np.where(neo & pd.notna(resp), resp, pd.NA), dtype="boolean")
    post = (out["timepoint"].to_numpy() == "surgery") & neo & out["responder"].notna().to_numpy()
    patterns, n_tls = [], []
    for i, r in enumerate(out.itertuples(index=False)):  # one draw per sample (a few dozen)
        rng = _sample_rng(seed, r.sample_id)
        if post[i]:
            pp = np.array(P_PATTERN_RESPONDER if r.responder else P_PATTERN_NONRESPONDER)
            pp = effect * pp + (1 - effect) * np.array(P_PATTERN_NULL)
            lam = (TLS_RESPONDER_EXTRA if r.responder else TLS_MEAN_NONRESPONDER)
            lam = effect * lam + (1 - effect) * TLS_MEAN_NULL
            k = int(rng.poisson(lam)) + (TLS_RESPONDER_MIN if (r.responder and effect >= 0.5) else 0)
        else:
            pp = np.array(P_PATTERN_NULL)
            k = int(rng.poisson(TLS_MEAN_NULL))
        patterns.append(PATTERNS[int(rng.choice(3, p=pp / pp.sum()))])
        n_tls.append(k)
    out["pattern"] = patterns
    out["n_tls_planned"] = n_tls
    return out


def side_for(scale: float) -> int:
    """Grid side at a given ``scale`` (30 at 1; spots scale with ``scale``)."""
    return max(12, int(round(30 * np.sqrt(max(scale, 0.01)))))


def simulate_cohort(samples: pd.DataFrame, latent: pd.DataFrame, *, seed: int, scale: float = 1.0,
                    effect: float = 1.0) -> tuple[dict[str, SimulatedSlide], pd.DataFrame]:
    """Simulate every sample of ``samples`` (manifest rows); returns slides by sample id and the plan."""
    plan = plan_samples(samples, latent, seed=seed, effect=effect)
    n_side = side_for(scale)
    slides = {}
    for r in plan.itertuples(index=False):
        rng = _sample_rng(seed + 1, r.sample_id)
        obs = {k: getattr(r, k) for k in ("sample_id", "patient_id", "center_id", "timepoint", "tissue")}
        slides[r.sample_id] = simulate_slide(rng, pattern=r.pattern, n_tls=r.n_tls_planned, n_side=n_side, obs=obs)
    return slides, plan


REFERENCE_FILE = "omics/spatial/sc_reference.h5ad"


def write_spatial(manifest: pd.DataFrame, latent: pd.DataFrame, tables: dict, study_dir: Path, *,
                  seed: int, scale: float = 1.0, effect: float = 1.0) -> dict:
    """Registry writer (``latc synth --omics spatial``): one ``.h5ad`` per manifest row at its
    ``file_ref`` plus the single-cell reference; returns the planted truth (truth.json)."""
    study_dir = Path(study_dir)
    rows = manifest[(manifest["assay"] == "spatial") & manifest["file_ref"].notna()] if "assay" in manifest else manifest
    slides, plan = simulate_cohort(rows, latent, seed=seed, scale=scale, effect=effect)
    refs = rows.set_index("sample_id")["file_ref"]
    for sid, sl in slides.items():
        path = study_dir / str(refs[sid])
        path.parent.mkdir(parents=True, exist_ok=True)
        sl.adata.write_h5ad(path)
    ref_path = study_dir / REFERENCE_FILE
    ref_path.parent.mkdir(parents=True, exist_ok=True)
    simulate_reference(np.random.default_rng([int(seed), zlib.crc32(b"spatial-reference")])).write_h5ad(ref_path)
    return {
        "design": ("hexagonal Visium-like grid (100 µm spacing); 7 cell types mixed per spot, NB counts; "
                   "responder = objective_response_latent (neoadjuvant cohort)"),
        "planted": {
            "surgery_responder_pattern_p": dict(zip(PATTERNS, P_PATTERN_RESPONDER)),
            "surgery_nonresponder_pattern_p": dict(zip(PATTERNS, P_PATTERN_NONRESPONDER)),
            "null_pattern_p (baseline, upfront)": dict(zip(PATTERNS, P_PATTERN_NULL)),
            "surgery_tls": f"responders {TLS_RESPONDER_MIN} + Poisson({TLS_RESPONDER_EXTRA}); "
                           f"non-responders Poisson({TLS_MEAN_NONRESPONDER}); null Poisson({TLS_MEAN_NULL})",
            "effect": effect,
        },
        "grid_side": side_for(scale),
        "n_genes": len(cell_type_profiles().genes),
        "cell_size": CELL_SIZE,
        "reference_file": REFERENCE_FILE,
        "samples": {sid: {"responder": (None if pd.isna(r) else bool(r)), "timepoint": tp, **slides[sid].summary}
                    for sid, r, tp in zip(plan["sample_id"], plan["responder"], plan["timepoint"])},
    }
