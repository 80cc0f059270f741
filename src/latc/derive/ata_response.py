"""ATA 2015 response to therapy after surgery for differentiated thyroid cancer, and the postoperative
Tg flag of the initial-risk module.

Sources: Haugen BR et al., *Thyroid* 2016;26:1-133 (ATA 2015), Table 13 (total thyroidectomy with
RAI remnant ablation; after Tuttle RM et al., *Thyroid* 2010;20:1341 and Vaisman F et al., *Clin
Endocrinol* 2012;77:132) and the guideline's text on patients treated without RAI; Momesso DP,
Vaisman F, Yang SP et al., "Dynamic risk stratification in patients with differentiated thyroid
cancer treated without radioactive iodine", *J Clin Endocrinol Metab* 2016;101:2692-2700, Table 1
(total thyroidectomy without RAI, and lobectomy).  Details and boundary conventions in
``docs/derivations/biochemical.md``.

Thresholds on interpretable Tg (ng/mL; TgAb negative), by initial therapy (``THRESHOLDS``):

=====================  ==========================  ==========================  =====================
regimen                excellent                   indeterminate               biochemical incomplete
=====================  ==========================  ==========================  =====================
total + RAI            suppressed < 0.2 or         suppressed 0.2 to < 1,      suppressed >= 1 or
(Haugen Table 13)      stimulated < 1              stimulated 1 to < 10        stimulated >= 10
total, no RAI          suppressed < 0.2 or         suppressed 0.2-5,           suppressed > 5 or
(Momesso Table 1)      stimulated < 2              stimulated 2-10             stimulated > 10
lobectomy              suppressed < 30             suppressed = 30             suppressed > 30
(Momesso Table 1)
=====================  ==========================  ==========================  =====================

Excellent and biochemical incomplete also need negative imaging; nonspecific imaging or a positive but
stable/declining TgAb → indeterminate; rising TgAb → biochemical incomplete; structural or functional
evidence of disease (``imaging_result == 'structural_disease'`` or a structural recurrence) →
structural incomplete whatever Tg is.  When two Tg measures disagree, evidence of disease wins
(biochemical incomplete if either meets it; otherwise excellent if either meets it — the table's
"either … or"); biochemical incomplete also outranks nonspecific imaging.

Landmark: the assessment window ``[window_start_days, window_end_days]`` after the index (first
curative) surgery — default 6-24 months — restricted to dates after the first RAI when RAI was given
(so the pre-ablation stimulated Tg is not read as a response).  ``rule='last'`` (default) uses the
last imaging, the last suppressed and last stimulated Tg and the last TgAb in the window;
``rule='worst'`` the worst imaging and the highest values.  Not applicable to medullary or anaplastic
carcinoma (missing with the reason); PDTC is assessed like DTC (follicular-cell derived, Tg-producing
— a platform choice).  "Rising Tg with similar TSH" (Momesso) is not derived: TSH comparability is
not recorded in a usable way; the level thresholds are applied.

:func:`ata_response_to_therapy` follows the sections of the table, one small function each: the
setting (index operation, window, extent, RAI → regimen), imaging and structural evidence in the
window, Tg (interpretable, suppressed / stimulated) → Tg category, TgAb → trend, and their
combination into the ATA category with the reason when none can be given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from latc._compat import tables_deprecated
from latc.derive._tables import study_tables
from latc.derive.biochem import (
    _col,
    _concat_problems,
    _dates,
    _days,
    _pick,
    _problems,
    first_curative_surgery,
    harmonise_labs,
    marker_rows,
    positions,
)
from latc.derive.staging import normalise_histology

RESPONSE_CATEGORIES = ("excellent", "indeterminate", "biochemical_incomplete", "structural_incomplete")
APPLICABLE_HISTOLOGIES = ("ptc", "ftc", "oncocytic", "pdtc")
WINDOW_START_DAYS = 182  # 6 months
WINDOW_END_DAYS = 730  # 24 months
TGAB_RISING_PERCENT = 50.0
TGAB_DECLINING_PERCENT = 50.0
#: ATA 2015 text on postoperative Tg: stimulated Tg above 10-30 ng/mL goes with distant metastases and
#: poorer outcomes; the lower end is the default (a parameter).
POSTOP_STIMULATED_TG_THRESHOLD = 10.0
POSTOP_WINDOW_DAYS = 180

#: Tg thresholds (ng/mL) per regimen: (excellent below, incomplete from) and whether "incomplete"
#: includes its bound (``>=``) or not (``>``).
THRESHOLDS: dict[str, dict] = {
    "total_with_rai": {"suppressed": (0.2, 1.0), "stimulated": (1.0, 10.0), "incomplete_inclusive": True},
    "total_without_rai": {"suppressed": (0.2, 5.0), "stimulated": (2.0, 10.0), "incomplete_inclusive": False},
    "lobectomy": {"suppressed": (30.0, 30.0), "stimulated": None, "incomplete_inclusive": False},
}
_TOTAL_EXTENTS = ("total", "near_total", "completion")
_IMAGING_RANK = {"negative": 0, "nonspecific": 1, "structural_disease": 2}
_EXCELLENT, _INDETERMINATE, _INCOMPLETE = 0, 1, 2
_REGIMEN_LABEL = {"total_with_rai": "total thyroidectomy with RAI", "total_without_rai": "total thyroidectomy without RAI",
                  "lobectomy": "lobectomy"}


def classify_tg(value, below_detection, *, excellent_below: float, incomplete_from: float, incomplete_inclusive: bool) -> np.ndarray:
    """Tg level → 0 excellent / 1 indeterminate / 2 biochemical incomplete (NaN when missing).

    A value below detection means "< recorded value": excellent when the recorded value is at or
    under the excellent bound, otherwise indeterminate (an insensitive assay cannot exclude it).
    """
    x = np.asarray(value, dtype="float64")
    below = np.asarray(below_detection, dtype=bool)
    incomplete = (x >= incomplete_from) if incomplete_inclusive else (x > incomplete_from)
    measured = np.select([x < excellent_below, incomplete], [_EXCELLENT, _INCOMPLETE], default=_INDETERMINATE).astype(float)
    censored = np.where(x <= excellent_below, _EXCELLENT, _INDETERMINATE).astype(float)
    return np.where(np.isnan(x), np.nan, np.where(below, censored, measured))


def _ensure_harmonised(labs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if "tg_interpretable" in labs:
        return labs, _concat_problems([])
    return harmonise_labs(labs)


def _index(patients: pd.DataFrame | None, diagnosis: pd.DataFrame) -> pd.Index:
    src = patients if patients is not None else diagnosis
    return pd.Index(src["patient_id"].astype("str").drop_duplicates().to_numpy(), name="patient_id")


def _sorted_labs(labs: pd.DataFrame, index: pd.Index, test: str) -> pd.DataFrame:
    """Rows of one test for the patients of ``index``, sorted by patient position then date."""
    return marker_rows(labs, index, (test,), ("below_detection", "stimulated", "tg_interpretable", "tgab_positive"))


def _max_in_window(sub: pd.DataFrame, n: int, lo: np.ndarray, hi: np.ndarray, after: np.ndarray, extra=()) -> dict:
    """Highest value per patient in the window (ties: the latest), same shape as :func:`_pick`."""
    s = sub.sort_values(["_pos", "value", "lab_date"], kind="mergesort").reset_index(drop=True)
    pos = s["_pos"].to_numpy()
    t = s["_t"].to_numpy()
    keep = (t >= lo[pos]) & (t <= hi[pos]) & ~(t <= after[pos])
    s = s[keep].reset_index(drop=True)
    # after sorting by value the last row per patient is the maximum; reuse _pick with an open window
    s["_t"] = 0.0
    return _pick(s, s["_pos"].to_numpy(), n, np.full(n, -np.inf), np.full(n, np.inf), lo_inclusive=True, extra=extra)


def _window_pick(sub: pd.DataFrame, n: int, lo: np.ndarray, hi: np.ndarray, after: np.ndarray, rule: str, extra=()) -> dict:
    if rule == "worst":
        return _max_in_window(sub, n, lo, hi, after, extra=extra)
    pos = sub["_pos"].to_numpy()
    t = sub["_t"].to_numpy()
    s = sub[~(t <= after[pos])]  # strictly after the first RAI
    return _pick(s, s["_pos"].to_numpy(), n, lo, hi, lo_inclusive=True, extra=extra)


# ---------------------------------------------------------------- the setting: who, after what, when


@dataclass(frozen=True)
class _Setting:
    """Per patient of ``index``: histology, the index (first curative) operation, the assessment
    window, the extent of thyroidectomy, the first RAI and the resulting regimen (days are float days
    since 1970, NaN when missing)."""

    index: pd.Index
    histology: np.ndarray
    applicable: np.ndarray
    op_date: np.ndarray
    op_day: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    extent: np.ndarray
    rai_day: np.ndarray
    regimen: np.ndarray

    @property
    def n(self) -> int:
        return len(self.index)

    @property
    def has_op(self) -> np.ndarray:
        return ~np.isnan(self.op_day)

    @property
    def rai(self) -> np.ndarray:
        return ~np.isnan(self.rai_day)

    @property
    def after(self) -> np.ndarray:
        """Only dates strictly after this day count: the first RAI, else none (−inf)."""
        return np.where(self.rai, self.rai_day, -np.inf)


def _histology(diagnosis: pd.DataFrame, index: pd.Index) -> np.ndarray:
    by_patient = diagnosis.drop_duplicates("patient_id").set_index("patient_id")["histology"]
    return normalise_histology(by_patient.reindex(index)).to_numpy(dtype=object)


def _thyroidectomy_extent(surgery: pd.DataFrame | None, index: pd.Index, hi: np.ndarray) -> np.ndarray:
    """``total`` (any total / near-total / completion operation) or ``lobectomy`` up to the window end."""
    extent = np.full(len(index), None, dtype=object)
    if surgery is None or not len(surgery) or "thyroidectomy_extent" not in surgery:
        return extent
    s = surgery.assign(_pos=positions(surgery["patient_id"], index), _t=_days(_dates(surgery["surgery_date"])))
    s = s[s["_pos"].to_numpy() >= 0]
    s = s[s["_t"].to_numpy() <= hi[s["_pos"].to_numpy()]]
    ext = s["thyroidectomy_extent"].astype("str")
    tot = ext.isin(_TOTAL_EXTENTS).groupby(s["_pos"]).any()
    lob = ext.eq("lobectomy").fillna(False).groupby(s["_pos"]).any()
    extent[lob[lob].index.to_numpy()] = "lobectomy"
    extent[tot[tot].index.to_numpy()] = "total"
    return extent


def _first_rai(adjuvant: pd.DataFrame | None, index: pd.Index, op_day: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """RAI as part of initial therapy: the first RAI on or after the index surgery, before the window ends."""
    rai_day = np.full(len(index), np.nan)
    if adjuvant is None or not len(adjuvant):
        return rai_day
    a = adjuvant[adjuvant["therapy"].eq("rai").fillna(False).to_numpy(bool)]
    a = a.assign(_pos=positions(a["patient_id"], index), _t=_days(_dates(a["start_date"])))
    a = a[a["_pos"].to_numpy() >= 0]
    ap = a["_pos"].to_numpy()
    a = a[(a["_t"].to_numpy() >= op_day[ap]) & (a["_t"].to_numpy() <= hi[ap])]
    first = a.groupby("_pos")["_t"].min()
    rai_day[first.index.to_numpy()] = first.to_numpy()
    return rai_day


def _setting(diagnosis: pd.DataFrame, surgery: pd.DataFrame | None, adjuvant: pd.DataFrame | None,
             patients: pd.DataFrame | None, window_start_days: int, window_end_days: int) -> _Setting:
    """The patients (of ``patients``, else of ``diagnosis``), the window ``[start, end]`` days after the
    index surgery and the regimen whose Tg thresholds apply (lobectomy / total with or without RAI)."""
    index = _index(patients, diagnosis)
    histology = _histology(diagnosis, index)
    op = first_curative_surgery(surgery).set_index("patient_id")
    op_date = _dates(op["surgery_date"].reindex(index)).to_numpy()
    op_day = _days(op_date)
    lo, hi = op_day + window_start_days, op_day + window_end_days
    extent = _thyroidectomy_extent(surgery, index, hi)
    rai_day = _first_rai(adjuvant, index, op_day, hi)
    regimen = np.select([extent == "lobectomy", (extent == "total") & ~np.isnan(rai_day), extent == "total"],
                        ["lobectomy", "total_with_rai", "total_without_rai"], default=None)
    return _Setting(index, histology, np.isin(histology, APPLICABLE_HISTOLOGIES), op_date, op_day, lo, hi, extent,
                    rai_day, regimen)


# ---------------------------------------------------------------- imaging and structural evidence


@dataclass(frozen=True)
class _Imaging:
    """Imaging in the window (rank 0 negative / 1 nonspecific / 2 structural disease; NaN none) and
    the last contact on the follow-up form (−inf when none)."""

    rank: np.ndarray
    date: np.ndarray
    last_contact: np.ndarray

    @property
    def assessed(self) -> np.ndarray:
        return ~np.isnan(self.rank)

    @property
    def structural(self) -> np.ndarray:
        return self.assessed & (self.rank == 2)

    @property
    def nonspecific(self) -> np.ndarray:
        return self.assessed & (self.rank == 1)


def _visit_evidence(f: pd.DataFrame) -> np.ndarray:
    """Per follow-up visit: the imaging rank; a structural recurrence recorded at the visit is structural
    evidence of disease whatever the imaging field says (Table 13: structural or functional evidence)."""
    rank_codes = positions(f["imaging_result"], list(_IMAGING_RANK))
    rank = np.where(rank_codes >= 0, np.array(list(_IMAGING_RANK.values()), dtype=float)[np.maximum(rank_codes, 0)], np.nan)
    structural_rec = (_col(f, "recurrence").astype("boolean").fillna(False).to_numpy(bool)
                      & _col(f, "recurrence_type").eq("structural").fillna(False).to_numpy(bool))
    return np.where(structural_rec, 2.0, rank)


def _last_contact(f: pd.DataFrame, fpos: np.ndarray, visit: np.ndarray, n: int) -> np.ndarray:
    """The latest visit or death date recorded on the follow-up form per patient (−inf when none)."""
    last_contact = np.full(n, -np.inf)
    contact = np.fmax(_days(visit), _days(_dates(f["death_date"]).to_numpy()) if "death_date" in f else np.nan)
    ok = ~np.isnan(contact)
    np.maximum.at(last_contact, fpos[ok], contact[ok])
    return last_contact


def _imaging(follow_up: pd.DataFrame | None, s: _Setting, rule: str) -> _Imaging:
    """The last (``rule='last'``) or worst (``'worst'``) imaging evidence in the window."""
    n = s.n
    if follow_up is None or not len(follow_up):
        return _Imaging(np.full(n, np.nan), np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]"),
                        np.full(n, -np.inf))
    # only the rows of the patients asked for, matched on hashed codes
    fpos = positions(follow_up["patient_id"], s.index)
    keep = np.flatnonzero(fpos >= 0)
    f = follow_up.take(keep)
    fpos = fpos[keep]
    visit = _dates(f["visit_date"]).to_numpy()
    last_contact = _last_contact(f, fpos, visit, n)
    rank = _visit_evidence(f)
    has = np.flatnonzero(~np.isnan(rank))
    vkey = visit[has].astype("int64")
    vkey = np.where(np.isnat(visit[has]), np.iinfo(np.int64).max, vkey)
    has = has[np.lexsort((vkey, fpos[has]))]
    v = pd.DataFrame({"_pos": fpos[has], "lab_date": visit[has].astype("datetime64[ns]"), "value": rank[has]})
    v["_t"] = _days(v["lab_date"])
    got = _window_pick(v, n, s.lo, s.hi, s.after, rule)
    return _Imaging(got["value"], got["date"], last_contact)


# ---------------------------------------------------------------- Tg (interpretable) → Tg category


def _tg_in_window(labs: pd.DataFrame, s: _Setting, rule: str) -> tuple[dict, dict]:
    """The suppressed and the stimulated interpretable (TgAb-negative) Tg of the window."""
    tg = _sorted_labs(labs, s.index, "tg")
    tg = tg[tg["tg_interpretable"].fillna(False).to_numpy(bool)]
    stim_mask = tg["stimulated"].astype("boolean").fillna(False).to_numpy(bool)
    sup = _window_pick(tg[~stim_mask], s.n, s.lo, s.hi, s.after, rule, extra=("below_detection",))
    sti = _window_pick(tg[stim_mask], s.n, s.lo, s.hi, s.after, rule, extra=("below_detection",))
    return sup, sti


def _classify_pick(pick: dict, bounds: tuple[float, float], inclusive: bool) -> np.ndarray:
    below = pd.array(pick["below_detection"], dtype="boolean").fillna(False)
    return classify_tg(pick["value"], below, excellent_below=bounds[0], incomplete_from=bounds[1],
                       incomplete_inclusive=inclusive)


def _tg_category(sup: dict, sti: dict, regimen: np.ndarray, thr: dict[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    """Tg category (0 excellent / 1 indeterminate / 2 biochemical incomplete; NaN none) and whether any
    Tg was classified.  Each measure by the thresholds of the patient's regimen; when both exist,
    biochemical incomplete wins if either meets it, otherwise excellent if either meets it (Table 13's
    "either … or")."""
    n = len(regimen)
    cls_sup = np.full(n, np.nan)
    cls_sti = np.full(n, np.nan)
    for name, t in thr.items():
        m = regimen == name
        if not m.any():
            continue
        cls_sup = np.where(m, _classify_pick(sup, t["suppressed"], t["incomplete_inclusive"]), cls_sup)
        if t.get("stimulated"):
            cls_sti = np.where(m, _classify_pick(sti, t["stimulated"], t["incomplete_inclusive"]), cls_sti)
    both = np.vstack([cls_sup, cls_sti])
    with np.errstate(invalid="ignore"):
        any_incomplete = np.nanmax(np.where(np.isnan(both), -1, both), axis=0) == _INCOMPLETE
        any_excellent = np.nanmin(np.where(np.isnan(both), 9, both), axis=0) == _EXCELLENT
    known = ~np.isnan(both).all(axis=0)
    category = np.where(~known, np.nan, np.where(any_incomplete, _INCOMPLETE, np.where(any_excellent, _EXCELLENT, _INDETERMINATE)))
    return category, known


# ---------------------------------------------------------------- TgAb → trend


@dataclass(frozen=True)
class _TgAb:
    """TgAb at the landmark, its reference and trend (``rising`` / ``stable`` / ``declining``)."""

    land: dict
    positive: np.ndarray
    ref_value: np.ndarray
    ref_date: np.ndarray
    percent: np.ndarray
    trend: np.ndarray


def _tgab_reference(ab: pd.DataFrame, s: _Setting, land_day: np.ndarray) -> tuple[np.ndarray, ...]:
    """The reference TgAb: the last on or before surgery, else the first after surgery and before the
    landmark sample. Returns value, date, positive, found."""
    n = s.n
    pre = _pick(ab, ab["_pos"].to_numpy(), n, np.full(n, -np.inf), s.op_day, lo_inclusive=True, extra=("tgab_positive",))
    post = _pick(ab, ab["_pos"].to_numpy(), n, s.op_day, land_day - 0.5, lo_inclusive=False, which="first",
                 extra=("tgab_positive",))
    use_pre = pre["found"]
    value = np.where(use_pre, pre["value"], post["value"])
    date = np.where(use_pre, pre["date"], post["date"])
    positive = np.where(use_pre, pd.array(pre["tgab_positive"], dtype="boolean").fillna(False).to_numpy(bool),
                        pd.array(post["tgab_positive"], dtype="boolean").fillna(False).to_numpy(bool))
    return value, date, positive, use_pre | post["found"]


def _tgab(labs: pd.DataFrame, s: _Setting, rule: str, rising_percent: float, declining_percent: float) -> _TgAb:
    """TgAb at the landmark and its trend against the reference: rising (≥ +``rising_percent`` or a
    negative reference turned positive), declining (≤ −``declining_percent``), else stable."""
    ab = _sorted_labs(labs, s.index, "tgab")
    land = _window_pick(ab, s.n, s.lo, s.hi, s.after, rule, extra=("tgab_positive",))
    positive = pd.array(land["tgab_positive"], dtype="boolean").fillna(False).to_numpy(bool) & land["found"]
    ref_value, ref_date, ref_positive, ref_found = _tgab_reference(ab, s, _days(land["date"]))
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(ref_found & (ref_value > 0), (land["value"] - ref_value) / ref_value * 100.0, np.nan)
    trend = np.select(
        [~positive, ~ref_found, ~ref_positive, pct >= rising_percent - 1e-9, pct <= -declining_percent + 1e-9, ~np.isnan(pct)],
        [None, None, "rising", "rising", "declining", "stable"], default=None)
    return _TgAb(land, positive, ref_value, ref_date, pct, trend)


# ---------------------------------------------------------------- combination (Table 13)


def _combine(img: _Imaging, tg_category: np.ndarray, tg_known: np.ndarray, ab: _TgAb, require_imaging: bool) -> np.ndarray:
    """ATA 2015 Table 13: structural evidence → structural incomplete whatever Tg is; TgAb positive →
    the TgAb trend decides (rising → biochemical incomplete, stable / declining → indeterminate);
    otherwise Tg: biochemical incomplete (outranks nonspecific imaging), nonspecific imaging →
    indeterminate, excellent (negative imaging), indeterminate.  Without imaging only structural
    incomplete, unless ``require_imaging`` is False."""
    img_ok = img.assessed | (not require_imaging)
    tgab_path = ab.positive
    return np.select(
        [
            img.structural,
            tgab_path & (ab.trend == "rising") & img_ok,
            tgab_path & np.isin(ab.trend, ["stable", "declining"]) & img_ok,
            ~tgab_path & (tg_category == _INCOMPLETE) & img_ok,
            ~tgab_path & tg_known & img.nonspecific,
            ~tgab_path & (tg_category == _EXCELLENT) & img_ok,
            ~tgab_path & (tg_category == _INDETERMINATE) & img_ok,
        ],
        ["structural_incomplete", "biochemical_incomplete", "indeterminate", "biochemical_incomplete", "indeterminate",
         "excellent", "indeterminate"],
        default=None,
    )


def _not_assessable(s: _Setting) -> np.ndarray:
    """Not applicable (MTC / ATC), no curative surgery, or no thyroidectomy recorded."""
    return ~s.applicable | ~s.has_op | pd.isna(s.regimen)


def _reasons(s: _Setting, img: _Imaging, tg_known: np.ndarray, ab: _TgAb, require_imaging: bool,
             window_label: str) -> np.ndarray:
    """Why no category can be given: the first of these conditions that holds."""
    any_data = img.assessed | tg_known | ab.land["found"]
    conditions = [
        pd.isna(s.histology), ~s.applicable, ~s.has_op, pd.isna(s.regimen), ~any_data,
        ab.positive & pd.isna(ab.trend),
        ~img.assessed & (require_imaging),
        ~ab.positive & ~tg_known,
    ]
    reasons = [
        "histology unknown",
        "not applicable: ATA response to therapy is defined for differentiated thyroid cancer (histology "
        + pd.Series(s.histology, dtype="str").str.upper().fillna("").to_numpy(dtype=object) + ")",
        "no curative surgery",
        "no thyroidectomy recorded (extent missing or none)",
        f"no imaging, Tg or TgAb {window_label}" + np.where(s.rai, " (after RAI)", ""),
        "TgAb positive without a reference TgAb for the trend",
        f"no imaging {window_label}: excellent / indeterminate / biochemical incomplete need imaging",
        f"no interpretable Tg (TgAb-negative) {window_label}",
    ]
    return np.select(conditions, reasons, default="insufficient data")


# ---------------------------------------------------------------- output


def _response_table(s: _Setting, img: _Imaging, sup: dict, sti: dict, tg_category: np.ndarray, ab: _TgAb,
                    category: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
    rai, land = s.rai, ab.land
    imaging = pd.Series(img.rank).map({v: k for k, v in _IMAGING_RANK.items()}).to_numpy(dtype=object)
    out = pd.DataFrame({
        "patient_id": pd.Series(s.index.to_numpy(), dtype="str"),
        "histology": pd.Series(s.histology, dtype="str"),
        "index_surgery_date": s.op_date,
        "thyroidectomy_extent": pd.Series(s.extent, dtype="str"),
        "rai_given": pd.array(np.where(s.has_op, rai, False), dtype="boolean"),
        "rai_date": pd.to_datetime(np.where(rai, s.rai_day, np.nan) * 86400, unit="s"),
        "regimen": pd.Series(s.regimen, dtype="str"),
        "window_start": pd.to_datetime(s.lo * 86400, unit="s"),
        "window_end": pd.to_datetime(s.hi * 86400, unit="s"),
        "imaging_result": pd.Series(imaging, dtype="str"),
        "imaging_date": img.date,
        "imaging_assessed": pd.array(img.assessed, dtype="boolean"),
        "suppressed_tg": pd.array(sup["value"], dtype="Float64"),
        "suppressed_tg_date": sup["date"],
        "stimulated_tg": pd.array(sti["value"], dtype="Float64"),
        "stimulated_tg_date": sti["date"],
        "tg_category": pd.Series(pd.Series(tg_category).map({0.0: "excellent", 1.0: "indeterminate", 2.0: "biochemical_incomplete"}), dtype="str"),
        "tgab": pd.array(land["value"], dtype="Float64"),
        "tgab_date": land["date"],
        "tgab_positive": pd.array(np.where(land["found"], ab.positive, False), dtype="boolean"),
        "tgab_reference": pd.array(np.where(ab.positive, ab.ref_value, np.nan), dtype="Float64"),
        "tgab_reference_date": np.where(ab.positive, ab.ref_date, np.datetime64("NaT", "ns")).astype("datetime64[ns]"),
        "tgab_percent_change": pd.array(np.where(ab.positive, ab.percent, np.nan), dtype="Float64"),
        "tgab_trend": pd.Series(ab.trend, dtype="str"),
        "response_to_therapy": pd.Series(category, dtype="str"),
        "response_to_therapy_reason": pd.Series(reason, dtype="str"),
    })
    out.loc[~land["found"], "tgab_positive"] = pd.NA
    for c in ("rai_date", "window_start", "window_end"):
        out[c] = out[c].astype("datetime64[ns]")
    return out


def _data_problems(s: _Setting, img: _Imaging, out: pd.DataFrame) -> list[pd.DataFrame]:
    """Not assessable is a data problem only when the patient was followed through the whole window
    (last contact on the follow-up form on or after its end) and still lacks the data; follow-up that
    ended earlier (death, loss to follow-up, the data cut) is not — the reason column says why, and
    time-to-event reports a patient without any follow-up."""
    pid = out["patient_id"]
    assessable = s.applicable & ~_not_assessable(s)
    followed_through = img.last_contact >= s.hi
    missing = assessable & out["response_to_therapy"].isna().to_numpy() & followed_through
    return [
        _problems(pid, missing, "response_to_therapy", "", "response_to_therapy_not_assessable",
                  out["response_to_therapy_reason"].to_numpy(dtype=object)),
        _problems(pid, s.applicable & s.has_op & pd.isna(s.regimen), "thyroidectomy_extent", "",
                  "thyroidectomy_extent_missing",
                  "curative surgery without a recorded thyroidectomy: response to therapy cannot be assessed"),
    ]


@tables_deprecated("labs", "diagnosis", "surgery", "adjuvant", "follow_up", "patients")
def ata_response_to_therapy(
    tables: Mapping[str, pd.DataFrame] | Any,
    *,
    window_start_days: int = WINDOW_START_DAYS,
    window_end_days: int = WINDOW_END_DAYS,
    rule: Literal["last", "worst"] = "last",
    require_imaging: bool = True,
    tgab_rising_percent: float = TGAB_RISING_PERCENT,
    tgab_declining_percent: float = TGAB_DECLINING_PERCENT,
    thresholds: dict[str, dict] | None = None,
    labs_harmonised: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ATA response to initial therapy (excellent / indeterminate / biochemical incomplete /
    structural incomplete), one row per patient (of ``patients``, else of ``diagnosis``).

    ``tables``: form name → clean typed table (a mapping, or a ``Study``); reads ``labs``,
    ``diagnosis`` (``histology``) and, optionally, ``surgery`` (``surgery_date, surgical_intent,
    thyroidectomy_extent``), ``adjuvant`` (``therapy, start_date``), ``follow_up`` (``visit_date,
    imaging_result``, optionally ``recurrence, recurrence_type, recurrence_date, death_date``) and
    ``patients``.  ``labs`` may be the raw clean labs (harmonised here) or already the long table of
    :func:`latc.derive.biochem.harmonise_labs`; pass that table as ``labs_harmonised`` to skip the step
    (``labs`` is then not needed).  The old call ``ata_response_to_therapy(labs, diagnosis, surgery,
    adjuvant, follow_up, patients, …)`` still works for this release with a ``DeprecationWarning``.

    ``require_imaging`` (default True, as Table 13 requires imaging for every category): without
    imaging in the window only structural incomplete can be given; when False the Tg/TgAb category
    is given and ``imaging_assessed`` is False.  ``rule``: ``"last"`` or ``"worst"`` value of the
    window; ``thresholds`` overrides entries of :data:`THRESHOLDS`.

    Steps (one function each): the setting (:func:`_setting` — index operation, window, extent, RAI,
    regimen), imaging and structural evidence (:func:`_imaging`), Tg (:func:`_tg_in_window`,
    :func:`_tg_category`), TgAb (:func:`_tgab`), the Table 13 combination (:func:`_combine`) and the
    reason when no category can be given (:func:`_reasons`).

    Returns ``(table, problems)``; columns ``patient_id, histology, index_surgery_date,
    thyroidectomy_extent, rai_given, rai_date, regimen, window_start, window_end, imaging_result,
    imaging_date, imaging_assessed, suppressed_tg, suppressed_tg_date, stimulated_tg,
    stimulated_tg_date, tg_category, tgab, tgab_date, tgab_positive, tgab_reference,
    tgab_reference_date, tgab_percent_change, tgab_trend, response_to_therapy,
    response_to_therapy_reason``.  A missing required table raises
    :class:`latc.derive.DeriveInputError`; a wrong ``rule`` ``ValueError``.
    """
    if rule not in ("last", "worst"):
        raise ValueError("rule must be 'last' or 'worst'")
    optional = ("surgery", "adjuvant", "follow_up", "patients")
    if labs_harmonised is None:
        diagnosis, labs, surgery, adjuvant, follow_up, patients = study_tables(
            tables, ("diagnosis", "labs"), optional, caller="ata_response_to_therapy")
    else:  # labs is then not needed
        diagnosis, surgery, adjuvant, follow_up, patients = study_tables(
            tables, ("diagnosis",), optional, caller="ata_response_to_therapy")
        labs = labs_harmonised
    thr = {**THRESHOLDS, **(thresholds or {})}
    labs, p = _ensure_harmonised(labs)
    problems = [p]

    s = _setting(diagnosis, surgery, adjuvant, patients, window_start_days, window_end_days)
    img = _imaging(follow_up, s, rule)
    sup, sti = _tg_in_window(labs, s, rule)
    tg_category, tg_known = _tg_category(sup, sti, s.regimen, thr)
    ab = _tgab(labs, s, rule, tgab_rising_percent, tgab_declining_percent)

    category = np.where(_not_assessable(s), None, _combine(img, tg_category, tg_known, ab, require_imaging))
    window_label = f"{window_start_days}-{window_end_days} days after surgery"
    reason = np.where(pd.isna(category), _reasons(s, img, tg_known, ab, require_imaging, window_label), None)
    out = _response_table(s, img, sup, sti, tg_category, ab, category, reason)
    return out, _concat_problems(problems + _data_problems(s, img, out))


