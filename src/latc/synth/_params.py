"""Every distribution parameter of the synthetic cohort, with its literature source.

The numbers are *plausible for locally advanced thyroid cancer (LATC) referred to tertiary centers*,
not estimates of any one series; docs/synthetic.md lists the sources in full. Keys in the short
source tags below:

* TCGA2014 — Cancer Genome Atlas Research Network, Cell 2014;159:676 (PTC genomics: BRAF V600E
  ≈ 60 %, RAS ≈ 13 %, fusions ≈ 15 %, TERT promoter ≈ 9 %).
* Landa2016 — Landa et al., J Clin Invest 2016;126:1052 (PDTC/ATC: BRAF 33/45 %, RAS 28/24 %,
  TERT promoter 40/73 %).
* Ciampi2019 — Ciampi et al., Thyroid 2019;29:765 / Romei 2016 (sporadic MTC: RET ≈ 50–65 % in
  advanced disease, RAS ≈ 15–20 % of RET-negative).
* SEER — SEER 22 thyroid cancer statistics (sex ratio ≈ 3:1 overall, ≈ 2:1 in advanced DTC; age).
* Shindo2014 / Wang2016 — large T4 DTC series (T4a invaded structures: strap > RLN > trachea >
  oesophagus > larynx; T4b ≈ 10–25 % of T4).
* SELECT — Schlumberger et al., NEJM 2015;372:621 (lenvatinib AE rates).
* ALTER — Sun et al. / Li et al. 2018 anlotinib in thyroid cancer (AE rates).
* ROAR — Subbiah et al., JCO 2018;36:7 / Ann Oncol 2022 (dabrafenib + trametinib AE rates).
* LIBRETTO — Wirth et al., NEJM 2020;383:825 (selpercatinib AE rates, ORR 69–79 %).
* NeoLen — neoadjuvant lenvatinib / anlotinib LATC series (e.g. Huang et al. 2023 Thyroid;
  Gao et al. 2023; Chen et al. 2023): ORR 50–70 %, R0/R1 80–95 %, 2–6 months of therapy.
* Wang2019 — Wang et al., Thyroid 2019;29:1036 (neoadjuvant BRAF-directed therapy in ATC).
* Cabanillas2022 — neoadjuvant dabrafenib (+ trametinib) in BRAF PTC (ORR ≈ 50–80 %).
* Edafe2014 — Edafe et al., Br J Surg 2014;101:307 (hypoparathyroidism: transient 19–38 %,
  permanent 0–3 % after total thyroidectomy; higher with central/extended dissection).
* Jeannon2009 — Jeannon et al., Int J Clin Pract 2009 (RLN palsy: temporary 9.8 %, permanent 2.3 %).
* Dindo2004 — Dindo, Demartines, Clavien, Ann Surg 2004;240:205 (complication grading).
* ATA2015 — Haugen et al., Thyroid 2016;26:1 (RAI activity, Tg/TgAb follow-up, TgAb+ ≈ 25 %).
* Maniakas2020 — Maniakas et al., JAMA Oncol 2020;6:1397 (MD Anderson, 479 ATC 2000–2019: 1-year OS
  35 % / 47 % / 59 % in 2000–13 / 2014–16 / 2017–19, improvement with BRAF-directed therapy; best with
  surgery after neoadjuvant BRAF-directed therapy; treatment algorithm: BRAF V600E IVB/IVC →
  neoadjuvant dabrafenib + trametinib ± immunotherapy, surgery if resectable, BRAF/MEK resumed after).
* Zhao2023 — Zhao et al., Thyroid 2023;33:484 (57 BRAF V600E ATC on BRAF-directed therapy: 32/45 of
  the neoadjuvant patients (71 %) operated; 12-month OS 93.6 % neoadjuvant + surgery, 74.1 % surgery
  then BRAF-directed therapy, 38.5 % never operated; reduced extent of surgery).
* ROAR-ATC — Subbiah et al., Ann Oncol 2022;33:406 (dabrafenib + trametinib in unresectable /
  metastatic BRAF V600E ATC: ORR 56 %, median PFS 6.7 / OS 14.5 months, 12-month OS 51.7 %).
* Gambardella2017 — Gambardella et al., Int J Surg 2017;41:S55 (RLN palsy is reported as
  *unintentional* injury, 1–2 % in tertiary centres; a nerve sacrificed for invasion is not a complication).
"""

