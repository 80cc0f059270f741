"""RECIST 1.1 timepoint response from lesion measurements.

Source: Eisenhauer EA, Therasse P, Bogaerts J, et al. New response evaluation criteria in solid
tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45:228-247, and the EORTC RECIST
working group's published questions and clarifications (recist.eortc.org, "FAQ").

Inputs are the clean typed study tables (see ``docs/dev/CONTRACTS.md``):

* ``lesions`` — one row per baseline lesion: ``patient_id, lesion_id, site, lesion_role``
  (``target`` / ``non_target``), ``is_lymph_node``, ``baseline_date``, ``baseline_diameter_mm``
  (longest diameter; short axis for nodes).
* ``lesion_assessments`` — one row per lesion × imaging date: ``patient_id, lesion_id,
  assessment_date, measurement_status`` (measured / too_small / disappeared / not_evaluable /
  not_applicable), ``diameter_mm``, ``non_target_status`` (present / absent /
  unequivocal_progression / not_evaluable), ``is_new_lesion``.

Each distinct ``assessment_date`` of a patient is one timepoint (record the same date for every
lesion read on one radiological assessment).  All functions are vectorised (group-by aggregations;
no per-patient Python loops) and never modify their inputs.

Public functions
----------------
:func:`check_target_lesions`  — baseline target-lesion selection problems (§3.1, §4.2).
:func:`timepoint_responses`   — the ``tumour``-like table: sums, changes, target / non-target /
                                 new-lesion / overall response per patient × date (§4.3, Tables 1-2).
:func:`response_long`         — the same responses as a long (``response``-like) table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "CR",
    "PR",
    "SD",
    "NON_CR_NON_PD",
    "PD",
    "NE",
    "TOO_SMALL_MM",
    "check_target_lesions",
    "timepoint_responses",
    "response_long",
]

CR, PR, SD, NON_CR_NON_PD, PD, NE = "CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"

#: §A3 / EORTC FAQ "Lesions less than 5 mm": a lesion present but too small to measure counts 5 mm.
TOO_SMALL_MM = 5.0
#: §3.1.1: a measurable non-nodal lesion has a longest diameter of at least 10 mm (CT).
MEASURABLE_NON_NODAL_MM = 10.0
#: §3.1.1: a pathological node is measurable (may be a target) with a short axis of at least 15 mm.
MEASURABLE_NODE_MM = 15.0
#: §4.3.1: a target node counts as normal (CR) below 10 mm short axis.
NORMAL_NODE_MM = 10.0
MAX_TARGETS = 5  # §4.2: at most five target lesions in total ...
MAX_TARGETS_PER_ORGAN = 2  # ... and at most two per organ; all lymph nodes are one organ (EORTC FAQ)

PR_DECREASE_PERCENT = 30.0  # §4.3.1: PR is a decrease of at least 30 % vs the baseline sum
PD_INCREASE_PERCENT = 20.0  # §4.3.1: PD is an increase of at least 20 % vs the nadir ...
PD_INCREASE_MM = 5.0  # ... and of at least 5 mm absolute
_EPS = 1e-9  # comparisons at the exact thresholds (30 %, 20 %, 5 mm) are inclusive

PROBLEM_COLUMNS = ["patient_id", "lesion_id", "rule", "message"]

TUMOUR_COLUMNS = [
    "patient_id",
    "assessment_date",
    "baseline_date",
    "n_target_lesions",
    "n_targets_evaluated",
    "sum_of_diameters_mm",
    "sum_of_evaluated_diameters_mm",
    "baseline_sum_mm",
    "change_from_baseline_mm",
    "percent_change_from_baseline",
    "nadir_mm",
    "change_from_nadir_mm",
    "percent_change_from_nadir",
    "target_response",
    "n_non_target_lesions",
    "non_target_response",
    "new_lesion",
    "overall_response",
]


# --------------------------------------------------------------------------------------------
# helpers


def _as_bool(s: pd.Series) -> np.ndarray:
    """yesno column (boolean, or raw "1"/"0") → numpy bool, missing → False."""
    if s.dtype == bool:
        return s.to_numpy()
    if pd.api.types.is_bool_dtype(s):
        return s.fillna(False).to_numpy(dtype=bool)
    txt = s.astype("string").str.strip().str.lower()
    return txt.isin(["1", "true", "yes", "y"]).fillna(False).to_numpy(dtype=bool)


def _as_float(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def _as_date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce")


def _lesion_number(lesion_id: pd.Series) -> np.ndarray:
    """T1 → 1, NT12 → 12 (natural order for listing excess lesions); unparseable → large."""
    digits = lesion_id.astype("str").str.replace(r"^.*?(\d*)$", r"\1", regex=True)
    num = pd.to_numeric(digits.where(digits != ""), errors="coerce")
    return num.fillna(10**6).to_numpy()


def _prepare_lesions(lesions: pd.DataFrame) -> pd.DataFrame:
    les = pd.DataFrame(
        {
            "patient_id": lesions["patient_id"].astype("str").to_numpy(),
            "lesion_id": lesions["lesion_id"].astype("str").to_numpy(),
            "site": lesions["site"].astype("str").to_numpy(),
            "is_target": (lesions["lesion_role"].astype("string") == "target").fillna(False).to_numpy(dtype=bool),
            "is_non_target": (lesions["lesion_role"].astype("string") == "non_target").fillna(False).to_numpy(dtype=bool),
            "is_node": _as_bool(lesions["is_lymph_node"]),
            "baseline_date": _as_date(lesions["baseline_date"]).to_numpy(),
            "baseline_mm": _as_float(lesions["baseline_diameter_mm"]),
        }
    )
    return les.drop_duplicates(["patient_id", "lesion_id"], keep="last")


# --------------------------------------------------------------------------------------------
# target lesion selection (baseline)


def check_target_lesions(lesions: pd.DataFrame) -> pd.DataFrame:
    """Check the baseline choice of target lesions against RECIST 1.1 and list the problems.

    Rules (Eisenhauer 2009):

    * ``max_5_targets`` — §4.2: at most 5 target lesions per patient; every target beyond the
      fifth (in lesion-number order) is listed.
    * ``max_2_targets_per_organ`` — §4.2: at most 2 target lesions per organ; all lymph nodes
      count as one organ (EORTC RECIST FAQ, "two target lesions"); the excess ones are listed.
    * ``target_not_measurable`` — §3.1.1: a target must be measurable: longest diameter ≥ 10 mm
      for a non-nodal lesion, short axis ≥ 15 mm for a lymph node.
    * ``target_baseline_missing`` — a target without a baseline diameter cannot enter the sum.

    Returns a DataFrame ``patient_id, lesion_id, rule, message`` (empty when all is well); a
    problem never raises.
    """
    les = _prepare_lesions(lesions)
    tgt = les.loc[les["is_target"]].copy()
    tgt["_num"] = _lesion_number(tgt["lesion_id"])
    tgt = tgt.sort_values(["patient_id", "_num", "lesion_id"], kind="stable")
    out: list[pd.DataFrame] = []

    def _emit(mask: np.ndarray, rule: str, message) -> None:
        """``message``: a Series over the targets, or a function of the flagged rows' index."""
        if mask.any():
            sub = tgt.loc[mask]
            msg = message(sub.index) if callable(message) else message[mask]
            out.append(pd.DataFrame({"patient_id": sub["patient_id"], "lesion_id": sub["lesion_id"], "rule": rule, "message": msg}))

    n_per_patient = tgt.groupby("patient_id", sort=False)["lesion_id"].transform("size")
    rank = tgt.groupby("patient_id", sort=False).cumcount() + 1
    _emit(
        (rank > MAX_TARGETS).to_numpy(),
        "max_5_targets",
        "patient has " + n_per_patient.astype(str) + f" target lesions; RECIST 1.1 §4.2 allows at most {MAX_TARGETS}"
        " (this one is beyond the fifth)",
    )

    organ = pd.Series(np.where(tgt["is_node"], "lymph nodes", tgt["site"]), index=tgt.index)
    tgt["_organ"] = organ
    n_organ = tgt.groupby(["patient_id", "_organ"], sort=False)["lesion_id"].transform("size")
    rank_organ = tgt.groupby(["patient_id", "_organ"], sort=False).cumcount() + 1
    _emit(
        (rank_organ > MAX_TARGETS_PER_ORGAN).to_numpy(),
        "max_2_targets_per_organ",
        n_organ.astype(str) + " target lesions in organ '" + organ + f"'; RECIST 1.1 §4.2 allows at most "
        f"{MAX_TARGETS_PER_ORGAN} per organ (all lymph nodes are one organ)",
    )

    bl = tgt["baseline_mm"]
    _emit(
        bl.isna().to_numpy(),
        "target_baseline_missing",
        pd.Series("target lesion has no baseline diameter; it cannot enter the baseline sum (RECIST 1.1 §4.2)", index=tgt.index),
    )
    threshold = np.where(tgt["is_node"], MEASURABLE_NODE_MM, MEASURABLE_NON_NODAL_MM)
    too_small = (bl.notna() & (bl.to_numpy() < threshold - _EPS)).to_numpy()
    kind = np.where(tgt["is_node"], "lymph node short axis", "longest diameter")
    kind_s, thr_s = pd.Series(kind, index=tgt.index), pd.Series(threshold, index=tgt.index)
    _emit(
        too_small,
        "target_not_measurable",
        lambda idx: kind_s[idx] + " " + bl[idx].map("{:g}".format) + " mm is below the "
        + thr_s[idx].map("{:g}".format) + " mm needed for a measurable target (RECIST 1.1 §3.1.1)",
    )

    if not out:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in PROBLEM_COLUMNS})
    res = pd.concat(out, ignore_index=True)
    return res[PROBLEM_COLUMNS].astype("str").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# timepoint response


