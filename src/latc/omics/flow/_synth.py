"""Synthetic FCS files of peripheral blood with planted population shifts (assay ``flow``).

Each manifest sample with a ``file_ref`` gets an FCS 3.1 file (flowio) with the LATC panel of
``resources/gating_pbmc.yaml``: FSC-A, FSC-H, SSC-A and ten fluorescence detectors, a
``$SPILLOVER`` keyword, and events drawn as

* debris (low FSC/SSC), doublets (FSC-H ≈ half of FSC-A), dead cells (viability dye bright);
* live lymphocytes: T cells (CD3+) split into CD4+ (with CD25+CD127lo Treg and PD-1+ subsets),
  CD8+ (with PD-1+ subset) and CD4−CD8− cells, NK (CD3−CD56+), B (CD3−CD19+) and other
  lymphocytes; live monocyte-scatter events, mostly CD14+ monocytes;
* marker intensities: negative ≈ N(0, 60²), positive ≈ 10^N(μ, 0.2²) linear units (μ 3.5–3.8,
  PD-1 3.5, Treg CD127 2.0); the true signals are mixed by the spillover matrix and detector noise
  N(0, 30²) is added, so an uncompensated analysis is wrong (e.g. BV421-CD56 spills 25 % into the
  BV510 viability channel: without compensation NK cells look dead).

Planted shifts (neoadjuvant patients, ``objective_response_latent``): PD-1+ share of CD8 T cells
0.18 at baseline; +0.15 on treatment and +0.08 at surgery in responders, +0.02 in
non-responders; Treg share of CD4 −0.02 on treatment in responders. Per-sample fractions vary
(N(0, 0.02²)). ``truth`` records, per sample, the realised share of each gated population in its
parent gate, computed from the event labels — what a correct gating must recover.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PANEL = {  # marker → (detector, positive log10 mean)
    "CD3": ("FITC-A", 3.7), "CD25": ("PE-A", 3.5), "CD4": ("PerCP-Cy5.5-A", 3.6), "CD127": ("PE-Cy7-A", 3.4),
    "PD1": ("APC-A", 3.5), "CD8": ("APC-H7-A", 3.8), "CD56": ("BV421-A", 3.5), "LiveDead": ("BV510-A", 3.9),
    "CD19": ("BV605-A", 3.6), "CD14": ("BV711-A", 3.8),
}
DETECTORS = [d for d, _ in PANEL.values()]
MARKERS = list(PANEL)
CHANNELS = ["FSC-A", "FSC-H", "SSC-A", *DETECTORS]
SPILL_PAIRS = {("FITC-A", "PE-A"): 0.15, ("PE-A", "PerCP-Cy5.5-A"): 0.04, ("PE-A", "PE-Cy7-A"): 0.03,
               ("PerCP-Cy5.5-A", "PE-Cy7-A"): 0.06, ("PE-Cy7-A", "APC-H7-A"): 0.03, ("APC-A", "APC-H7-A"): 0.08,
               ("BV421-A", "BV510-A"): 0.25, ("BV510-A", "BV605-A"): 0.04, ("BV605-A", "BV711-A"): 0.06}

BASE_FRACTIONS = {"T": 0.70, "NK": 0.12, "B": 0.10, "CD4_of_T": 0.62, "CD8_of_T": 0.32, "Treg_of_CD4": 0.06,
                  "PD1_of_CD4": 0.12, "PD1_of_CD8": 0.18, "mono_of_live": 0.15, "CD14_of_monoscatter": 0.90}
POPULATIONS = ["CD3pos", "CD4pos", "CD8pos", "Treg", "CD4_PD1pos", "CD8_PD1pos", "NK", "B", "monocytes"]


def spillover() -> pd.DataFrame:
    """The simulated acquisition's spillover matrix (rows: fluorochrome's primary detector)."""
    m = pd.DataFrame(np.eye(len(DETECTORS)), index=DETECTORS, columns=DETECTORS)
    for (a, b), v in SPILL_PAIRS.items():
        m.loc[a, b] = v
    return m


def spill_text(m: pd.DataFrame) -> str:
    """FCS ``$SPILLOVER`` value: n, detector names, then the matrix row by row."""
    return ",".join([str(len(m)), *m.columns, *(f"{v:.6g}" for v in m.to_numpy().ravel())])


def sample_fractions(responder: bool | None, timepoint: str, rng: np.random.Generator, noise: float = 0.02) -> dict:
    """Planted population fractions of one sample (see module docstring)."""
    f = dict(BASE_FRACTIONS)
    if responder is True:
        f["PD1_of_CD8"] += {"on_treatment": 0.15, "surgery": 0.08}.get(timepoint, 0.0)
        f["Treg_of_CD4"] -= 0.02 if timepoint == "on_treatment" else 0.0
    elif responder is False:
        f["PD1_of_CD8"] += 0.02 if timepoint in ("on_treatment", "surgery") else 0.0
    for k in f:
        f[k] = float(np.clip(f[k] + rng.normal(0, noise), 0.02, 0.97))
    f["NK"], f["B"] = min(f["NK"], 0.9 - f["T"]), min(f["B"], 0.9 - f["T"])
    if f["CD4_of_T"] + f["CD8_of_T"] > 0.97:
        s = 0.97 / (f["CD4_of_T"] + f["CD8_of_T"])
        f["CD4_of_T"] *= s
        f["CD8_of_T"] *= s
    return f


def simulate_events(n_events: int, f: dict, rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame]:
    """Raw events (n × :data:`CHANNELS`, after spillover and noise) and per-event labels."""
    n = int(n_events)
    kind = rng.choice(["debris", "doublet", "dead", "live"], n, p=[0.04, 0.04, 0.06, 0.86])
    live = kind == "live"
    mono_scatter = live & (rng.random(n) < f["mono_of_live"])
    lymph = live & ~mono_scatter
    u = rng.random(n)
    t = lymph & (u < f["T"])
    nk = lymph & (u >= f["T"]) & (u < f["T"] + f["NK"])
    b = lymph & (u >= f["T"] + f["NK"]) & (u < f["T"] + f["NK"] + f["B"])
    v = rng.random(n)
    cd4 = t & (v < f["CD4_of_T"])
    cd8 = t & (v >= f["CD4_of_T"]) & (v < f["CD4_of_T"] + f["CD8_of_T"])
    treg = cd4 & (rng.random(n) < f["Treg_of_CD4"])
    pd1 = (cd4 & (rng.random(n) < f["PD1_of_CD4"])) | (cd8 & (rng.random(n) < f["PD1_of_CD8"]))
    mono = mono_scatter & (rng.random(n) < f["CD14_of_monoscatter"])
    dead = kind == "dead"

    fsc = np.where(mono_scatter, rng.normal(100_000, 9_000, n), rng.normal(58_000, 6_000, n))
    ssc = np.where(mono_scatter, rng.normal(48_000, 6_000, n), rng.normal(14_000, 4_000, n))
    fsc = np.where(kind == "debris", rng.uniform(2_000, 25_000, n), fsc)
    ssc = np.where(kind == "debris", rng.uniform(500, 20_000, n), ssc)
    fsc = np.where(dead, rng.normal(45_000, 8_000, n), fsc)
    fsc_h = fsc * rng.normal(0.85, 0.03, n)
    doublet = kind == "doublet"
    fsc = np.where(doublet, 2 * fsc, fsc)
    fsc_h = np.where(doublet, fsc * rng.normal(0.5, 0.05, n), fsc_h)

    pos = {m: np.zeros(n, bool) for m in MARKERS}
    pos["CD3"] = t
    pos["CD4"] = cd4
    pos["CD8"] = cd8
    pos["CD56"] = nk
    pos["CD19"] = b
    pos["CD14"] = mono
    pos["LiveDead"] = dead
    pos["PD1"] = pd1
    pos["CD127"] = t & ~treg
    pos["CD25"] = treg
    true = np.empty((n, len(MARKERS)))
    for j, m in enumerate(MARKERS):
        mu = PANEL[m][1]
        bright = 10 ** rng.normal(mu, 0.2, n)
        true[:, j] = np.where(pos[m], bright, rng.normal(0.0, 60.0, n))
    true[:, MARKERS.index("CD127")] = np.where(treg, 10 ** rng.normal(2.0, 0.2, n), true[:, MARKERS.index("CD127")])
    fluor = true @ spillover().to_numpy() + rng.normal(0.0, 30.0, true.shape)
    raw = np.column_stack([np.clip(fsc, 0, 262_143), np.clip(fsc_h, 0, 262_143), np.clip(ssc, 0, 262_143), fluor])
    labels = pd.DataFrame({"kind": kind, "lymph": lymph, "T": t, "CD4": cd4, "CD8": cd8, "Treg": treg, "PD1": pd1,
                           "NK": nk, "B": b, "mono_scatter": mono_scatter, "mono": mono})
    return raw.astype(np.float32), labels


def realised_percent(labels: pd.DataFrame) -> dict[str, float]:
    """Per population, the share (%) of its parent gate's events, from the event labels."""
    L = labels
    def pct(a, b):
        return float(100.0 * a.sum() / b.sum()) if b.sum() else float("nan")
    cd3neg = L["lymph"] & ~L["T"]
    return {"CD3pos": pct(L["T"], L["lymph"]), "CD4pos": pct(L["CD4"], L["T"]), "CD8pos": pct(L["CD8"], L["T"]),
            "Treg": pct(L["Treg"], L["CD4"]), "CD4_PD1pos": pct(L["CD4"] & L["PD1"], L["CD4"]),
            "CD8_PD1pos": pct(L["CD8"] & L["PD1"], L["CD8"]), "NK": pct(L["NK"], cd3neg), "B": pct(L["B"], cd3neg),
            "monocytes": pct(L["mono"], L["mono_scatter"])}