from __future__ import annotations

import numpy as np

#: the data-cut date of the synthetic study (no date after it; truth.json "data_cut")
DATA_CUT = "2026-06-30"
#: treatment decisions between these dates (last one ≥ 9 months before the data cut)
ACCRUAL_START = "2019-01-01"
ACCRUAL_END = "2025-09-30"

# --- cohort composition ------------------------------------------------------------------------
#: share of screen failures (one failing criterion each) — STROBE flow exclusions
SCREEN_FAILURE_RATE = 0.04
SCREEN_FAILURE_REASONS = {  # reason → relative weight
    "inc_ecog_0_2": 1.0, "inc_t4_mdt": 2.0, "inc_m1_benefit_documented": 1.0, "inc_measurable_lesion": 1.0,
    "inc_organ_function": 1.0, "inc_consent": 0.7, "exc_refuses_biopsy_surgery": 1.0,
    "exc_prior_neck_surgery": 2.0, "exc_prior_cancer_treatment": 1.0, "exc_concurrent_malignancy": 1.0,
    "exc_uncontrolled_systemic": 1.0, "exc_pregnancy": 0.3,
}

#: histology mix of LATC in tertiary referral series (DTC dominates; PDTC/ATC/MTC over-represented
#: vs all thyroid cancer) — SEER, Shindo2014, NeoLen cohorts
HISTOLOGY = {"ptc": 0.66, "ftc": 0.05, "oncocytic": 0.03, "pdtc": 0.09, "atc": 0.09, "mtc": 0.08}
SUBTYPES = {  # histology → {subtype: p}; ATC/MTC not_applicable (WHO 2022)
    "ptc": {"classic": 0.52, "tall_cell": 0.26, "follicular_variant": 0.08, "columnar": 0.03,
            "hobnail": 0.05, "diffuse_sclerosing": 0.06},
    "ftc": {"minimally_invasive": 0.1, "encapsulated_angioinvasive": 0.3, "widely_invasive": 0.6},
    "oncocytic": {"minimally_invasive": 0.1, "encapsulated_angioinvasive": 0.3, "widely_invasive": 0.6},
    "pdtc": {"solid": 1.0},
    "atc": {"not_applicable": 1.0},
    "mtc": {"not_applicable": 1.0},
}
SUBTYPE_MISSING = 0.05  # histology_subtype is optional

#: age at diagnosis (normal, years; clipped 16–92) — SEER (older in advanced/ATC)
AGE = {"ptc": (54, 14), "ftc": (58, 13), "oncocytic": (62, 12), "pdtc": (60, 12), "atc": (68, 10), "mtc": (52, 14)}
AGE_RANGE = (16, 92)
#: P(female) — SEER; ≈ 2:1 in advanced DTC
FEMALE = {"ptc": 0.66, "ftc": 0.62, "oncocytic": 0.6, "pdtc": 0.55, "atc": 0.58, "mtc": 0.52}
#: ECOG 0/1/2 (eligible patients); ATC worse
ECOG = {"default": (0.58, 0.36, 0.06), "atc": (0.3, 0.5, 0.2)}