def _target_values(measurement_status: pd.Series, diameter_mm: pd.Series) -> np.ndarray:
    """The value a target contributes to the sum (NaN = not evaluated).

    measured → the recorded diameter; too_small → 5 mm (§A3, EORTC FAQ "lesions less than 5 mm");
    disappeared → 0 mm; not_evaluable / not_applicable / missing → not evaluated.
    """
    status = measurement_status.astype("string").fillna("").to_numpy(dtype=object)
    diam = _as_float(diameter_mm)
    val = np.full(len(status), np.nan)
    val = np.where(status == "measured", diam, val)
    val = np.where(status == "too_small", TOO_SMALL_MM, val)
    val = np.where(status == "disappeared", 0.0, val)
    return val


def _nadir_before(pid_codes: np.ndarray, complete_sums: np.ndarray, baseline_sums: np.ndarray) -> np.ndarray:
    """Smallest complete sum before each row (baseline included), rows sorted by patient, date.

    §4.3.1: PD takes "as reference the smallest sum on study (this includes the baseline sum if
    that is the smallest on study)".  Only complete sums (all targets evaluated) can be a nadir.
    """
    n = len(pid_codes)
    if n == 0:
        return np.array([], dtype=float)
    # prepend a baseline row per patient, cumulative minimum skipping missing, shift by one
    first = np.r_[True, pid_codes[1:] != pid_codes[:-1]]
    pos_first = np.flatnonzero(first)
    ext_vals = np.insert(complete_sums.astype(float), pos_first, baseline_sums[pos_first])
    ext_pid = np.insert(pid_codes, pos_first, pid_codes[pos_first])
    s = pd.Series(ext_vals)
    cm = s.groupby(ext_pid, sort=False).cummin()
    cm = cm.groupby(ext_pid, sort=False).ffill()
    prev = cm.groupby(ext_pid, sort=False).shift(1).to_numpy()
    is_baseline_row = np.zeros(len(ext_vals), dtype=bool)
    is_baseline_row[pos_first + np.arange(len(pos_first))] = True
    return prev[~is_baseline_row]