@tables_deprecated("labs", "surgery", "adjuvant", "diagnosis")
def postop_tg_suggests_distant_metastases(
    tables: Mapping[str, pd.DataFrame],
    *,
    labs_harmonised: pd.DataFrame | None = None,
    stimulated_threshold: float = POSTOP_STIMULATED_TG_THRESHOLD,
    unstimulated_threshold: float | None = None,
    window_days: int = POSTOP_WINDOW_DAYS,
) -> pd.DataFrame:
    """``postop_tg_suggests_distant_metastases`` per patient, to join onto the ATA initial-risk input.

    ATA 2015 (Haugen 2016) Table 11 lists "postoperative serum Tg suggestive of distant metastases"
    as a high-risk feature without a single cut-off; its discussion of postoperative Tg associates
    stimulated values above 10-30 ng/mL with distant metastases and poorer outcomes.  Default: the
    highest interpretable (TgAb-negative) **stimulated** Tg after the index surgery, within
    ``window_days`` and on or before the first RAI (pre-ablation), above ``stimulated_threshold``
    (10 ng/mL, strict ``>``).  Unstimulated Tg counts only when ``unstimulated_threshold`` is given
    (no guideline value).  True / False when a qualifying Tg exists, missing otherwise (with
    ``postop_tg_reason``); missing for MTC/ATC when ``diagnosis`` is given.

    Columns: ``patient_id, postop_tg_suggests_distant_metastases, postop_tg_max, postop_tg_max_date,
    postop_tg_max_stimulated, postop_tg_reason``.

    ``tables``: ``labs`` (raw clean labs, harmonised on the fly, or not needed when the harmonised
    table is given as ``labs_harmonised``), ``surgery``; optionally ``adjuvant`` and ``diagnosis``.
    """
    caller = "postop_tg_suggests_distant_metastases"
    if labs_harmonised is None:
        labs, surgery, adjuvant, diagnosis = study_tables(tables, ["labs"], ["surgery", "adjuvant", "diagnosis"],
                                                          caller=caller)
    else:
        surgery, adjuvant, diagnosis = study_tables(tables, [], ["surgery", "adjuvant", "diagnosis"], caller=caller)
        labs = labs_harmonised
    labs, _ = _ensure_harmonised(labs)
    op = first_curative_surgery(surgery)
    index = pd.Index(op["patient_id"].astype("str").to_numpy(), name="patient_id")
    n = len(index)
    op_d = _days(op["surgery_date"])
    hi = op_d + window_days
    if adjuvant is not None and len(adjuvant):
        a = adjuvant[adjuvant["therapy"].eq("rai").fillna(False).to_numpy(bool)]
        a = a.assign(_pos=index.get_indexer(a["patient_id"].astype("str")), _t=_days(_dates(a["start_date"])))
        a = a[(a["_pos"].to_numpy() >= 0)]
        a = a[a["_t"].to_numpy() >= op_d[a["_pos"].to_numpy()]]
        first = a.groupby("_pos")["_t"].min()
        hi[first.index.to_numpy()] = np.minimum(hi[first.index.to_numpy()], first.to_numpy())
    tg = _sorted_labs(labs, index, "tg")
    tg = tg[tg["tg_interpretable"].fillna(False).to_numpy(bool)]
    stim = tg["stimulated"].astype("boolean").fillna(False).to_numpy(bool)
    lo = op_d + 1e-9  # strictly after surgery
    never = np.full(n, -np.inf)
    s_max = _max_in_window(tg[stim], n, lo, hi, never)
    u_max = _max_in_window(tg[~stim], n, lo, hi, never) if unstimulated_threshold is not None else {
        "found": np.zeros(n, bool), "value": np.full(n, np.nan), "date": np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")}
    s_hit = s_max["value"] > stimulated_threshold
    u_hit = u_max["value"] > (unstimulated_threshold if unstimulated_threshold is not None else np.inf)
    known = s_max["found"] | u_max["found"]
    flag = pd.array(np.where(known, s_hit | u_hit, False), dtype="boolean")
    flag[~known] = pd.NA
    use_s = s_max["found"] & (s_hit | ~u_hit)
    reason = np.where(known, np.where(s_hit | u_hit, "postoperative Tg above threshold", "postoperative Tg at or below threshold"),
                      "no interpretable postoperative " + ("Tg" if unstimulated_threshold is not None else "stimulated Tg")
                      + " before RAI / within the window")
    out = pd.DataFrame({
        "patient_id": pd.Series(index.to_numpy(), dtype="str"),
        "postop_tg_suggests_distant_metastases": flag,
        "postop_tg_max": pd.array(np.where(use_s, s_max["value"], u_max["value"]), dtype="Float64"),
        "postop_tg_max_date": np.where(use_s, s_max["date"], u_max["date"]).astype("datetime64[ns]"),
        "postop_tg_max_stimulated": pd.array(np.where(known, use_s, False), dtype="boolean"),
        "postop_tg_reason": pd.Series(reason, dtype="str"),
    })
    out.loc[~known, "postop_tg_max_stimulated"] = pd.NA
    if diagnosis is not None:
        hist = normalise_histology(diagnosis.drop_duplicates("patient_id").set_index("patient_id")["histology"].reindex(index)).to_numpy(dtype=object)
        na = ~np.isin(hist, APPLICABLE_HISTOLOGIES)
        out.loc[na, "postop_tg_suggests_distant_metastases"] = pd.NA
        out.loc[na, "postop_tg_reason"] = "not applicable: histology is not a Tg-producing carcinoma"
    return out


__all__ = [
    "APPLICABLE_HISTOLOGIES",
    "RESPONSE_CATEGORIES",
    "THRESHOLDS",
    "ata_response_to_therapy",
    "classify_tg",
    "postop_tg_suggests_distant_metastases",
]