#: molecular alterations (mutually exclusive drivers BRAF / RAS / RET mutation / fusion; TERT
#: co-occurs) — TCGA2014 (PTC, enriched for aggressive variants), Landa2016 (PDTC/ATC), Ciampi2019 (MTC)
DRIVERS = {  # histology → P(braf, ras, ret_mutation, ret_fusion, ntrk_fusion, alk_fusion, other_fusion)
    "ptc": (0.64, 0.08, 0.0, 0.07, 0.02, 0.01, 0.03),
    "ftc": (0.0, 0.42, 0.0, 0.0, 0.0, 0.0, 0.05),
    "oncocytic": (0.0, 0.15, 0.0, 0.0, 0.0, 0.0, 0.02),
    "pdtc": (0.30, 0.28, 0.0, 0.02, 0.01, 0.02, 0.03),
    "atc": (0.45, 0.24, 0.0, 0.0, 0.01, 0.01, 0.01),
    "mtc": (0.0, 0.12, 0.62, 0.0, 0.0, 0.0, 0.0),
}
TERT = {"ptc": 0.22, "ftc": 0.25, "oncocytic": 0.25, "pdtc": 0.40, "atc": 0.73, "mtc": 0.0}
#: share of patients without molecular testing (missing completely at random, per center)
NOT_TESTED = 0.06

# --- tumour extent (AJCC 8th) ------------------------------------------------------------------
#: P(cT4b) by histology before the center's case-mix shift — Shindo2014, Wang2016
T4B = {"ptc": 0.22, "ftc": 0.22, "oncocytic": 0.22, "pdtc": 0.32, "atc": 0.45, "mtc": 0.25}
CENTER_T4B_SD = 0.35  # center case-mix: logit shift of P(T4b)
#: P(structure invaded | T4a tumour); at least one of trachea/larynx/oesophagus/RLN/skin is forced
INVASION_T4A = {"strap_muscles": 0.8, "trachea": 0.55, "larynx": 0.16, "esophagus": 0.3, "rln": 0.5, "skin": 0.07}
#: P(T4b structure | T4b tumour); at least one forced
INVASION_T4B = {"carotid": 0.5, "prevertebral": 0.3, "mediastinal_vessels": 0.35}
PRIMARY_SIZE_MM = {"default": (45.0, 0.35), "atc": (62.0, 0.3)}  # lognormal median, sigma; clipped 15–140
CN = {"default": (0.18, 0.22, 0.60), "mtc": (0.1, 0.15, 0.75)}  # N0, N1a, N1b
CM = {"ptc": 0.10, "ftc": 0.22, "oncocytic": 0.15, "pdtc": 0.25, "atc": 0.35, "mtc": 0.15}
M1_SITES = {"lung": 0.6, "bone": 0.14, "lung_and_bone": 0.12, "liver": 0.04, "brain": 0.02, "multiple": 0.08}
#: baseline resectability: ordinal logit on T4b, number of invaded structures, larynx, ATC
RESECTABILITY = {"t4b": 2.2, "per_structure": 0.35, "larynx": 0.4, "atc": 0.8, "cut_borderline": 2.2, "cut_unresectable": 3.6}
PLAN_LARYNGECTOMY_IF_LARYNX = 0.6
PLAN_LARYNGECTOMY_IF_TRACHEA = 0.05
PLAN_TRACHEA = {"shave": 0.42, "window": 0.35, "sleeve": 0.23}  # if trachea invaded
PLAN_ESOPHAGEAL_IF_INVADED = 0.4

