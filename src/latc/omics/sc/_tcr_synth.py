"""Synthetic paired TCR (10x ``filtered_contig_annotations.csv``) for the synthetic scRNA-seq
libraries, with planted clones whose truth the TCR analysis must recover (docs/omics/tcr.md).

Input: the cells of :func:`latc.omics.sc._synth.simulate_counts` (its ``obs``: sample keys,
``true_cell_type``, ``true_doublet``) and each patient's response. Only T cells
(:data:`latc.omics.sc._tcr.T_CELL_TYPES`) get a receptor; barcodes are the gene-expression barcodes,
so V(D)J and expression cells join as in a 10x 5′ run.

Generative model (every draw from a stream seeded by ``seed`` and the patient or sample id):

* **Planted clones per patient** (:data:`CLONE_DESIGN`): ``shared`` — CD8 clones in tumour, lymph
  node *and* blood (tumour-reactive clones that circulate; Luoma et al., Cell 2022); ``tumour`` —
  CD8 clones of tumour and lymph node only (tissue-resident); ``blood`` — CD8 clones of blood only
  (e.g. virus-specific memory); ``new`` — CD8 clones that appear only after treatment, in
  responders (tumour, lymph node, blood); ``cd4`` — one CD4 clone in every sample.
* **Share of a sample's CD8 T cells drawn from planted clones** (:data:`PLANTED_SHARE`), split
  between a kind's clones by log-normal weights (SD 0.6); the rest are singletons (a fresh
  receptor per cell). Responders after treatment (on treatment, surgery): the ``shared`` and
  ``tumour`` shares × 3 (× 2.5 in blood for ``shared``) and the ``new`` clones appear — **the true
  effect**: pre-existing tumour clones expand from pre to post in responders and not in
  non-responders (whose shares stay at baseline), and tumour↔blood sharing rises. CD4 and Treg
  cells: the ``cd4`` clone takes 4 %, the rest are singletons.
* **Receptors**: a TRAV/TRAJ and a TRBV/(TRBD)/TRBJ gene pair from common human genes, the CDR3
  amino acids = the V gene's germline start + 1–5 random N-region residues + the J gene's
  germline end (TRB 12–18, TRA 10–17 residues), back-translated with random synonymous codons;
  unique within a patient. 10 % of clones carry a second productive TRA (dual-α T cells).
* **Capture**: per cell P(no V(D)J at all) = 0.08, P(TRA not captured) = 0.10, P(TRB not captured)
  = 0.04 (orphan chains), P(second TRA of a dual clone seen) = 0.6; 5 % of cells have an extra
  non-productive contig; doublets (``true_doublet``) carry a second cell's TRA + TRB; 1 % of
  non-T, non-NK cells carry one ambient TRB contig (removed by the T-cell filter).

Truth (:class:`TcrSimulation`): per planted clone its chains; per sample its realised cell counts;
per cell its clone and captured chains — so tests check that the pipeline recovers the planted
expanded clones, the tumour↔blood sharing and the responder effect direction.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from latc.omics.sc._tcr import T_CELL_TYPES, vdj_companion

__all__ = ["CLONE_DESIGN", "PLANTED_SHARE", "TcrSimulation", "simulate_tcr", "write_contigs", "write_vdj"]

#: planted clones per patient: kind → number
CLONE_DESIGN: dict[str, int] = {"shared": 3, "tumour": 3, "blood": 2, "new": 2, "cd4": 1}
#: (tissue, state) → kind → share of the sample's CD8 T cells in that kind's clones;
#: state "pre" = baseline, or any sample of a non-responder / upfront-surgery patient
PLANTED_SHARE: dict[tuple[str, str], dict[str, float]] = {
    ("tumour", "pre"): {"shared": 0.12, "tumour": 0.12},
    ("tumour", "responder_post"): {"shared": 0.36, "tumour": 0.30, "new": 0.10},
    ("lymph_node", "pre"): {"shared": 0.06, "tumour": 0.06},
    ("lymph_node", "responder_post"): {"shared": 0.18, "tumour": 0.15, "new": 0.05},
    ("blood", "pre"): {"shared": 0.06, "blood": 0.10},
    ("blood", "responder_post"): {"shared": 0.15, "blood": 0.10, "new": 0.05},
}
CD4_SHARE = 0.04
P_NO_VDJ, P_NO_TRA, P_NO_TRB, P_SECOND_TRA_SEEN = 0.08, 0.10, 0.04, 0.6
P_DUAL_TRA, P_NONPRODUCTIVE, P_AMBIENT = 0.10, 0.05, 0.01
_POST = ("on_treatment", "surgery", "follow_up")
_CD8 = tuple(t for t in T_CELL_TYPES if t.startswith("cd8"))
_CD4 = tuple(t for t in T_CELL_TYPES if not t.startswith("cd8"))

#: V gene → germline start of the CDR3 (junction) amino acids; J gene → germline end
_TRBV = {"TRBV20-1": "CSA", "TRBV7-9": "CASS", "TRBV6-5": "CASS", "TRBV5-1": "CASS", "TRBV28": "CASS",
         "TRBV19": "CASS", "TRBV12-3": "CASS", "TRBV4-1": "CASS", "TRBV9": "CASS", "TRBV27": "CASS",
         "TRBV2": "CASS", "TRBV18": "CASS", "TRBV29-1": "CSV", "TRBV7-2": "CASS", "TRBV10-3": "CAIS",
         "TRBV3-1": "CASS", "TRBV11-2": "CASS", "TRBV24-1": "CATS", "TRBV30": "CAW", "TRBV15": "CATS"}
_TRBJ = {"TRBJ1-1": "NTEAFF", "TRBJ1-2": "NYGYTF", "TRBJ1-3": "SGNTIYF", "TRBJ1-4": "TNEKLFF", "TRBJ1-5": "SNQPQHF",
         "TRBJ1-6": "SPLHF", "TRBJ2-1": "SYNEQFF", "TRBJ2-2": "NTGELFF", "TRBJ2-3": "STDTQYF", "TRBJ2-5": "QETQYF",
         "TRBJ2-7": "SYEQYF"}
_TRAV = {"TRAV1-2": "CAV", "TRAV12-2": "CAV", "TRAV13-1": "CAA", "TRAV8-4": "CAV", "TRAV21": "CAV",
         "TRAV29/DV5": "CAAS", "TRAV17": "CAT", "TRAV38-2/DV8": "CAY", "TRAV26-1": "CIV", "TRAV19": "CAL",
         "TRAV9-2": "CAL", "TRAV41": "CAV", "TRAV3": "CAV", "TRAV20": "CAV", "TRAV14/DV4": "CAM", "TRAV22": "CAV",
         "TRAV12-1": "CVV", "TRAV24": "CAF"}
_TRAJ = {"TRAJ49": "NTGNQFYF", "TRAJ20": "SNDYKLSF", "TRAJ33": "DSNYQLIW", "TRAJ39": "NNAGNMLTF",
         "TRAJ53": "SGGSNYKLTF", "TRAJ42": "NYGGSQGNLIF", "TRAJ31": "NNNARLMF", "TRAJ13": "SGGYQKVTF",
         "TRAJ23": "YNQGGKLIF", "TRAJ30": "NRDDKIIF", "TRAJ40": "TSGTYKYIF", "TRAJ9": "GNTGGFKTIF"}
#: N-region residues, weighted towards those common in CDR3 loops
_N_AA = "GSLATRPDEQNYVKIWFHM"
_N_W = np.array([14, 10, 8, 8, 7, 7, 6, 6, 6, 5, 5, 4, 4, 3, 2, 1.5, 1.5, 1, 1], dtype=float)
_CODONS = {
    "A": ["GCT", "GCC", "GCA", "GCG"], "C": ["TGT", "TGC"], "D": ["GAT", "GAC"], "E": ["GAA", "GAG"],
    "F": ["TTT", "TTC"], "G": ["GGT", "GGC", "GGA", "GGG"], "H": ["CAT", "CAC"], "I": ["ATT", "ATC", "ATA"],
    "K": ["AAA", "AAG"], "L": ["TTA", "TTG", "CTT", "CTC", "CTA", "CTG"], "M": ["ATG"], "N": ["AAT", "AAC"],
    "P": ["CCT", "CCC", "CCA", "CCG"], "Q": ["CAA", "CAG"], "R": ["CGT", "CGC", "CGA", "CGG", "AGA", "AGG"],
    "S": ["TCT", "TCC", "TCA", "TCG", "AGT", "AGC"], "T": ["ACT", "ACC", "ACA", "ACG"], "V": ["GTT", "GTC", "GTA", "GTG"],
    "W": ["TGG"], "Y": ["TAT", "TAC"],
}
_COLUMNS = ["barcode", "is_cell", "contig_id", "high_confidence", "length", "chain", "v_gene", "d_gene", "j_gene",
            "c_gene", "full_length", "productive", "cdr3", "cdr3_nt", "reads", "umis", "raw_clonotype_id",
            "raw_consensus_id"]


def _stream(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(part.encode())])


def _chain(rng: np.random.Generator, locus: str) -> dict:
    vs, js = (_TRBV, _TRBJ) if locus == "TRB" else (_TRAV, _TRAJ)
    v = str(rng.choice(sorted(vs)))
    j = str(rng.choice(sorted(js)))
    n = int(rng.integers(1, 6))
    mid = "".join(rng.choice(list(_N_AA), size=n, p=_N_W / _N_W.sum()))
    aa = vs[v] + mid + js[j]
    nt = "".join(str(rng.choice(_CODONS[a])) for a in aa)
    d = ("TRBD2" if j.startswith("TRBJ2") and rng.random() < 0.7 else "TRBD1" if rng.random() < 0.6 else "None") \
        if locus == "TRB" else "None"
    c = ("TRBC2" if j.startswith("TRBJ2") else "TRBC1") if locus == "TRB" else "TRAC"
    return {"chain": locus, "v_gene": v, "d_gene": d, "j_gene": j, "c_gene": c, "cdr3": aa, "cdr3_nt": nt}


def _receptor(rng: np.random.Generator, used: set[str]) -> dict:
    """A new receptor (TRB + TRA, sometimes a second TRA) whose CDR3s the patient has not used."""
    while True:
        trb, tra = _chain(rng, "TRB"), _chain(rng, "TRA")
        tra2 = _chain(rng, "TRA") if rng.random() < P_DUAL_TRA else None
        seqs = [trb["cdr3_nt"], tra["cdr3_nt"]] + ([tra2["cdr3_nt"]] if tra2 else [])
        if not (set(seqs) & used) and len(set(seqs)) == len(seqs):
            used.update(seqs)
            return {"trb": trb, "tra": tra, "tra2": tra2}


@dataclass
class TcrSimulation:
    """``contigs``: sample id → the 10x contig table; ``cells``: one row per T cell (or ambient-
    contig cell) with its ``clone`` (planted key ``<patient>:<kind><n>`` or ``<patient>:s<n>`` for a
    singleton), ``kind`` and the chains captured; ``clones``: the planted clones; ``truth``: a
    JSON-able record (parameters, planted clones, realised cells per sample and clone)."""

    contigs: dict[str, pd.DataFrame]
    cells: pd.DataFrame
    clones: pd.DataFrame
    truth: dict = field(default_factory=dict)


def _planted(seed: int, patient: str, used: set[str]) -> list[dict]:
    rng = _stream(seed, "tcr_clones_" + patient)
    out = []
    for kind, n in CLONE_DESIGN.items():
        w = np.exp(rng.normal(0, 0.6, n))
        for i in range(n):
            out.append({"patient_id": patient, "clone": f"{patient}:{kind}{i + 1}", "kind": kind,
                        "weight": float(w[i] / w.sum()), **_receptor(rng, used)})
    return out


def _shares(tissue: str, post_responder: bool) -> dict[str, float]:
    return PLANTED_SHARE.get((tissue, "responder_post" if post_responder else "pre"), {})


def _contig_rows(rng: np.random.Generator, barcode: str, chains: list[dict], k0: int = 1) -> list[dict]:
    rows = []
    for k, ch in enumerate(chains, start=k0):
        umis = int(rng.integers(1, 25))
        rows.append({"barcode": barcode, "is_cell": "True", "contig_id": f"{barcode}_contig_{k}",
                     "high_confidence": "True", "length": int(rng.integers(480, 720)), **ch,
                     "full_length": "True" if ch.get("productive", "True") == "True" else "False",
                     "productive": ch.get("productive", "True"), "reads": umis * int(rng.integers(80, 400)),
                     "umis": umis, "raw_clonotype_id": "None", "raw_consensus_id": "None"})
    return rows


def _nonproductive(rng: np.random.Generator) -> dict:
    locus = "TRB" if rng.random() < 0.7 else "Multi"
    return {"chain": locus, "v_gene": str(rng.choice(sorted(_TRBV))) if locus == "TRB" else "None", "d_gene": "None",
            "j_gene": str(rng.choice(sorted(_TRBJ))), "c_gene": "TRBC1", "cdr3": "None", "cdr3_nt": "None",
            "productive": "False"}


def _responder_map(responders) -> dict[str, bool | None]:
    if responders is None:
        return {}
    items = responders.items() if isinstance(responders, (Mapping, pd.Series)) else responders
    out: dict[str, bool | None] = {}
    for k, v in items:
        out[str(k)] = None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else bool(v)
    return out


def simulate_tcr(obs: pd.DataFrame, responders: Mapping[str, bool | None] | pd.Series | None = None, *, seed: int,
                 cell_type: str = "true_cell_type") -> TcrSimulation:
    """10x contig tables for the cells of ``obs`` (module docstring).

    ``obs``: one row per cell, index ``<sample_id>:<barcode>`` (or a ``barcode`` column), columns
    ``sample_id, patient_id, timepoint, tissue``, ``cell_type`` (default ``true_cell_type`` of the
    synthetic scRNA-seq) and optionally ``true_doublet``. ``responders``: patient → True / False /
    None (None or absent: no responder effect, e.g. upfront surgery).
    """
    resp = _responder_map(responders)
    barcodes = obs["barcode"].astype(str) if "barcode" in obs else pd.Series(
        [str(n).split(":", 1)[-1] for n in obs.index], index=obs.index)
    ct = obs[cell_type].astype(str)
    doublet = obs["true_doublet"].astype(bool) if "true_doublet" in obs else pd.Series(False, index=obs.index)
    used: dict[str, set[str]] = {}
    clones: dict[str, list[dict]] = {}
    for pid in sorted(obs["patient_id"].astype(str).unique()):
        used[pid] = set()
        clones[pid] = _planted(seed, pid, used[pid])
    contigs, cell_rows = {}, []
    realised: dict[str, dict[str, int]] = {}
    singleton_n: dict[str, int] = {}
    for sid in sorted(obs["sample_id"].astype(str).unique()):
        m = (obs["sample_id"].astype(str) == sid).to_numpy()
        o = obs[m]
        pid, tissue, tp = str(o["patient_id"].iloc[0]), str(o["tissue"].iloc[0]), str(o["timepoint"].iloc[0])
        rng = _stream(seed, "tcr_sample_" + sid)
        post_resp = tp in _POST and resp.get(pid) is True
        shares = _shares(tissue, post_resp)
        pc = clones[pid]
        cd8_p = np.array([shares.get(c["kind"], 0.0) * c["weight"] for c in pc])
        cd4_p = np.array([CD4_SHARE * c["weight"] if c["kind"] == "cd4" else 0.0 for c in pc])
        rows: list[dict] = []
        counts: dict[str, int] = {}
        for name, bc, t, dbl in zip(o.index, barcodes[m], ct[m], doublet[m]):
            if t not in T_CELL_TYPES:
                if t != "nk" and rng.random() < P_AMBIENT:  # ambient TRB in a non-T cell
                    rec = _receptor(rng, used[pid])
                    rows += _contig_rows(rng, bc, [rec["trb"]])
                    cell_rows.append({"cell": name, "sample_id": sid, "barcode": bc, "patient_id": pid, "clone": "",
                                      "kind": "ambient", "has_tra": False, "has_trb": True, "n_tra": 0, "doublet": bool(dbl)})
                continue
            p = cd8_p if t in _CD8 else cd4_p
            u = rng.random()
            cum = np.cumsum(p)
            idx = int(np.searchsorted(cum, u, side="right")) if u < (cum[-1] if len(cum) else 0) else -1
            if idx >= 0:
                rec, key, kind = pc[idx], pc[idx]["clone"], pc[idx]["kind"]
            else:
                singleton_n[pid] = singleton_n.get(pid, 0) + 1
                rec, key, kind = _receptor(rng, used[pid]), f"{pid}:s{singleton_n[pid]}", "singleton"
            if rng.random() < P_NO_VDJ:
                continue
            has_tra, has_trb = rng.random() >= P_NO_TRA, rng.random() >= P_NO_TRB
            chains = ([rec["tra"]] if has_tra else []) + ([rec["trb"]] if has_trb else [])
            n_tra = int(has_tra)
            if rec["tra2"] is not None and rng.random() < P_SECOND_TRA_SEEN:
                chains.append(rec["tra2"])
                n_tra += 1
            if not chains:
                continue
            if dbl:  # a doublet: the partner cell's receptor too
                partner = _receptor(rng, used[pid])
                chains += [partner["tra"], partner["trb"]]
            if rng.random() < P_NONPRODUCTIVE:
                chains.append(_nonproductive(rng))
            rows += _contig_rows(rng, bc, chains)
            cell_rows.append({"cell": name, "sample_id": sid, "barcode": bc, "patient_id": pid, "clone": key,
                              "kind": kind, "has_tra": n_tra > 0, "has_trb": has_trb, "n_tra": n_tra,
                              "doublet": bool(dbl)})
            if kind != "singleton":
                counts[key] = counts.get(key, 0) + 1
        contigs[sid] = pd.DataFrame(rows, columns=_COLUMNS)
        realised[sid] = dict(sorted(counts.items()))
    cells = pd.DataFrame(cell_rows, columns=["cell", "sample_id", "barcode", "patient_id", "clone", "kind", "has_tra",
                                             "has_trb", "n_tra", "doublet"]).set_index("cell")
    planted = pd.DataFrame([{"patient_id": c["patient_id"], "clone": c["clone"], "kind": c["kind"], "weight": c["weight"],
                             "trb_cdr3": c["trb"]["cdr3"], "trb_cdr3_nt": c["trb"]["cdr3_nt"], "trbv": c["trb"]["v_gene"],
                             "tra_cdr3": c["tra"]["cdr3"], "tra_cdr3_nt": c["tra"]["cdr3_nt"], "trav": c["tra"]["v_gene"],
                             "tra2_cdr3": c["tra2"]["cdr3"] if c["tra2"] else None}
                            for pc in clones.values() for c in pc])
    truth = _truth(planted, realised, resp)
    return TcrSimulation(contigs=contigs, cells=cells, clones=planted, truth=truth)


def _truth(planted: pd.DataFrame, realised: dict, resp: dict) -> dict:
    return {
        "design": {"clones_per_patient": CLONE_DESIGN,
                   "planted_share_of_cd8": {f"{t}|{s}": v for (t, s), v in PLANTED_SHARE.items()},
                   "cd4_clone_share_of_cd4": CD4_SHARE, "clone_weights": "log-normal, SD 0.6, within kind",
                   "p_no_vdj": P_NO_VDJ, "p_no_tra": P_NO_TRA, "p_no_trb": P_NO_TRB, "p_dual_tra": P_DUAL_TRA,
                   "p_second_tra_seen": P_SECOND_TRA_SEEN, "p_nonproductive_contig": P_NONPRODUCTIVE,
                   "p_ambient_trb_in_non_t": P_AMBIENT, "post_timepoints": list(_POST)},
        "true_effects": [
            "responders after treatment: shared and tumour-resident CD8 clones expand (share of CD8 cells x3 in "
            "tumour and lymph node, shared x2.5 in blood) and 2 new clones appear; non-responders unchanged",
            "shared clones are present in tumour, lymph node and blood of the same patient (tumour<->blood sharing); "
            "tumour clones never in blood; blood clones never in tumour",
            "singletons are unique within a patient: never shared between samples",
        ],
        "responders": {k: v for k, v in sorted(resp.items())},
        "clones": planted.to_dict(orient="records"),
        "cells_per_sample_and_clone": realised,
    }


def write_contigs(sim: TcrSimulation, study_dir: str | Path, file_refs: Mapping[str, str]) -> dict:
    """Write each simulated sample's contig table beside its scRNA-seq file (``file_refs``: sample
    id → ``file_ref``; the name :func:`latc.omics.sc._tcr.vdj_companion` gives, which
    :func:`latc.omics.sc._tcr.vdj_path_for` finds again); returns ``sim.truth`` + ``files`` (sample
    → path relative to ``study_dir``). Samples without a ``file_refs`` entry are not written."""
    study_dir = Path(study_dir)
    files = {}
    for sid, df in sim.contigs.items():
        ref = file_refs.get(sid)
        if ref is None:
            continue
        rel = vdj_companion(str(ref))
        path = study_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False, lineterminator="\n")
        files[sid] = rel
    return {**sim.truth, "files": files}


def write_vdj(obs: pd.DataFrame, responders: Mapping[str, bool | None] | pd.Series | None, study_dir: str | Path,
              file_refs: Mapping[str, str], *, seed: int, cell_type: str = "true_cell_type") -> dict:
    """:func:`simulate_tcr` then :func:`write_contigs`: the synthetic V(D)J files of the cells in
    ``obs`` beside their scRNA-seq files; returns the truth for ``truth.json``."""
    return write_contigs(simulate_tcr(obs, responders, seed=seed, cell_type=cell_type), study_dir, file_refs)