def write_fcs(path: str | Path, raw: np.ndarray, *, spill: pd.DataFrame | None = None, sample_id: str | None = None) -> Path:
    """Write events (n × :data:`CHANNELS`) as FCS 3.1 with marker names ($PnS) and ``$SPILLOVER``."""
    import flowio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pns = ["", "", "", *MARKERS]
    meta = {"spillover": spill_text(spill if spill is not None else spillover())}
    if sample_id:
        meta["fil"] = sample_id
    with path.open("wb") as fh:
        flowio.create_fcs(fh, raw.ravel().tolist(), channel_names=CHANNELS, opt_channel_names=pns, metadata_dict=meta)
    return path


def write_flow(manifest: pd.DataFrame, latent: pd.DataFrame, tables: dict[str, pd.DataFrame], study_dir: Path,
               *, seed: int, scale: float) -> dict:
    """Registry writer (``latc synth --omics flow``): one FCS file per sample."""
    rows = manifest[manifest["file_ref"].notna()].reset_index(drop=True)
    n_events = int(max(500, round(2000 * scale)))
    lat = latent.set_index("patient_id")
    neo = (lat["cohort"].astype(str) == "neoadjuvant").reindex(rows["patient_id"]).fillna(False).to_numpy()
    orl = pd.to_numeric(lat["objective_response_latent"], errors="coerce").reindex(rows["patient_id"]).to_numpy()
    ss = np.random.SeedSequence([int(seed), 0xF10]).spawn(len(rows))
    per_sample = {}
    spill = spillover()
    for i, r in enumerate(rows.itertuples(index=False)):
        rng = np.random.default_rng(ss[i])
        responder = bool(orl[i] == 1) if neo[i] and not np.isnan(orl[i]) else None
        f = sample_fractions(responder, str(r.timepoint), rng)
        raw, labels = simulate_events(n_events, f, rng)
        write_fcs(Path(study_dir) / str(r.file_ref), raw, spill=spill, sample_id=str(r.sample_id))
        per_sample[str(r.sample_id)] = {"responder": responder, "timepoint": str(r.timepoint),
                                        "percent_of_parent": {k: round(v, 3) for k, v in realised_percent(labels).items()}}
    return {
        "n_samples": len(rows), "events_per_file": n_events, "channels": CHANNELS, "panel": {m: d for m, (d, _) in PANEL.items()},
        "spillover": spill.round(4).to_dict(), "base_fractions": BASE_FRACTIONS,
        "planted": {"CD8_PD1pos_share_shift": {"responder_on_treatment": 0.15, "responder_surgery": 0.08,
                                               "non_responder_post": 0.02},
                    "Treg_share_shift": {"responder_on_treatment": -0.02},
                    "responder_definition": "objective_response_latent == 1 among neoadjuvant patients"},
        "samples": per_sample,
    }