# --- the outcome and assignment models (documented in truth.json) -----------------------------
#: true conditional hazard ratios of neoadjuvant therapy vs upfront surgery
HR_RECURRENCE = 0.70
HR_DEATH = 0.80
#: Weibull baseline (time in years): H0(t) = scale * t**shape
RECURRENCE_BASELINE = {"scale": 0.06, "shape": 0.85}
DEATH_BASELINE = {"scale": 0.010, "shape": 1.0}
#: log-hazard coefficients on the design columns (see _model.design_matrix)
RECURRENCE_COEF = {
    "hist_ftc": 0.2, "hist_oncocytic": 0.3, "hist_pdtc": 0.65, "hist_atc": 1.8, "hist_mtc": 0.4,
    "t4b": 0.55, "n_invaded": 0.12, "n1b": 0.3, "m1": 0.7, "age_per10": 0.1, "ecog1": 0.1, "ecog2": 0.3,
    "tert": 0.4, "borderline": 0.2, "unresectable": 0.45, "braf_atc": -1.2,
}
DEATH_COEF = {
    "hist_ftc": 0.3, "hist_oncocytic": 0.4, "hist_pdtc": 1.1, "hist_atc": 3.0, "hist_mtc": 0.6,
    "t4b": 0.5, "n_invaded": 0.05, "n1b": 0.1, "m1": 0.9, "age_per10": 0.5, "ecog1": 0.2, "ecog2": 0.6,
    "tert": 0.4, "borderline": 0.1, "unresectable": 0.3, "braf_atc": -1.6,
}
#: BRAF-directed therapy in BRAF V600E ATC (design column ``braf_atc``: recorded BRAF V600E ATC, all of
#: whom receive dabrafenib + trametinib — neoadjuvant, or adjuvant after upfront surgery): the
#: ``braf_atc`` coefficients above are its log-hazard ratios on death and on recurrence/progression,
#: the same in both cohorts (so the neoadjuvant HRs stay one number each). Calibrated so that, on
#: BRAF-directed therapy, 1-year OS is ≈ 75 % (vs ≈ 25 % for BRAF-negative ATC) and ≈ 75 % of the
#: neoadjuvant patients reach surgery — Maniakas2020, Zhao2023, ROAR-ATC
CENTER_RISK_SD = 0.25  # center log-hazard offsets (recurrence; death uses half)
#: neoadjuvant assignment: logit on the same design columns + planned laryngectomy + centre
PROPENSITY_COEF = {
    "hist_ftc": 0.0, "hist_oncocytic": -0.2, "hist_pdtc": 0.6, "hist_atc": 1.3, "hist_mtc": 0.3,
    "t4b": 1.5, "n_invaded": 0.3, "n1b": 0.1, "m1": 0.5, "age_per10": -0.1, "ecog1": 0.0, "ecog2": -0.4,
    "tert": 0.2, "borderline": 0.7, "unresectable": 1.4, "planned_laryngectomy": 1.0,
}
CENTER_PROPENSITY_SD = 0.7
CENTER_EFFECT_CORRELATION = 0.5  # centers with sicker referrals also treat more often
TARGET_NEOADJUVANT_SHARE = 0.5  # the assignment intercept is solved for this share
#: loss to follow-up after day 270 (rate per year); administrative censoring at the data cut
LOSS_TO_FOLLOW_UP_PER_YEAR = 0.04
LOSS_TO_FOLLOW_UP_START_DAY = 270
MARGINAL_HORIZON_DAYS = 5 * 365
MARGINAL_SAMPLE = 200_000

# --- response to neoadjuvant therapy -------------------------------------------------------------
#: logit P(objective response = best target-sum change ≤ −30 %) — NeoLen, LIBRETTO, Cabanillas2022
RESPONSE_INTERCEPT = {"ptc": -0.3, "ftc": -0.8, "oncocytic": -1.1, "pdtc": -0.7, "atc": -0.4, "mtc": -0.6}
OR_BRAF = 3.0  # true odds ratio of BRAF V600E on objective response
RESPONSE_COEF = {"braf": float(np.log(OR_BRAF)), "ret_altered": 1.3, "ici": 0.35}
#: Gaussian-copula correlation of the response latent with the recurrence prognosis latent
RESPONSE_PROGNOSIS_RHO = 0.5
#: pathological response planted per histology (share of neoadjuvant patients) — NeoLen, Wang2019
PCR_RATE = {"ptc": 0.05, "ftc": 0.02, "oncocytic": 0.02, "pdtc": 0.03, "atc": 0.15, "mtc": 0.03}
MPR_RATE = {"ptc": 0.22, "ftc": 0.10, "oncocytic": 0.08, "pdtc": 0.15, "atc": 0.35, "mtc": 0.15}  # ≤10 % viable, incl. pCR
PATHOLOGY_RESPONSE_RHO = 0.7  # copula correlation of % viable tumour with the response latent