def timepoint_responses(lesions: pd.DataFrame, lesion_assessments: pd.DataFrame) -> pd.DataFrame:
    """RECIST 1.1 response at every imaging timepoint: the ``tumour`` analysis table.

    One row per patient × ``assessment_date`` found in ``lesion_assessments`` (baseline is not a
    row; its date and sum are columns).  Columns (see :data:`TUMOUR_COLUMNS`):

    * ``sum_of_diameters_mm`` — §4.2/§4.3.1: sum of the target diameters (short axis for nodes;
      too_small = 5 mm, disappeared = 0 mm); missing unless every target was evaluated.
      ``sum_of_evaluated_diameters_mm`` is the sum over the evaluated targets only.
    * ``baseline_sum_mm``, ``change_from_baseline_mm``, ``percent_change_from_baseline``.
    * ``nadir_mm`` — smallest complete sum before this timepoint, baseline included (§4.3.1);
      ``change_from_nadir_mm``, ``percent_change_from_nadir`` (from the evaluated sum, so a
      partial sum can show PD).
    * ``target_response`` (§4.3.1): CR — every non-nodal target disappeared (0 mm) and every
      nodal target < 10 mm short axis; PD — sum ≥ 20 % above the nadir and ≥ 5 mm above it;
      PR — sum ≥ 30 % below baseline; SD — otherwise; NE — some target not evaluated, unless the
      evaluated ones already meet PD (Appendix, "missing assessments and inevaluable
      designation").  CR is assigned before PD: nodes below 10 mm are normal, so their growth
      below 10 mm is not progression (EORTC FAQ, "abnormal lymph node").  Missing when the patient
      has no target lesion.
    * ``non_target_response`` (§4.3.3): PD — unequivocal progression of any non-target; NE —
      any non-target not evaluated (no status / not_evaluable / no row); CR — all absent (nodes
      normal); otherwise NON-CR/NON-PD.  Missing when the patient has no non-target lesion.
    * ``new_lesion`` — §4.3.2: an unequivocal new lesion was recorded at this date.
    * ``overall_response`` — §4.4.1 Table 1 (target disease, with or without non-targets) and
      Table 2 (non-target disease only): any PD or a new lesion → PD; CR + CR (or no
      non-targets) → CR; CR + NON-CR/NON-PD or NE → PR; PR + non-PD/NE → PR; SD + non-PD/NE → SD;
      NE targets + non-PD → NE.  Table 2: CR → CR, NON-CR/NON-PD → NON-CR/NON-PD, NE → NE.
      A patient without any baseline lesion gets NE (PD with a new lesion).
    """
    les = _prepare_lesions(lesions)
    la = lesion_assessments
    asm = pd.DataFrame(
        {
            "patient_id": la["patient_id"].astype("str").to_numpy(),
            "lesion_id": la["lesion_id"].astype("str").to_numpy(),
            "assessment_date": _as_date(la["assessment_date"]).to_numpy(),
            "value": _target_values(la["measurement_status"], la["diameter_mm"]),
            "nt_status": la["non_target_status"].astype("string").to_numpy() if "non_target_status" in la else pd.NA,
            "is_new": _as_bool(la["is_new_lesion"]),
        }
    )
    asm = asm.loc[asm["assessment_date"].notna()]
    asm = asm.drop_duplicates(["patient_id", "lesion_id", "assessment_date"], keep="last")

    # timepoints: every (patient, date) with any assessment row
    tp = asm[["patient_id", "assessment_date"]].drop_duplicates().sort_values(["patient_id", "assessment_date"], kind="stable")
    tp = tp.reset_index(drop=True)
    keys = ["patient_id", "assessment_date"]

    # per-patient baseline
    tgt_les = les.loc[les["is_target"]]
    per_patient = pd.DataFrame(
        {
            "n_target_lesions": tgt_les.groupby("patient_id").size(),
            "baseline_sum_mm": tgt_les.groupby("patient_id")["baseline_mm"].sum(min_count=1),
            "_baseline_complete": tgt_les["baseline_mm"].notna().groupby(tgt_les["patient_id"]).all(),
            "n_nodal_targets": tgt_les.groupby("patient_id")["is_node"].sum(),
        }
    )
    nt_les = les.loc[les["is_non_target"]]
    per_patient = per_patient.join(nt_les.groupby("patient_id").size().rename("n_non_target_lesions"), how="outer")
    per_patient = per_patient.join(les.groupby("patient_id")["baseline_date"].max(), how="outer")
    per_patient.index.name = "patient_id"
    tp = tp.merge(per_patient.reset_index(), on="patient_id", how="left")
    for c in ("n_target_lesions", "n_non_target_lesions", "n_nodal_targets"):
        tp[c] = tp[c].fillna(0).astype("int64")
    tp["_baseline_complete"] = tp["_baseline_complete"].astype("boolean").fillna(False).astype(bool)
    tp.loc[~tp["_baseline_complete"], "baseline_sum_mm"] = np.nan

    # ---- targets
    ta = asm.merge(tgt_les[["patient_id", "lesion_id", "is_node"]], on=["patient_id", "lesion_id"], how="inner")
    ta_eval = ta.loc[~np.isnan(ta["value"].to_numpy())]
    cr_ok = np.where(ta_eval["is_node"], ta_eval["value"] < NORMAL_NODE_MM - _EPS, ta_eval["value"] <= _EPS)
    g = ta_eval.assign(_cr_ok=cr_ok).groupby(keys, sort=False)
    tagg = pd.DataFrame(
        {
            "n_targets_evaluated": g.size(),
            "sum_of_evaluated_diameters_mm": g["value"].sum(),
            "_n_cr_ok": g["_cr_ok"].sum(),
        }
    ).reset_index()
    tp = tp.merge(tagg, on=keys, how="left")
    tp["n_targets_evaluated"] = tp["n_targets_evaluated"].fillna(0).astype("int64")
    tp["_n_cr_ok"] = tp["_n_cr_ok"].fillna(0).astype("int64")
    has_targets = tp["n_target_lesions"].to_numpy() > 0
    complete = has_targets & (tp["n_targets_evaluated"].to_numpy() == tp["n_target_lesions"].to_numpy())
    evaluated_sum = tp["sum_of_evaluated_diameters_mm"].to_numpy(dtype=float, na_value=np.nan)
    evaluated_sum = np.where(has_targets & np.isnan(evaluated_sum), 0.0, evaluated_sum)
    tp["sum_of_evaluated_diameters_mm"] = np.where(has_targets, evaluated_sum, np.nan)
    sums = np.where(complete, evaluated_sum, np.nan)
    tp["sum_of_diameters_mm"] = sums

    base = tp["baseline_sum_mm"].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        tp["change_from_baseline_mm"] = sums - base
        tp["percent_change_from_baseline"] = np.where(base > 0, (sums - base) / base * 100.0, np.nan)
        pid_codes = pd.factorize(tp["patient_id"])[0]
        nadir = _nadir_before(pid_codes, sums, base)
        tp["nadir_mm"] = nadir
        eval_or_nan = np.where(has_targets, evaluated_sum, np.nan)
        chg_nadir = eval_or_nan - nadir
        tp["change_from_nadir_mm"] = chg_nadir
        pct_nadir = np.where(nadir > 0, chg_nadir / nadir * 100.0, np.where(nadir == 0, np.where(chg_nadir > 0, np.inf, 0.0), np.nan))
        tp["percent_change_from_nadir"] = pct_nadir

        # §4.3.1 PD: ≥ 20 % over the nadir and ≥ 5 mm absolute; the evaluated targets alone may
        # establish it (Appendix: missing lesions can only add to the sum).
        is_pd = (chg_nadir >= PD_INCREASE_MM - _EPS) & (chg_nadir * 100.0 >= PD_INCREASE_PERCENT * nadir - _EPS)
        is_pd &= ~np.isnan(nadir) & ~np.isnan(chg_nadir)
        is_cr = complete & (tp["_n_cr_ok"].to_numpy() == tp["n_target_lesions"].to_numpy())
        pct_base = tp["percent_change_from_baseline"].to_numpy(dtype=float, na_value=np.nan)
        is_pr = complete & (pct_base <= -PR_DECREASE_PERCENT + _EPS)
    baseline_ok = tp["_baseline_complete"].to_numpy()
    target = np.select(
        [~has_targets, ~baseline_ok, complete & is_cr, is_pd, ~complete, is_pr],
        [None, NE, CR, PD, NE, PR],
        default=SD,
    )
    tp["target_response"] = pd.array(target, dtype="str")

    # ---- non-targets
    na = asm.merge(nt_les[["patient_id", "lesion_id"]], on=["patient_id", "lesion_id"], how="inner")
    st = na["nt_status"].astype("string")
    nag = pd.DataFrame(
        {
            "patient_id": na["patient_id"],
            "assessment_date": na["assessment_date"],
            "_pd": (st == "unequivocal_progression").fillna(False).to_numpy(dtype=bool),
            "_absent": (st == "absent").fillna(False).to_numpy(dtype=bool),
            "_present": (st == "present").fillna(False).to_numpy(dtype=bool),
        }
    ).groupby(keys, sort=False)[["_pd", "_absent", "_present"]].sum().reset_index()
    tp = tp.merge(nag, on=keys, how="left")
    for c in ("_pd", "_absent", "_present"):
        tp[c] = tp[c].fillna(0).astype("int64")
    n_nt = tp["n_non_target_lesions"].to_numpy()
    has_nt = n_nt > 0
    nt_all_evaluated = (tp["_absent"] + tp["_present"] + tp["_pd"]).to_numpy() == n_nt
    non_target = np.select(
        [~has_nt, tp["_pd"].to_numpy() > 0, ~nt_all_evaluated, tp["_absent"].to_numpy() == n_nt],
        [None, PD, NE, CR],
        default=NON_CR_NON_PD,
    )
    tp["non_target_response"] = pd.array(non_target, dtype="str")

    # ---- new lesions (§4.3.2)
    new = asm.loc[asm["is_new"], keys].drop_duplicates().assign(new_lesion=True)
    tp = tp.merge(new, on=keys, how="left")
    tp["new_lesion"] = tp["new_lesion"].astype("boolean").fillna(False).astype(bool)

    # ---- overall (§4.4.1, Tables 1 and 2)
    t = tp["target_response"].to_numpy(dtype=object)
    nt = tp["non_target_response"].to_numpy(dtype=object)
    any_pd = tp["new_lesion"].to_numpy() | (t == PD) | (nt == PD)
    nt_cr_or_none = (nt == CR) | ~has_nt
    overall = np.select(
        [
            any_pd,
            # Table 1: targets at baseline
            has_targets & (t == CR) & nt_cr_or_none,
            has_targets & (t == CR),  # with NON-CR/NON-PD or not evaluated non-targets
            has_targets & (t == PR),
            has_targets & (t == SD),
            has_targets,  # target NE, non-targets non-PD
            # Table 2: non-target disease only
            has_nt & (nt == CR),
            has_nt & (nt == NON_CR_NON_PD),
        ],
        [PD, CR, PR, PR, SD, NE, CR, NON_CR_NON_PD],
        default=NE,
    )
    tp["overall_response"] = pd.array(overall, dtype="str")

    tp["assessment_date"] = tp["assessment_date"].astype("datetime64[ns]")
    tp["baseline_date"] = tp["baseline_date"].astype("datetime64[ns]")
    for c in ("baseline_sum_mm", "sum_of_diameters_mm", "sum_of_evaluated_diameters_mm"):
        tp[c] = tp[c].astype("float64")
    return tp[TUMOUR_COLUMNS].reset_index(drop=True)


def response_long(tumour: pd.DataFrame) -> pd.DataFrame:
    """The responses of :func:`timepoint_responses` as a long ``response``-like table.

    One row per patient × date × parameter, parameters ``target_response``,
    ``non_target_response``, ``new_lesion`` (``Y`` / ``N``) and ``overall_response``; rows with no
    value (no target / no non-target disease) are left out.  Columns ``patient_id,
    assessment_date, parameter, value, source`` (source ``RECIST 1.1 derived``).
    """
    wide = tumour[["patient_id", "assessment_date", "target_response", "non_target_response", "new_lesion", "overall_response"]].copy()
    wide["new_lesion"] = np.where(wide["new_lesion"].astype(bool), "Y", "N")
    long = wide.melt(id_vars=["patient_id", "assessment_date"], var_name="parameter", value_name="value")
    long = long.loc[long["value"].notna()]
    order = {"target_response": 0, "non_target_response": 1, "new_lesion": 2, "overall_response": 3}
    long = long.assign(_o=long["parameter"].map(order)).sort_values(["patient_id", "assessment_date", "_o"], kind="stable")
    long["value"] = long["value"].astype("str")
    long["source"] = "RECIST 1.1 derived"
    return long.drop(columns="_o").reset_index(drop=True)
