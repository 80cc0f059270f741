"""Surgery, postoperative complications (Clavien–Dindo) and surgical pathology.

* Extent follows invasion and, after neoadjuvant therapy, the response: a planned laryngectomy or
  oesophageal resection is omitted (organ preservation) in most responders (NeoLen series; Zhao2023:
  reduced extent after BRAF-directed therapy), tracheal resections are downsized, a planned
  oesophageal resection that is still done is more often limited to the muscular layer; R0 is more
  frequent after response.
* Hypoparathyroidism and RLN palsy are transient (resolved ≤ 6 months) or permanent (unresolved,
  last assessed at the last contact) (Edafe2014, Jeannon2009). RLN palsy is an unintended injury:
  a nerve resected for invasion is recorded in ``surgery.rln_resected`` only, never as a
  complication (Gambardella2017); only the contralateral nerve is then at risk.
* Pathology: ypTNM with % viable tumour after neoadjuvant therapy (pCR = 0 %, MPR ≤ 10 %), pTNM
  after upfront surgery; margins agree with the R status; nodes positive ≤ nodes examined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.synth import _params as P
from latc.synth._util import choose, dates, occurrence, typed_table


def surgery_rows(rng: np.random.Generator, pt: pd.DataFrame) -> pd.DataFrame:
    """One curative/palliative operation per operated patient (latent columns kept)."""
    s = pt[pt["operated"]].copy()
    n = len(s)
    neo = s["neoadjuvant"].to_numpy()
    resp = neo & s["objective_response_latent"].to_numpy() & ~s["salvage_surgery"].to_numpy()
    nonresp = neo & ~resp
    u = lambda: rng.random(n)  # noqa: E731

    s["thyroidectomy_extent"] = np.where(u() < 0.95, "total", "near_total")
    cn = s["cn"].to_numpy()
    central = choose(rng, {"bilateral": 0.72, "unilateral": 0.28}, n)
    # central (level VI) dissection in every operation except 15 % of cN0 upfront DTC/PDTC/ATC:
    # therapeutic for cN1, prophylactic for T4 primaries (ATA 2015 Rec. 36B), always in MTC (ATA MTC
    # 2015 Rec. 23) and after neoadjuvant therapy, where the nodes are staged (ypN is an endpoint)
    mtc = s["histology"].to_numpy() == "mtc"
    s["central_neck_dissection"] = np.where((cn == "N0") & ~neo & ~mtc & (u() < 0.15), "none", central)
    s["lateral_neck_dissection"] = np.where(cn == "N1b", choose(rng, {"unilateral": 0.7, "bilateral": 0.3}, n),
                                            np.where(u() < 0.12, "unilateral", "none"))
    plan_tr = s["planned_tracheal_resection"].to_numpy(dtype=object)
    down = {"sleeve": "window", "window": "shave", "shave": "none", "none": "none"}
    downsized = pd.Series(plan_tr).map(down).to_numpy(dtype=object)
    s["tracheal_resection"] = np.where(resp & (u() < P.P_TRACHEA_DOWNSIZED_RESPONDER), downsized, plan_tr)
    plan_lar = s["planned_laryngectomy"].to_numpy()
    preserve = np.where(resp, u() < P.P_ORGAN_PRESERVATION["responder"],
                        np.where(nonresp, u() < P.P_ORGAN_PRESERVATION["non_responder"], False))
    lar = np.where(plan_lar & ~preserve, np.where(u() < 0.65, "total", "partial"),
                   np.where(s["invasion_larynx"].to_numpy() & ~plan_lar & (u() < 0.15), "partial", "none"))
    s["laryngectomy"] = lar
    s["organ_preserved"] = plan_lar & (lar == "none")
    plan_eso = s["planned_esophageal_resection"].to_numpy()
    inv_eso = s["invasion_esophagus"].to_numpy()
    done_eso = np.where(resp & (u() < 0.5), "muscular_layer", np.where(u() < 0.35, "full_thickness", "muscular_layer"))
    # organ preservation after response, as for the larynx: the planned oesophageal resection is
    # not performed (the tumour separates from the oesophageal wall) — same probabilities (NeoLen)
    preserve_eso = np.where(resp, u() < P.P_ORGAN_PRESERVATION["responder"],
                            np.where(nonresp, u() < P.P_ORGAN_PRESERVATION["non_responder"], False))
    eso = np.where(plan_eso, np.where(preserve_eso, "none", done_eso),
                   np.where(inv_eso & (u() < 0.6), "muscular_layer", "none"))
    s["esophageal_resection"] = eso
    s["esophagus_preserved"] = plan_eso & (eso == "none")
    p_rln = np.where(resp, P.P_RLN_RESECTED_IF_INVADED["responder"],
                     np.where(nonresp, P.P_RLN_RESECTED_IF_INVADED["non_responder"], P.P_RLN_RESECTED_IF_INVADED["upfront"]))
    s["rln_resected"] = s["invasion_rln"].to_numpy() & (u() < p_rln)
    s["vascular_resection"] = s["invasion_carotid"].to_numpy() & (u() < np.where(neo, 0.08, 0.15))
    s["tracheostomy"] = (lar == "total") | ((s["tracheal_resection"].to_numpy() == "sleeve") & (u() < 0.2)) | (u() < 0.03)

    res = s["resectability"].to_numpy(dtype=object)
    p_r0 = np.where(neo, pd.Series(res).map(P.P_R0["neoadjuvant"]).to_numpy(float), pd.Series(res).map(P.P_R0["upfront"]).to_numpy(float))
    p_r0 = np.clip(p_r0 + np.where(resp, 0.15, np.where(nonresp, -0.1, 0.0)), 0.02, 0.95)
    p_r2 = pd.Series(res).map(P.P_R2).to_numpy(float) * np.where(resp, 0.3, np.where(nonresp, 1.2, 1.0))
    p_r2 = np.where(s["salvage_surgery"].to_numpy(), 0.4, p_r2)
    v = u()
    status = np.where(v < p_r0, "R0", np.where(v < 1 - p_r2, "R1", "R2"))
    s["resection_status"] = status
    s["surgical_intent"] = np.where((status == "R2") & (u() < 0.35), "palliative", "curative")

    extent = ((s["lateral_neck_dissection"].to_numpy() != "none") * 0.6 + np.isin(s["tracheal_resection"], ["window", "sleeve"]) * 0.8
              + (lar != "none") * 1.2 + (eso != "none") * 0.6 + s["vascular_resection"].to_numpy() * 1.0)
    s["operative_time_min"] = np.clip(np.rint(150 * (1 + 0.5 * extent) * np.exp(0.2 * rng.standard_normal(n))), 60, 880)
    s["blood_loss_ml"] = np.clip(np.rint(80 * (1 + extent) * np.exp(0.6 * rng.standard_normal(n)) / 10) * 10, 10, 2900)
    s["length_of_stay_days"] = np.clip(np.rint((4 + 6 * (lar == "total") + 2 * extent) * np.exp(0.3 * rng.standard_normal(n))), 1, 55)
    return s


def complication_rows(rng: np.random.Generator, s: pd.DataFrame) -> pd.DataFrame:
    """Postoperative complications per operated patient (latent days)."""
    n = len(s)
    parts = []
    sx = s["surgery_day"].to_numpy()
    end = s["end_day"].to_numpy()
    bilat = s["central_neck_dissection"].to_numpy() == "bilateral"
    factor = np.where(bilat, 1.3, 1.0)
    u = rng.random(n)
    perm = u < P.HYPOPARA["permanent"] * factor
    trans = ~perm & (u < (P.HYPOPARA["permanent"] + P.HYPOPARA["transient"]) * factor)
    for mask, permanent in ((perm, True), (trans, False)):
        parts.append(pd.DataFrame({"i": np.flatnonzero(mask), "type": "hypoparathyroidism", "permanent": permanent,
                                   "onset": 1, "grade": "II", "heal": 150}))
    # RLN palsy = an *unintended* injury. A nerve resected because the tumour invades it is reported
    # in surgery.rln_resected, not as a complication (the palsy is intended); after a resection only
    # the contralateral nerve is at risk (half the per-patient rates), and its palsy is one-sided
    u = rng.random(n)
    resected = s["rln_resected"].to_numpy()
    at_risk = np.where(resected, P.RLN_PALSY_RESECTED_FACTOR, 1.0)
    rperm = u < P.RLN_PALSY["permanent"] * at_risk
    rtrans = ~rperm & (u < (P.RLN_PALSY["permanent"] + P.RLN_PALSY["transient"]) * at_risk)
    for mask, permanent in ((rperm, True), (rtrans, False)):
        parts.append(pd.DataFrame({"i": np.flatnonzero(mask), "type": "rln_palsy", "permanent": permanent,
                                   "onset": 0, "grade": "I", "heal": 170}))
    neo = s["neoadjuvant"].to_numpy()
    onset_days = {"hematoma": 0, "chyle_leak": 3, "wound_infection": 7, "seroma": 6, "fistula": 8, "tracheostomy": 2,
                  "pneumonia": 3, "cardiovascular": 2, "thromboembolic": 10, "other": 5}
    lateral = s["lateral_neck_dissection"].to_numpy() != "none"
    wall = (np.isin(s["tracheal_resection"], ["window", "sleeve"]) | (s["esophageal_resection"].to_numpy() != "none")
            | (s["laryngectomy"].to_numpy() != "none"))
    for ctype, (p, grades, weights) in P.COMPLICATIONS.items():
        pe = np.full(n, p)
        if ctype == "chyle_leak":
            pe = np.where(lateral, p, 0.0)
        if ctype == "fistula":
            pe = np.where(wall, p * 2, 0.0)
        if ctype == "tracheostomy":
            pe = np.where(s["tracheostomy"].to_numpy(), 0.0, p)
        if ctype in ("wound_infection", "fistula", "seroma"):
            pe = pe * np.where(neo, P.TKI_WOUND_FACTOR, 1.0)
        hit = np.flatnonzero(rng.random(n) < pe)
        parts.append(pd.DataFrame({"i": hit, "type": ctype, "permanent": False,
                                   "onset": onset_days[ctype], "grade": choose(rng, dict(zip(grades, weights)), len(hit)),
                                   "heal": 30}))
    c = pd.concat(parts, ignore_index=True)
    m = len(c)
    i = c["i"].to_numpy()
    c["patient_id"] = s["patient_id"].to_numpy()[i]
    c["pt_row"] = s.index.to_numpy()[i]
    c["onset_day"] = sx[i] + c["onset"].to_numpy() + rng.integers(0, 3, m)
    heal = np.rint(c["heal"].to_numpy() * rng.uniform(0.15, 1.0, m)) + 5
    c["resolution_day"] = c["onset_day"].to_numpy() + heal
    resolved = ~c["permanent"].to_numpy() & (c["resolution_day"].to_numpy() <= end[i])
    c["resolved"] = resolved
    c["last_assessed_day"] = end[i]
    c = c[c["onset_day"].to_numpy() <= end[i]].copy()
    typ = c["type"].to_numpy()
    side = choose(rng, {"left": 0.47, "right": 0.45, "bilateral": 0.08}, len(c))
    # after a resection the palsy is of the other (remaining) nerve: one side, never bilateral
    side = np.where(c["i"].isin(np.flatnonzero(resected)).to_numpy() & (side == "bilateral"),
                    np.where(rng.random(len(c)) < 0.5, "left", "right"), side)
    c["rln_side"] = np.where(typ == "rln_palsy", side, None)
    grade = c["grade"].to_numpy(dtype=object)
    grade = np.where((typ == "rln_palsy") & (side == "bilateral"), "IIIb", grade)
    grade = np.where((typ == "rln_palsy") & c["permanent"].to_numpy() & (side != "bilateral") & (rng.random(len(c)) < 0.3), "IIIa", grade)
    c["grade"] = grade
    c = c.sort_values(["pt_row", "onset_day", "type"], kind="stable").reset_index(drop=True)
    c["complication_id"] = occurrence(c["pt_row"].to_numpy()) + 1
    return c


def pathology_rows(rng: np.random.Generator, s: pd.DataFrame) -> pd.DataFrame:
    """Surgical pathology of each operation (latent frame aligned with the surgery rows)."""
    n = len(s)
    p = pd.DataFrame(index=s.index)
    neo = s["neoadjuvant"].to_numpy()
    viable = np.where(neo, s["viable_pct_latent"].to_numpy(), np.nan)
    viable = np.where(neo & s["salvage_surgery"].to_numpy(), np.maximum(viable, 50), viable)
    pcr = neo & (viable == 0)
    mpr = neo & (viable <= 10) & ~pcr
    ct = np.where(s["t4b"].to_numpy(), "T4b", "T4a")
    down_t = np.where(ct == "T4b", "T4a", "T3b")
    u = rng.random(n)
    pt_up = np.where(u < 0.08, "T3b", ct)
    pt_mpr = choose(rng, {"T1a": 0.15, "T1b": 0.2, "T2": 0.2, "T3a": 0.1, "T3b": 0.15, "T4a": 0.2}, n)
    pt_neo = np.where(pcr, "T0", np.where(mpr, pt_mpr, np.where(rng.random(n) < 0.25, down_t, ct)))
    p["pt"] = np.where(neo, pt_neo, pt_up)
    cn = s["cn"].to_numpy(dtype=object)
    resp = s["objective_response_latent"].to_numpy()
    pn_up = np.where((cn == "N0") & (rng.random(n) < 0.12), "N1a", cn)
    pn_neo = np.where(pcr, "N0", np.where((cn != "N0") & resp & (rng.random(n) < 0.3), "N0", cn))
    pn = np.where(neo, pn_neo, pn_up)
    central = s["central_neck_dissection"].to_numpy()
    lateral = s["lateral_neck_dissection"].to_numpy()
    ex_c = np.where(central == "bilateral", rng.integers(8, 26, n), np.where(central == "unilateral", rng.integers(4, 13, n), 0))
    ex_l = np.where(lateral == "bilateral", rng.integers(30, 71, n), np.where(lateral == "unilateral", rng.integers(15, 41, n), 0))
    examined = ex_c + ex_l
    # the N category follows the compartments examined: NX only when no node was examined (no neck
    # dissection: upfront cN0 DTC/PDTC/ATC only, so never with ypT0); N1b needs lateral nodes, N1a
    # central ones — a metastasis in a compartment not dissected cannot be found (pN0 when other
    # nodes were examined)
    pn = np.where((pn == "N1b") & (ex_l == 0), "N1a", pn)
    pn = np.where((pn == "N1a") & (ex_c == 0), "N0", pn)
    pn = np.where(examined == 0, "NX", pn)
    pos_c = np.where(np.isin(pn, ["N1a", "N1b"]), 1 + rng.binomial(np.maximum(ex_c - 1, 0), 0.3), 0)
    pos_l = np.where(pn == "N1b", 1 + rng.binomial(np.maximum(ex_l - 1, 0), 0.15), 0)
    positive = np.minimum(pos_c, ex_c) + np.minimum(pos_l, ex_l)
    p["pn"] = pn
    p["nodes_examined"] = examined
    p["nodes_positive"] = positive
    p["largest_node_metastasis_mm"] = np.where(positive > 0, np.clip(np.rint(12 * np.exp(0.5 * rng.standard_normal(n))), 2, 60), np.nan)
    p["extranodal_extension"] = (positive > 0) & (rng.random(n) < 0.3)
    size = s["primary_size_mm"].to_numpy()
    shrink = 1 + s["depth_pct"].to_numpy() / 100
    p["tumor_size_mm"] = np.where(pcr, 0.0, np.maximum(1, np.rint(np.where(neo, size * shrink, size * np.exp(0.1 * rng.standard_normal(n))))))
    p["viable_tumor_pct"] = viable
    ptv = p["pt"].to_numpy()
    p["extrathyroidal_extension"] = np.where(np.isin(ptv, ["T4a", "T4b"]), "gross_major",
                                             np.where(ptv == "T3b", "gross_strap",
                                                      np.where(ptv == "T0", "none", np.where(rng.random(n) < 0.5, "microscopic", "none"))))
    aggressive = np.isin(s["histology"], ["atc", "pdtc"])
    vi = np.where(aggressive, choose(rng, {"none": 0.2, "focal": 0.3, "extensive": 0.5}, n),
                  choose(rng, {"none": 0.45, "focal": 0.35, "extensive": 0.2}, n))
    p["vascular_invasion"] = np.where(pcr, "none", vi)
    p["lymphatic_invasion"] = ~pcr & (rng.random(n) < 0.55)
    status = s["resection_status"].to_numpy()
    p["margin_status"] = np.where(status == "R0", "negative", np.where(status == "R1", "microscopic_positive", "gross_positive"))
    p["tnm_prefix"] = np.where(neo, "yp", "p")
    p["pcr"] = pcr
    p["mpr"] = pcr | mpr
    return p


def surgery_table(s: pd.DataFrame, centers) -> pd.DataFrame:
    cols = ["surgical_intent", "thyroidectomy_extent", "central_neck_dissection", "lateral_neck_dissection",
            "tracheal_resection", "laryngectomy", "esophageal_resection", "rln_resected", "vascular_resection",
            "tracheostomy", "resection_status", "operative_time_min", "blood_loss_ml", "length_of_stay_days"]
    return typed_table("surgery", {
        "patient_id": s["patient_id"], "center_id": centers.ids[s["center"].to_numpy()], "surgery_id": np.ones(len(s)),
        "surgery_date": dates(s["t0_date"].to_numpy(), s["surgery_day"]), **{c: s[c].to_numpy() for c in cols},
    }, len(s))


def complications_table(c: pd.DataFrame, pt: pd.DataFrame, centers) -> pd.DataFrame:
    row = c["pt_row"].to_numpy()
    t0 = pt["t0_date"].to_numpy()[row]
    resolved = c["resolved"].to_numpy()
    return typed_table("complications", {
        "patient_id": c["patient_id"], "center_id": centers.ids[pt["center"].to_numpy()[row]],
        "complication_id": c["complication_id"], "surgery_id": np.ones(len(c)), "complication_type": c["type"],
        "rln_side": c["rln_side"], "clavien_dindo": c["grade"], "onset_date": dates(t0, c["onset_day"]),
        "resolved": resolved, "resolution_date": dates(t0, np.where(resolved, c["resolution_day"], np.nan)),
        "last_assessed_date": dates(t0, np.where(resolved, np.nan, c["last_assessed_day"])),
    }, len(c))


def pathology_table(s: pd.DataFrame, p: pd.DataFrame, centers) -> pd.DataFrame:
    cols = ["tnm_prefix", "pt", "pn", "tumor_size_mm", "viable_tumor_pct", "extrathyroidal_extension", "vascular_invasion",
            "lymphatic_invasion", "margin_status", "nodes_examined", "nodes_positive", "largest_node_metastasis_mm",
            "extranodal_extension"]
    return typed_table("pathology", {
        "patient_id": s["patient_id"], "center_id": centers.ids[s["center"].to_numpy()], "surgery_id": np.ones(len(s)),
        "histology": s["histology"], **{c: p[c].to_numpy() for c in cols},
    }, len(s))