# --- neoadjuvant regimens (mg per day unless stated) -------------------------------------------
DOSE = {  # agent → (start dose, unit, reduced dose levels)
    "lenvatinib": (24, "mg_day", (20, 14)), "anlotinib": (12, "mg_day", (10, 8)),
    "apatinib": (500, "mg_day", (250,)), "sorafenib": (800, "mg_day", (400,)),
    "cabozantinib": (140, "mg_day", (100, 60)), "vandetanib": (300, "mg_day", (200,)),
    "dabrafenib": (300, "mg_day", (200, 150)), "trametinib": (2, "mg_day", (1.5, 1)),
    "selpercatinib": (320, "mg_day", (240, 160)), "pralsetinib": (400, "mg_day", (300,)),
    "larotrectinib": (200, "mg_day", (150,)),
    "pembrolizumab": (200, "mg_q3w", ()), "camrelizumab": (200, "mg_q3w", ()),
    "toripalimab": (240, "mg_q3w", ()), "sintilimab": (200, "mg_q3w", ()),
    "paclitaxel": (175, "mg_m2_q3w", (135,)), "carboplatin": (5, "auc_q3w", (4,)),
}
AGENT_CLASS = {
    "lenvatinib": "mki", "anlotinib": "mki", "apatinib": "mki", "sorafenib": "mki", "cabozantinib": "mki",
    "vandetanib": "mki", "dabrafenib": "braf_mek", "trametinib": "braf_mek", "selpercatinib": "ret_selective",
    "pralsetinib": "ret_selective", "larotrectinib": "ntrk", "pembrolizumab": "ici", "camrelizumab": "ici",
    "toripalimab": "ici", "sintilimab": "ici", "paclitaxel": "chemo", "carboplatin": "chemo",
}
MKI_CHOICE = {"lenvatinib": 0.55, "anlotinib": 0.33, "apatinib": 0.06, "sorafenib": 0.06}
MKI_CHOICE_MTC = {"anlotinib": 0.45, "cabozantinib": 0.3, "vandetanib": 0.25}
ICI_CHOICE = {"pembrolizumab": 0.45, "camrelizumab": 0.2, "toripalimab": 0.2, "sintilimab": 0.15}
P_ICI = {"default": 0.2, "pdtc": 0.4, "atc": 0.75}
P_CHEMO_ATC = 0.1  # BRAF-negative ATC: paclitaxel + carboplatin instead of a TKI
P_SELPERCATINIB = 0.75  # vs pralsetinib
#: BRAF V600E DTC/PDTC: dabrafenib + trametinib (else a multikinase inhibitor); BRAF ATC always
P_BRAF_MEK_DTC = 0.5
DURATION_DAYS = (60, 90, 180)  # triangular: min, mode, max (2–6 months) — NeoLen
P_TOXICITY_STOP = 0.06
P_SALVAGE_SURGERY_AFTER_PROGRESSION = 0.35
ASSESSMENT_INTERVAL_DAYS = (42, 56)  # RECIST imaging every 6–8 weeks
P_NE_TIMEPOINT = 0.05  # one target lesion not imaged
SHRINK_TAU_DAYS = (25, 55)  # time constant of the exponential shrinkage curve

# --- adverse events (CTCAE v5): any-grade probability over a 2–6 month course, share grade ≥ 3 ---
#: SELECT / ALTER / ROAR / LIBRETTO / KEYNOTE rates scaled to short neoadjuvant exposure
AE_RATES = {
    "mki": {"hypertension": (0.60, 0.30), "proteinuria": (0.30, 0.08), "diarrhea": (0.40, 0.06), "fatigue": (0.45, 0.06),
            "ppe": (0.35, 0.04), "anorexia": (0.30, 0.04), "weight_loss": (0.25, 0.05), "mucositis_oral": (0.20, 0.02),
            "hypothyroidism": (0.15, 0.0), "alt_increased": (0.10, 0.02), "platelet_decreased": (0.10, 0.01),
            "hoarseness": (0.08, 0.0), "pharyngeal_hemorrhage": (0.02, 0.5), "tracheal_fistula": (0.012, 0.8),
            "esophageal_fistula": (0.005, 0.8), "wound_complication": (0.015, 0.3), "thromboembolic_event": (0.01, 0.5)},
    "braf_mek": {"fever": (0.45, 0.06), "fatigue": (0.35, 0.03), "nausea": (0.25, 0.01), "rash_maculopapular": (0.20, 0.02),
                 "diarrhea": (0.18, 0.01), "arthralgia": (0.15, 0.01), "headache": (0.15, 0.0), "alt_increased": (0.08, 0.02),
                 "neutrophil_decreased": (0.06, 0.02)},
    "ret_selective": {"hypertension": (0.30, 0.12), "alt_increased": (0.35, 0.08), "ast_increased": (0.38, 0.06),
                      "diarrhea": (0.30, 0.03), "fatigue": (0.30, 0.02), "qtc_prolonged": (0.15, 0.03), "headache": (0.15, 0.0)},
    "ntrk": {"fatigue": (0.3, 0.02), "alt_increased": (0.25, 0.03), "anemia": (0.2, 0.05)},
    "ici": {"hypothyroidism": (0.12, 0.0), "rash_maculopapular": (0.12, 0.02), "colitis": (0.02, 0.5),
            "pneumonitis": (0.03, 0.3), "adrenal_insufficiency": (0.01, 0.3), "fever": (0.05, 0.0)},
    "chemo": {"neutrophil_decreased": (0.5, 0.4), "anemia": (0.4, 0.1), "nausea": (0.4, 0.03), "fatigue": (0.4, 0.05),
              "vomiting": (0.2, 0.02), "platelet_decreased": (0.2, 0.05)},
}

# --- surgery (Edafe2014, Jeannon2009, Dindo2004, NeoLen) -------------------------------------
P_R0 = {"upfront": {"resectable": 0.62, "borderline": 0.40, "unresectable": 0.18},
        "neoadjuvant": {"resectable": 0.70, "borderline": 0.55, "unresectable": 0.40}}
P_R2 = {"resectable": 0.02, "borderline": 0.08, "unresectable": 0.30}  # upfront; halved by response
#: planned laryngectomy / planned oesophageal resection not performed (organ preservation), by
#: response to neoadjuvant therapy (never after upfront surgery) — NeoLen, Zhao2023
P_ORGAN_PRESERVATION = {"responder": 0.7, "non_responder": 0.2}
P_TRACHEA_DOWNSIZED_RESPONDER = 0.55  # planned tracheal resection one step smaller (sleeve → window → shave → none)
#: P(invaded recurrent laryngeal nerve resected): less often after response (NeoLen)
P_RLN_RESECTED_IF_INVADED = {"responder": 0.25, "non_responder": 0.45, "upfront": 0.55}
COMPLICATIONS = {  # type → (probability, Clavien–Dindo grades, weights)
    "hematoma": (0.015, ("IIIb",), (1.0,)),
    "chyle_leak": (0.03, ("I", "II", "IIIa"), (0.5, 0.35, 0.15)),  # with lateral neck dissection only
    "wound_infection": (0.02, ("I", "II"), (0.3, 0.7)),
    "seroma": (0.03, ("I", "IIIa"), (0.8, 0.2)),
    "fistula": (0.025, ("IIIa", "IIIb"), (0.5, 0.5)),  # with tracheal / oesophageal resection only
    "tracheostomy": (0.015, ("IIIb",), (1.0,)),
    "pneumonia": (0.02, ("II", "IVa"), (0.85, 0.15)),
    "cardiovascular": (0.01, ("II", "IVa"), (0.6, 0.4)),
    "thromboembolic": (0.005, ("II",), (1.0,)),
    "other": (0.02, ("I", "II"), (0.6, 0.4)),
}
HYPOPARA = {"transient": 0.28, "permanent": 0.07}  # after bilateral central dissection ×1.3
RLN_PALSY = {"transient": 0.10, "permanent": 0.03}  # unintended palsy per operated patient (Jeannon2009)
#: a resected (invaded) nerve is not a complication; the contralateral nerve alone is at risk
RLN_PALSY_RESECTED_FACTOR = 0.5
TKI_WOUND_FACTOR = 1.5  # wound problems after neoadjuvant kinase inhibitors

# --- adjuvant therapy (ATA2015) ----------------------------------------------------------------
P_RAI = 0.78  # operated DTC / PDTC
RAI_ACTIVITY_MBQ = {3700: 0.55, 5550: 0.35, 7400: 0.10}
P_EBRT = {"atc": 0.6, "r1r2_dtc": 0.15, "mtc_r2": 0.3}
#: BRAF V600E ATC: dabrafenib + trametinib after surgery (resumed after neoadjuvant therapy, started
#: after upfront surgery) — Maniakas2020 treatment algorithm, Zhao2023
P_ADJUVANT_BRAF_ATC = 1.0
P_TGAB_POSITIVE = 0.2  # ATA2015: TgAb detectable in ≈ 20–25 % of DTC

# --- biospecimens -------------------------------------------------------------------------------
#: (timepoint, tissue, assay) → (P(sample) at a participating center, needs omics center)
BIOSPECIMENS = {
    ("baseline", "tumour", "he_slide"): (0.90, False),
    ("baseline", "tumour", "ultrasound"): (0.85, False),
    ("baseline", "tumour", "bulk_rna_seq"): (0.35, True),
    ("baseline", "tumour", "scrna_seq"): (0.25, True),
    ("baseline", "tumour", "spatial"): (0.10, True),
    ("baseline", "lymph_node", "scrna_seq"): (0.08, True),
    ("baseline", "blood", "flow"): (0.45, True),
    ("baseline", "blood", "scrna_seq"): (0.15, True),
    ("on_treatment", "tumour", "ultrasound"): (0.65, False),
    ("on_treatment", "tumour", "bulk_rna_seq"): (0.06, True),
    ("on_treatment", "blood", "flow"): (0.40, True),
    ("on_treatment", "blood", "scrna_seq"): (0.12, True),
    ("surgery", "tumour", "he_slide"): (0.95, False),
    ("surgery", "tumour", "bulk_rna_seq"): (0.40, True),
    ("surgery", "tumour", "scrna_seq"): (0.25, True),
    ("surgery", "tumour", "spatial"): (0.15, True),
    ("surgery", "lymph_node", "he_slide"): (0.50, False),
    ("surgery", "lymph_node", "scrna_seq"): (0.12, True),
    ("surgery", "lymph_node", "bulk_rna_seq"): (0.10, True),
    ("surgery", "blood", "flow"): (0.40, True),
    ("surgery", "blood", "scrna_seq"): (0.12, True),
}
OMICS_CENTER_SHARE = 0.5  # share of centers running scRNA-seq / spatial / bulk / flow
FILE_EXTENSION = {"scrna_seq": "h5ad", "bulk_rna_seq": "tsv", "spatial": "h5ad", "flow": "fcs",
                  "he_slide": "tif", "ultrasound": "png"}  # read by latc.omics.imaging
P_FILE_PENDING = 0.08  # file_ref blank: data not yet delivered
