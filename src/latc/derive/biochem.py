"""Biochemical response: harmonised tumour markers, Tg interpretability, % change and doubling times.

Rules (documented with their sources in ``docs/derivations/biochemical.md``):

* **Units.** One canonical unit per test; the dictionary's alternatives are numerically identical
  (ng/mL ≡ µg/L for Tg and CEA, IU/mL ≡ kIU/L for TgAb, mIU/L ≡ µIU/mL for TSH, pg/mL ≡ ng/L for
  calcitonin), so harmonisation is a factor of 1 and a change of label.  A unit that does not belong
  to the test, a negative or missing value, a missing date or an unknown test is a problem and the
  row is left out of the harmonised table (never an exception).
* **Below detection.** ``value`` holds what the laboratory recorded — by the study's convention the
  assay's detection limit — and ``below_detection`` stays as a flag.  % changes use that value
  (a conservative bound); doubling times leave such values out (a censored value would flatten the
  slope), and the ATA response module reads "below detection" as "< recorded value".
* **Tg interpretability** (ATA 2015, Haugen et al. *Thyroid* 2016;26:1, Table 13 footnote "in the absence of TgAb":
  Tg is interpretable only in the absence of TgAb; Spencer, *Curr Opin Endocrinol Diabetes Obes*
  2014;21:394 for the TgAb trend as surrogate marker).  Each Tg is matched to the TgAb of the same
  patient on the same date, or else the nearest within ``tgab_window_days`` (default ±14; ties
  resolved by pandas ``merge_asof(direction="nearest")``).  TgAb is *negative* when below detection or
  below the assay's ``upper_reference_limit`` (value < limit; a value at the limit is positive);
  without a recorded limit the default ``tgab_default_threshold`` (4 IU/mL, the manufacturer cut-off of
  common immunometric TgAb assays) is used and a problem is recorded.  ``tg_interpretable`` is True
  with a negative TgAb, False with a positive one, missing without a TgAb in the window.
* **Baseline / pre-surgery** (per patient).  Index surgery = first curative operation (earliest
  ``surgery_date`` with ``surgical_intent == 'curative'``; all operations count when the column is
  absent).  Baseline = last value on or before the start of neoadjuvant therapy (earliest
  ``treatments.start_date``; the treatment decision date when no course is recorded — a problem) for
  the neoadjuvant cohort, or on or before the index surgery for upfront surgery.  Pre-surgery = last
  value after the baseline sample and on or before the index surgery; for neoadjuvant patients never
  operated, the last value after the baseline (``comparison_timepoint = 'last_on_treatment'``).
* **Response categories** (no thyroid-specific standard exists for tumour markers under neoadjuvant
  therapy; the thresholds are parameters): % change ≤ −50 % → ``biochemical_response`` (the 50 %
  marker decline of GCIG CA-125 response, Rustin et al. *Int J Gynecol Cancer* 2011;21:419, and of
  the TgAb-decline convention, Rosario et al. *Endocr Relat Cancer* 2021;28:R111); ≥ +25 % →
  ``biochemical_progression`` (PCWG2 PSA progression, Scher et al. *J Clin Oncol* 2008;26:1148);
  otherwise ``biochemical_stable``.  DTC/PDTC use Tg when both samples are interpretable, otherwise the
  TgAb trend when TgAb is positive at either; MTC uses calcitonin (CEA reported alongside);
  ATC has no marker.
* **Doubling times** (ATA MTC guideline, Wells et al. *Thyroid* 2015;25:567; ATA calcitonin/CEA
  doubling-time calculator, thyroid.org/professionals/calculators/CDTC.php): least-squares fit of
  ln(value) on time in days over ≥ ``min_values`` (default 3; the calculator recommends ≥ 4 values over
  ≥ 2 years — ``meets_ata_recommendation``) measured values; doubling time = ln 2 / slope.  Reported
  both ways: ``..._doubling_time_signed_days`` (the calculator's convention: negative when values
  decline) and the positive ``..._doubling_time_days`` (rising only) / ``..._halving_time_days``
  (declining only).  Computed from closed-form regression sums per group (``numpy.bincount``),
  never a per-patient loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from latc._compat import tables_deprecated
from latc.derive._tables import study_tables
from latc.derive.staging import PROBLEM_COLUMNS, normalise_histology

if TYPE_CHECKING:
    import pyarrow as pa

#: Canonical unit of each test (dictionary codes).
CANONICAL_UNITS: dict[str, str] = {"tg": "ng_ml", "tgab": "iu_ml", "tsh": "miu_l", "calcitonin": "pg_ml", "cea": "ng_ml"}
#: (test, recorded unit) → factor to the canonical unit. The dictionary's alternatives are equal units.
UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("tg", "ng_ml"): 1.0, ("tg", "ug_l"): 1.0,
    ("tgab", "iu_ml"): 1.0, ("tgab", "kiu_l"): 1.0,
    ("tsh", "miu_l"): 1.0, ("tsh", "uiu_ml"): 1.0,
    ("calcitonin", "pg_ml"): 1.0, ("calcitonin", "ng_l"): 1.0,
    ("cea", "ng_ml"): 1.0, ("cea", "ug_l"): 1.0,
}
TESTS = tuple(CANONICAL_UNITS)
DTC_HISTOLOGIES = ("ptc", "ftc", "oncocytic", "pdtc")
TGAB_WINDOW_DAYS = 14
#: IU/mL; used only when a TgAb row has no ``upper_reference_limit``.
TGAB_DEFAULT_THRESHOLD = 4.0
RESPONSE_PERCENT = -50.0
PROGRESSION_PERCENT = 25.0
MIN_DOUBLING_VALUES = 3
RESPONSE_CATEGORIES = ("biochemical_response", "biochemical_stable", "biochemical_progression")

_NS_PER_DAY = 86_400_000_000_000
_TEST_SYNONYMS = {
    "thyroglobulin": "tg", "anti_tg": "tgab", "antitg": "tgab", "tg_ab": "tgab", "tgab": "tgab",
    "ctn": "calcitonin", "ct": "calcitonin", "thyrotropin": "tsh",
}

HARMONISED_COLUMNS = [
    "patient_id", "lab_date", "test", "value", "unit", "below_detection", "stimulated", "upper_reference_limit",
    "value_recorded", "unit_recorded", "tgab_positive", "tgab_threshold_source",
    "matched_tgab_date", "matched_tgab_value", "matched_tgab_positive", "tg_interpretable",
]


# --------------------------------------------------------------------------------------------------
# small vectorised helpers
# --------------------------------------------------------------------------------------------------

_ALLOWED_UNITS_TEXT = {t: ", ".join(u for (tt, u) in UNIT_FACTORS if tt == t) for t in CANONICAL_UNITS}


def _dates(s: pd.Series | None, index: pd.Index | None = None) -> pd.Series:
    if s is None:
        return pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
    return pd.to_datetime(s, errors="coerce").astype("datetime64[ns]")


def _days(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Dates → float days since 1970-01-01 (NaN for NaT)."""
    arr = np.asarray(dates, dtype="datetime64[ns]")
    out = arr.astype("int64").astype("float64") / _NS_PER_DAY
    out[np.isnat(arr)] = np.nan
    return out


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df else pd.Series(pd.NA, index=df.index, dtype=object)


def _problems(patient_id: pd.Series, mask, field: str, value, rule: str, message) -> pd.DataFrame:
    """Problem rows (``PROBLEM_COLUMNS``) for the rows where ``mask`` holds; messages formatted only there."""
    mask = np.asarray(mask, dtype=bool)
    k = int(mask.sum())
    if not k:
        return pd.DataFrame(columns=PROBLEM_COLUMNS, dtype="str")

    def pick(x) -> np.ndarray:
        if isinstance(x, (pd.Series, pd.Index, np.ndarray, pd.api.extensions.ExtensionArray)):
            return np.asarray(pd.Series(np.asarray(x, dtype=object)[mask], dtype=object).astype("str"), dtype=object)
        return np.full(k, x, dtype=object)

    return pd.DataFrame({
        "patient_id": pick(patient_id), "field": field, "value": pick(value), "rule": rule, "message": pick(message),
    }).astype("str")


def _concat_problems(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=PROBLEM_COLUMNS, dtype="str")
    return pd.concat(parts, ignore_index=True)[PROBLEM_COLUMNS].astype("str")


# --------------------------------------------------------------------------------------------------
# integer keys: text columns of millions of rows are hashed once (pyarrow) and then handled as codes
# --------------------------------------------------------------------------------------------------

def _arrow_text(values) -> "pa.Array":
    """Text values as one pyarrow string array (zero-copy for the pandas ``str`` dtype)."""
    import pyarrow as pa

    if isinstance(values, pd.Series):
        s = values
    elif isinstance(values, pd.Index):
        s = pd.Series(values, copy=False)
    else:
        s = pd.Series(np.asarray(values, dtype=object))
    if s.dtype != "str":
        s = s.astype("str")
    arr = pa.array(s.array)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def positions(values, keys) -> np.ndarray:
    """Position of each value in ``keys`` (distinct), ``-1`` when absent or missing.

    The same as ``pd.Index(keys).get_indexer(values)`` for text keys, hashed by pyarrow (about ten
    times faster on millions of ``str`` values).
    """
    import pyarrow.compute as pc

    if len(keys) == 0 or len(values) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    res = pc.index_in(_arrow_text(values), value_set=_arrow_text(keys), skip_nulls=True)
    return pc.fill_null(res, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def text_from_codes(codes: np.ndarray, categories: Sequence[str], index: pd.Index | None = None) -> pd.Series:
    """``str`` Series with ``categories[code]`` per row (missing where ``code < 0``), built in pyarrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = np.asarray(codes, dtype=np.int64)
    cats = pa.array(list(categories), type=pa.large_string())
    taken = pc.take(cats, pa.array(codes, mask=codes < 0)) if len(cats) else pa.nulls(len(codes), pa.large_string())
    return pd.Series(pd.array(taken, dtype="str"), index=index)


def _distinct_codes(values: pd.Series, clean) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``values`` (-1 missing) and their distinct spellings after ``clean`` (object array):
    the string work is done on the handful of distinct values only."""
    codes, uniques = pd.factorize(values.astype("str"), use_na_sentinel=True)
    names = clean(pd.Series(np.asarray(uniques, dtype=object), dtype="str")).astype(object).to_numpy() if len(uniques) else np.array([], dtype=object)
    return codes.astype(np.int64), names


def _clean_test(s: pd.Series) -> pd.Series:
    s = s.str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True)
    return s.map(lambda v: _TEST_SYNONYMS.get(v, v))


def _clean_unit(s: pd.Series) -> pd.Series:
    s = s.str.strip().str.lower().str.replace("µ", "u", regex=False).str.replace("μ", "u", regex=False)
    return s.str.replace("mcg", "ug", regex=False).str.replace(" ", "", regex=False).str.replace("/", "_", regex=False)


# --------------------------------------------------------------------------------------------------
# 1. harmonised long table with Tg interpretability
# --------------------------------------------------------------------------------------------------

def harmonise_labs(
    labs: pd.DataFrame,
    *,
    tgab_window_days: int = TGAB_WINDOW_DAYS,
    tgab_default_threshold: float = TGAB_DEFAULT_THRESHOLD,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical units, TgAb status and Tg interpretability: the long ``labs_harmonised`` table.

    ``labs``: the clean ``labs`` table (``patient_id, lab_date, test, value, unit, below_detection,
    upper_reference_limit, stimulated``; codes or their printed forms such as ``ng/mL``).

    Returns ``(labs_harmonised, problems)``.  Columns of ``labs_harmonised`` (sorted by patient, date,
    test): ``patient_id, lab_date, test, value`` (canonical unit), ``unit`` (canonical code),
    ``below_detection``, ``stimulated`` (Tg only), ``upper_reference_limit`` (canonical unit),
    ``value_recorded, unit_recorded``; for TgAb rows ``tgab_positive`` and ``tgab_threshold_source``
    (``assay`` / ``default``); for Tg rows ``matched_tgab_date, matched_tgab_value,
    matched_tgab_positive`` and ``tg_interpretable``.  Rows with a problem are left out.

    Tests and units are normalised on their distinct spellings and carried as integer codes; rows
    are ordered by integer keys (no string operation runs on the million-row columns).
    """
    df = labs.reset_index(drop=True)
    pid = _col(df, "patient_id").astype("str")
    raw_unit = _col(df, "unit")
    t_codes, t_names = _distinct_codes(_col(df, "test"), _clean_test)
    u_codes, u_names = _distinct_codes(raw_unit, _clean_unit)
    # test code: position in TESTS, len(TESTS) for an unknown or missing test (index -1 → the last entry)
    n_tests = len(TESTS)
    tcode = np.array([TESTS.index(t) if t in TESTS else n_tests for t in t_names] + [n_tests], dtype=np.int64)[t_codes]
    factor_table = np.array([[UNIT_FACTORS.get((t, u), np.nan) for u in u_names] + [np.nan] for t in t_names]
                            + [[np.nan] * (len(u_names) + 1)], dtype=float)
    factor = factor_table[t_codes, u_codes]
    value = pd.to_numeric(_col(df, "value"), errors="coerce").astype("float64").to_numpy()
    date = _dates(_col(df, "lab_date"))

    bad_test = tcode == n_tests
    bad_unit = ~bad_test & np.isnan(factor)
    missing_value = np.isnan(value)
    negative = value < 0
    missing_date = date.isna().to_numpy()
    unit_message = pd.Series("", index=df.index, dtype=object)
    if bad_unit.any():  # format messages for the flagged rows only
        t_bad = pd.Series(np.append(t_names, None)[t_codes[bad_unit]], index=df.index[bad_unit], dtype="str")
        unit_message[bad_unit] = ("unit " + raw_unit[bad_unit].astype("str").fillna("(blank)") + " is not a unit of " + t_bad
                                  + " (allowed: " + t_bad.map(_ALLOWED_UNITS_TEXT) + "); row left out")
    problems = [
        _problems(pid, bad_test, "test", _col(df, "test"), "unknown_test",
                  "unknown test: expected one of " + ", ".join(TESTS)),
        _problems(pid, bad_unit, "unit", raw_unit, "unit_not_allowed_for_test", unit_message),
        _problems(pid, ~bad_test & missing_value, "value", _col(df, "value"), "value_missing",
                  "result missing or not a number; row left out"),
        _problems(pid, ~bad_test & negative, "value", _col(df, "value"), "negative_value",
                  "a laboratory result cannot be negative; row left out"),
        _problems(pid, ~bad_test & missing_date, "lab_date", _col(df, "lab_date"), "lab_date_missing",
                  "sampling date missing or not a date; row left out"),
    ]
    keep = ~(bad_test | bad_unit | missing_value | negative | missing_date)

    # order rows by patient, date, test with integer keys (string sorts are slow at a million rows)
    pcode = pd.factorize(pid, sort=True)[0]
    dval = date.to_numpy("datetime64[ns]").astype("int64")
    idx = np.flatnonzero(keep)
    idx = idx[np.lexsort((tcode[idx], dval[idx], pcode[idx]))]
    tk = tcode[idx]

    url_rec = pd.to_numeric(_col(df, "upper_reference_limit"), errors="coerce").astype("float64").to_numpy()
    out = pd.DataFrame({
        "patient_id": pid.take(idx).reset_index(drop=True),
        "lab_date": date.to_numpy()[idx],
        "test": text_from_codes(tk, TESTS),
        "value": (value * factor)[idx],
        "unit": text_from_codes(tk, [CANONICAL_UNITS[t] for t in TESTS]),
        "below_detection": _col(df, "below_detection").astype("boolean").fillna(False).to_numpy(bool)[idx],
        "stimulated": _col(df, "stimulated").astype("boolean").array.take(idx),
        "upper_reference_limit": (url_rec * factor)[idx],
        "value_recorded": value[idx],
        "unit_recorded": raw_unit.astype("str").take(idx).reset_index(drop=True),
    })
    if "center_id" in df:
        out.insert(1, "center_id", df["center_id"].astype("str").take(idx).reset_index(drop=True))
    is_tg = tk == TESTS.index("tg")
    is_tgab = tk == TESTS.index("tgab")
    out["stimulated"] = out["stimulated"].mask(~is_tg, pd.NA)

    # TgAb status (own row)
    url = out["upper_reference_limit"].to_numpy()
    no_url = is_tgab & np.isnan(url)
    threshold = np.where(np.isnan(url), tgab_default_threshold, url)
    positive = ~out["below_detection"].to_numpy(bool) & (out["value"].to_numpy() >= threshold)
    out["tgab_positive"] = pd.array(np.where(is_tgab, positive, False), dtype="boolean")
    out.loc[~is_tgab, "tgab_positive"] = pd.NA
    out["tgab_threshold_source"] = text_from_codes(np.where(is_tgab, no_url.astype(np.int64), -1), ["assay", "default"])
    problems.append(_problems(out["patient_id"], no_url, "upper_reference_limit", "", "tgab_reference_limit_missing",
                              f"TgAb without the assay's upper reference limit: positivity judged against the default {tgab_default_threshold:g} IU/mL"))

    out = _match_tgab(out, pcode[idx], dval[idx], is_tg, is_tgab, tgab_window_days)
    no_tgab = is_tg & out["matched_tgab_positive"].isna().to_numpy()
    no_tgab_dates = np.full(len(out), "", dtype=object)
    no_tgab_dates[no_tgab] = out["lab_date"][no_tgab].dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    problems.append(_problems(out["patient_id"], no_tgab, "lab_date", no_tgab_dates, "tg_without_tgab",
                              f"no TgAb within ±{tgab_window_days} days of this Tg: interpretability unknown"))
    cols = [c for c in ["patient_id", "center_id", *HARMONISED_COLUMNS[1:]] if c in out]
    return out[cols], _concat_problems(problems)


def _match_tgab(out: pd.DataFrame, pcode: np.ndarray, dval: np.ndarray, is_tg: np.ndarray, is_tgab: np.ndarray,
                window_days: int) -> pd.DataFrame:
    """Nearest TgAb (same patient, within ±window days) for every Tg row.

    ``pandas.merge_asof(by=patient, direction="nearest", tolerance=window)`` semantics on integer
    keys: the backward match is the last TgAb on or before the Tg date, the forward match the first
    on or after it; the forward one is taken only when strictly nearer (a tie goes backward).  Rows
    are sorted by (patient, date), so both are one binary search on a (patient, date-rank) key.
    """
    n = len(out)
    tol = int(pd.Timedelta(days=window_days).value)
    # rows are sorted by (patient, date): numbering the (patient, date) runs gives one ascending key
    key = np.cumsum(np.r_[True, (pcode[1:] != pcode[:-1]) | (dval[1:] != dval[:-1])]) if n else np.zeros(0, np.int64)
    tg_rows, ab_rows = np.flatnonzero(is_tg), np.flatnonzero(is_tgab)
    tk, ak = key[tg_rows], key[ab_rows]  # both ascending (rows are sorted by patient, date)
    td, ad = dval[tg_rows], dval[ab_rows]
    tp, ap = pcode[tg_rows], pcode[ab_rows]
    m = len(ab_rows)
    b = np.searchsorted(ak, tk, side="right") - 1
    f = np.searchsorted(ak, tk, side="left")
    bc, fc = np.clip(b, 0, max(m - 1, 0)), np.clip(f, 0, max(m - 1, 0))
    if m:
        b_ok = (b >= 0) & (ap[bc] == tp) & (td - ad[bc] <= tol)
        f_ok = (f < m) & (ap[fc] == tp) & (ad[fc] - td <= tol)
        use_f = f_ok & (~b_ok | (td - ad[bc] > ad[fc] - td))
        match = np.where(use_f, fc, np.where(b_ok, bc, -1))
    else:
        match = np.full(len(tg_rows), -1)
    src = np.full(n, -1, dtype=np.int64)
    src[tg_rows] = np.where(match >= 0, ab_rows[np.maximum(match, 0)] if m else -1, -1)
    hit = src >= 0
    s = np.maximum(src, 0)
    dates = out["lab_date"].to_numpy("datetime64[ns]")
    out["matched_tgab_date"] = np.where(hit, dates[s], np.datetime64("NaT", "ns")).astype("datetime64[ns]")
    mv = pd.array(np.where(hit, out["value"].to_numpy()[s], np.nan), dtype="Float64")
    mv[~hit] = pd.NA
    out["matched_tgab_value"] = mv
    pos = out["tgab_positive"].to_numpy(dtype=bool, na_value=False)[s]
    mp = pd.array(pos, dtype="boolean")
    mp[~hit] = pd.NA
    out["matched_tgab_positive"] = mp
    out["tg_interpretable"] = (~out["matched_tgab_positive"]).astype("boolean")
    return out


# --------------------------------------------------------------------------------------------------
# 2. doubling times (closed-form least squares per group)
# --------------------------------------------------------------------------------------------------

DOUBLING_COLUMNS = ["n_values", "span_days", "slope_per_day", "doubling_time_signed_days", "doubling_time_days",
                    "halving_time_days", "meets_ata_recommendation"]


def doubling_times(
    values: pd.DataFrame,
    by: str | Sequence[str] = "patient_id",
    *,
    date: str = "lab_date",
    value: str = "value",
    min_values: int = MIN_DOUBLING_VALUES,
) -> pd.DataFrame:
    """Doubling time of a marker by least-squares regression of ln(value) on time (days).

    One row per group of ``by`` (as index) with ``n_values`` (positive values used), ``span_days``,
    ``slope_per_day`` (of ln value), ``doubling_time_signed_days`` = ln 2 / slope (negative when the
    marker declines: the ATA calculator's convention), ``doubling_time_days`` (slope > 0 only),
    ``halving_time_days`` = ln 2 / −slope (slope < 0 only) and ``meets_ata_recommendation`` (≥ 4 values
    over ≥ 2 years, as the ATA calculator advises).  Groups with fewer than ``min_values`` values or
    all on one date get missing times.  Values ≤ 0 or missing are ignored (ln undefined); the caller
    removes values below detection.  Vectorised: sums per group with ``numpy.bincount``.
    """
    by = [by] if isinstance(by, str) else list(by)
    v = pd.to_numeric(values[value], errors="coerce").astype("float64").to_numpy()
    t = _days(_dates(values[date]))
    ok = (v > 0) & ~np.isnan(t)
    grouped = values[by].groupby(by, sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy()
    keys = grouped.size().index
    g = len(keys)
    c, y, x = codes[ok], np.log(v[ok]), t[ok]
    n = np.bincount(c, minlength=g).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.bincount(c, x, minlength=g) / n
        ym = np.bincount(c, y, minlength=g) / n
        dx = x - xm[c]
        sxx = np.bincount(c, dx * dx, minlength=g)
        sxy = np.bincount(c, dx * (y - ym[c]), minlength=g)
        xmin = np.full(g, np.inf)
        xmax = np.full(g, -np.inf)
        np.minimum.at(xmin, c, x)
        np.maximum.at(xmax, c, x)
        span = np.where(n > 0, xmax - xmin, np.nan)
        valid = (n >= max(min_values, 2)) & (sxx > 0)
        slope = np.where(valid, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)
        signed = np.where(valid & (slope != 0), np.log(2.0) / slope, np.nan)
    return pd.DataFrame({
        "n_values": n.astype(np.int64),
        "span_days": span,
        "slope_per_day": slope,
        "doubling_time_signed_days": signed,
        "doubling_time_days": np.where(signed > 0, signed, np.nan),
        "halving_time_days": np.where(signed < 0, -signed, np.nan),
        "meets_ata_recommendation": valid & (n >= 4) & (span >= 730.5),
    }, index=keys)


# --------------------------------------------------------------------------------------------------
# 3. per-patient biochemical response
# --------------------------------------------------------------------------------------------------

def classify_percent_change(
    percent_change: pd.Series,
    *,
    response_percent: float = RESPONSE_PERCENT,
    progression_percent: float = PROGRESSION_PERCENT,
) -> pd.Series:
    """% change → ``biochemical_response`` (≤ ``response_percent``), ``biochemical_progression``
    (≥ ``progression_percent``) or ``biochemical_stable``; missing stays missing. Both bounds inclusive."""
    pct = pd.to_numeric(percent_change, errors="coerce").astype("float64")
    known = pct.notna().to_numpy()
    p = pct.to_numpy()
    cat = np.select([p <= response_percent + 1e-9, p >= progression_percent - 1e-9],
                    ["biochemical_response", "biochemical_progression"], default="biochemical_stable")
    return pd.Series(np.where(known, cat, None), index=percent_change.index, dtype="str")


def first_curative_surgery(surgery: pd.DataFrame | None) -> pd.DataFrame:
    """Index operation per patient: earliest curative ``surgery_date`` (then lowest ``surgery_id``).

    All operations count when ``surgical_intent`` is absent. Columns ``patient_id, surgery_id,
    surgery_date`` (+ ``thyroidectomy_extent``, ``resection_status`` when present).
    """
    cols = ["patient_id", "surgery_id", "surgery_date", "thyroidectomy_extent", "resection_status"]
    if surgery is None or len(surgery) == 0:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "surgery_date" else "str") for c in cols})
    s = surgery.copy()
    s["surgery_date"] = _dates(s["surgery_date"])
    if "surgical_intent" in s:
        s = s[s["surgical_intent"].eq("curative").fillna(False).to_numpy(bool)]
    s = s[s["surgery_date"].notna().to_numpy()]
    order = ["patient_id", "surgery_date"] + (["surgery_id"] if "surgery_id" in s else [])
    s = s.sort_values(order, kind="mergesort").drop_duplicates("patient_id", keep="first")
    return s[[c for c in cols if c in s]].reset_index(drop=True)


def marker_rows(labs: pd.DataFrame, index: pd.Index, tests: Sequence[str], extra: Sequence[str] = ()) -> pd.DataFrame:
    """The harmonised rows of ``tests`` for the patients of ``index``, sorted by patient position then
    date (stable: the order of ``labs`` within a date), as a slim frame: ``_pos`` (position in
    ``index``), ``_test`` (position in ``tests``), ``lab_date``, ``_t`` (days), ``value`` and the
    ``extra`` columns present in ``labs``.  Patient and test are matched on hashed codes and the rows
    ordered on integer keys, so only the rows needed are copied."""
    pos = positions(labs["patient_id"], index)
    tcode = positions(labs["test"], list(tests))
    sel = np.flatnonzero((pos >= 0) & (tcode >= 0))
    dates = np.asarray(labs["lab_date"].to_numpy()[sel], dtype="datetime64[ns]")
    dkey = dates.astype("int64")
    dkey = np.where(np.isnat(dates), np.iinfo(np.int64).max, dkey)  # NaT last, as sort_values puts it
    sel = sel[np.lexsort((dkey, pos[sel]))]
    out = {"_pos": pos[sel], "_test": tcode[sel], "lab_date": labs["lab_date"].to_numpy()[sel].astype("datetime64[ns]")}
    out["_t"] = _days(out["lab_date"])
    out["value"] = pd.to_numeric(labs["value"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)[sel]
    for c in extra:
        if c in labs:
            out[c] = labs[c].array.take(sel)
    return pd.DataFrame(out)


def _pick(labs: pd.DataFrame, pos: np.ndarray, n: int, lo: np.ndarray, hi: np.ndarray, *, lo_inclusive: bool,
          which: str = "last", extra: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """For each patient position, the last (or first) row with ``lo < date <= hi`` (``lo <= `` when inclusive).

    ``labs`` must be sorted by position then date; ``lo``/``hi`` are float days per patient
    (±inf = unbounded, NaN = no window).
    """
    t = labs["_t"].to_numpy()
    lo_r, hi_r = lo[pos], hi[pos]
    mask = ((t >= lo_r) if lo_inclusive else (t > lo_r)) & (t <= hi_r)
    idx = np.flatnonzero(mask)
    p = pos[idx]
    if which == "last":
        sel = idx[np.r_[p[1:] != p[:-1], True]] if len(idx) else idx
    else:
        sel = idx[np.r_[True, p[1:] != p[:-1]]] if len(idx) else idx
    where = pos[sel]
    out = {"found": np.zeros(n, bool)}
    out["found"][where] = True
    value = np.full(n, np.nan)
    value[where] = labs["value"].to_numpy()[sel]
    out["value"] = value
    d = np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    d[where] = labs["lab_date"].to_numpy()[sel]
    out["date"] = d
    for col in extra:
        arr = np.full(n, None, dtype=object)
        arr[where] = labs[col].to_numpy(dtype=object, na_value=None)[sel]
        out[col] = arr
    return out


def _percent(base: np.ndarray, comp: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(base > 0, (comp - base) / base * 100.0, np.nan)


@tables_deprecated("labs", "patients", "diagnosis", "treatments", "surgery")
def derive_biochemical_response(
    tables: Mapping[str, pd.DataFrame],
    *,
    tgab_window_days: int = TGAB_WINDOW_DAYS,
    tgab_default_threshold: float = TGAB_DEFAULT_THRESHOLD,
    response_percent: float = RESPONSE_PERCENT,
    progression_percent: float = PROGRESSION_PERCENT,
    min_doubling_values: int = MIN_DOUBLING_VALUES,
    labs_harmonised: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The ``biochem`` table: one row per patient of ``patients``.

    ``tables``: form name → clean typed table; reads ``labs``, ``patients`` (``cohort,
    treatment_decision_date``), ``diagnosis`` (``histology``) and, optionally, ``treatments``
    (``start_date``) and ``surgery`` (``surgery_date, surgical_intent``).  Pass ``labs_harmonised``
    (from :func:`harmonise_labs`) to skip that step (``labs`` is then not needed).

    Returns ``(biochem, labs_harmonised, problems)``.  ``biochem`` columns (see
    ``docs/derivations/biochemical.md``): ``patient_id, cohort, histology, treatment_start_date,
    index_surgery_date, baseline_reference, baseline_reference_date, comparison_timepoint``; for Tg,
    TgAb, calcitonin and CEA ``<m>_baseline, <m>_baseline_date, <m>_presurgery,
    <m>_presurgery_date, <m>_percent_change``; ``tg_baseline_interpretable,
    tg_presurgery_interpretable, tgab_positive``; ``calcitonin_response, cea_response``; for
    calcitonin and CEA in the windows ``neoadjuvant`` (baseline → pre-surgery) and ``postop`` (after
    the index surgery): ``<m>_<w>_n_values, <m>_<w>_slope_per_day, <m>_<w>_doubling_time_signed_days,
    <m>_<w>_doubling_time_days, <m>_<w>_halving_time_days, <m>_<w>_meets_ata_recommendation``; and
    the summary ``biochemical_marker`` (tg / tgab / calcitonin), ``biochemical_percent_change``,
    ``biochemical_response`` and ``biochemical_response_reason`` (why it is missing).
    """
    # labs is optional when it comes harmonised; in both cases the order is patients, diagnosis, labs, …
    labs_required = labs_harmonised is None
    patients, diagnosis, labs, treatments, surgery = study_tables(
        tables, ("patients", "diagnosis", "labs") if labs_required else ("patients", "diagnosis"),
        ("treatments", "surgery") if labs_required else ("labs", "treatments", "surgery"),
        caller="derive_biochemical_response")
    problems: list[pd.DataFrame] = []
    if labs_harmonised is None:
        labs_harmonised, p = harmonise_labs(labs, tgab_window_days=tgab_window_days, tgab_default_threshold=tgab_default_threshold)
        problems.append(p)

    pt = patients[["patient_id"] + [c for c in ("cohort", "treatment_decision_date") if c in patients]].drop_duplicates("patient_id").reset_index(drop=True)
    n = len(pt)
    pid = pt["patient_id"].astype("str")
    index = pd.Index(pid)
    hist = normalise_histology(diagnosis.drop_duplicates("patient_id").set_index("patient_id")["histology"].reindex(index)).to_numpy(dtype=object)
    cohort = _col(pt, "cohort").astype("str").to_numpy(dtype=object)
    neo = cohort == "neoadjuvant"
    decision = _dates(_col(pt, "treatment_decision_date")).to_numpy()

    if treatments is not None and len(treatments):
        tx = treatments.assign(start_date=_dates(treatments["start_date"])).groupby("patient_id")["start_date"].min()
        tx_start = _dates(tx.reindex(index)).to_numpy()
    else:
        tx_start = np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    op = first_curative_surgery(surgery).set_index("patient_id")
    op_date = _dates(op["surgery_date"].reindex(index)).to_numpy()

    # baseline reference date
    has_tx = ~np.isnat(tx_start)
    has_op = ~np.isnat(op_date)
    ref = np.where(neo, np.where(has_tx, tx_start, decision), np.where(has_op, op_date, decision))
    ref_kind = np.select([neo & has_tx, neo, has_op], ["treatment_start", "treatment_decision", "surgery"], default="treatment_decision")
    problems.append(_problems(pid, neo & ~has_tx, "start_date", "", "treatment_start_missing",
                              "neoadjuvant patient without a treatment course: baseline taken on/before the treatment decision date"))
    comp_kind = np.where(neo, np.where(has_op, "pre_surgery", "last_on_treatment"), None)

    ref_d, op_d = _days(ref), _days(op_date)
    lo_base = np.full(n, -np.inf)
    hi_base = ref_d
    # comparison: after the baseline sample, up to the index surgery (or unbounded if never operated);
    # upfront surgery has no neoadjuvant interval → no comparison
    hi_comp = np.where(neo, np.where(has_op, op_d, np.inf), np.nan)

    markers = ("tg", "tgab", "calcitonin", "cea")
    lab = marker_rows(labs_harmonised, index, markers, ("below_detection", "tg_interpretable", "tgab_positive"))
    lab_test = lab["_test"].to_numpy()

    cols: dict[str, object] = {
        "patient_id": pid.to_numpy(dtype=object), "cohort": cohort, "histology": hist,
        "treatment_start_date": tx_start, "index_surgery_date": op_date,
        "baseline_reference": ref_kind, "baseline_reference_date": ref, "comparison_timepoint": comp_kind,
    }
    picks: dict[str, tuple[dict, dict]] = {}
    for test in ("tg", "tgab", "calcitonin", "cea"):
        sub = lab[lab_test == markers.index(test)]
        pos = sub["_pos"].to_numpy()
        extra = ("tg_interpretable",) if test == "tg" else ("tgab_positive",) if test == "tgab" else ()
        base = _pick(sub, pos, n, lo_base, hi_base, lo_inclusive=True, extra=extra)
        base_t = _days(base["date"])
        comp = _pick(sub, pos, n, np.where(np.isnan(base_t), ref_d, base_t), hi_comp, lo_inclusive=False, extra=extra)
        picks[test] = (base, comp)
        cols[f"{test}_baseline"] = base["value"]
        cols[f"{test}_baseline_date"] = base["date"]
        cols[f"{test}_presurgery"] = comp["value"]
        cols[f"{test}_presurgery_date"] = comp["date"]
        cols[f"{test}_percent_change"] = _percent(base["value"], comp["value"])

    tg_b, tg_c = picks["tg"]
    ab_b, ab_c = picks["tgab"]
    tg_b_int = pd.array(tg_b["tg_interpretable"], dtype="boolean")
    tg_c_int = pd.array(tg_c["tg_interpretable"], dtype="boolean")
    cols["tg_baseline_interpretable"] = tg_b_int
    cols["tg_presurgery_interpretable"] = tg_c_int
    ab_pos = (pd.array(ab_b["tgab_positive"], dtype="boolean").fillna(False) | pd.array(ab_c["tgab_positive"], dtype="boolean").fillna(False))
    ab_known = ab_b["found"] | ab_c["found"]
    cols["tgab_positive"] = pd.array(np.where(ab_known, ab_pos.to_numpy(bool), False), dtype="boolean")
    cols["tgab_positive"][~ab_known] = pd.NA

    # MTC markers and doubling times
    for test in ("calcitonin", "cea"):
        cols[f"{test}_response"] = classify_percent_change(pd.Series(cols[f"{test}_percent_change"]), response_percent=response_percent,
                                                           progression_percent=progression_percent).to_numpy(dtype=object)
        sub = lab[(lab_test == markers.index(test)) & ~lab["below_detection"].to_numpy(bool)]
        pos = sub["_pos"].to_numpy()
        t = sub["_t"].to_numpy()
        base_t = _days(picks[test][0]["date"])
        comp_t = _days(picks[test][1]["date"])
        windows = {
            "neoadjuvant": (t >= base_t[pos]) & (t <= comp_t[pos]),
            "postop": t > op_d[pos],
        }
        for w, m in windows.items():
            dt = doubling_times(pd.DataFrame({"_pos": pos[m], "lab_date": sub["lab_date"].to_numpy()[m], "value": sub["value"].to_numpy()[m]}),
                                "_pos", min_values=min_doubling_values).reindex(range(n))
            dt["n_values"] = dt["n_values"].fillna(0).astype(np.int64)
            dt["meets_ata_recommendation"] = dt["meets_ata_recommendation"].astype("boolean").fillna(False)
            for c in ("n_values", "slope_per_day", "doubling_time_signed_days", "doubling_time_days", "halving_time_days", "meets_ata_recommendation"):
                cols[f"{test}_{w}_{c}"] = dt[c].to_numpy()

    out = pd.DataFrame(cols)
    for c in out.columns:
        if c.endswith("_date"):
            out[c] = out[c].astype("datetime64[ns]")
        elif c.endswith(("_baseline", "_presurgery", "_percent_change", "_slope_per_day", "_days")):
            out[c] = out[c].astype("Float64")
        elif c.endswith("_n_values"):
            out[c] = out[c].astype("Int64")
        elif c.endswith("_meets_ata_recommendation"):
            out[c] = out[c].astype("boolean")
    for c in ("patient_id", "cohort", "histology", "baseline_reference", "comparison_timepoint", "calcitonin_response", "cea_response"):
        out[c] = out[c].astype("str")

    # ------------------------------------------------------------------ summary marker + category
    dtc = np.isin(hist, DTC_HISTOLOGIES)
    mtc = hist == "mtc"
    atc = hist == "atc"
    tg_ok = tg_b_int.fillna(False).to_numpy(bool) & tg_c_int.fillna(False).to_numpy(bool)
    ab_both = ab_b["found"] & ab_c["found"]
    use_tgab = dtc & ~tg_ok & ab_both & ab_pos.to_numpy(bool)
    ctn_both = ~np.isnan(cols["calcitonin_baseline"]) & ~np.isnan(cols["calcitonin_presurgery"])
    marker = np.select([dtc & tg_ok, use_tgab, mtc & ctn_both], ["tg", "tgab", "calcitonin"], default=None)
    pct = np.select([marker == "tg", marker == "tgab", marker == "calcitonin"],
                    [cols["tg_percent_change"], cols["tgab_percent_change"], cols["calcitonin_percent_change"]], default=np.nan)
    out["biochemical_marker"] = pd.Series(marker, dtype="str")
    out["biochemical_percent_change"] = pd.Series(pct, dtype="Float64")
    out["biochemical_response"] = classify_percent_change(out["biochemical_percent_change"], response_percent=response_percent,
                                                          progression_percent=progression_percent)

    primary_base = np.where(mtc, cols["calcitonin_baseline"], cols["tg_baseline"])
    primary_comp = np.where(mtc, cols["calcitonin_presurgery"], cols["tg_presurgery"])
    any_marker_base = np.where(mtc, ~np.isnan(primary_base), ~np.isnan(primary_base) | ab_b["found"])
    any_marker_comp = np.where(mtc, ~np.isnan(primary_comp), ~np.isnan(primary_comp) | ab_c["found"])
    zero_base = ~pd.isna(marker) & np.isnan(pct)  # baseline recorded as 0
    conditions = [
        pd.isna(hist), atc, ~(dtc | mtc), ~neo,
        ~any_marker_base, ~any_marker_comp,
        dtc & ~tg_ok & ~use_tgab & ab_pos.to_numpy(bool), dtc & ~tg_ok & ~use_tgab,
        zero_base,
    ]
    reasons = [
        "histology unknown",
        "anaplastic carcinoma: no tumour marker",
        "histology without a tumour-marker rule",
        "no neoadjuvant therapy (upfront surgery): no baseline → pre-surgery interval",
        "no baseline value on or before " + pd.Series(ref_kind).str.replace("_", " ").to_numpy(dtype=object),
        "no value after the baseline sample" + np.where(has_op, " and on or before surgery", ""),
        "Tg not interpretable (TgAb positive) and TgAb not measured at both timepoints",
        "Tg not interpretable at both timepoints (TgAb missing within the matching window)",
        "baseline value is 0: % change undefined",
    ]
    reason = np.select(conditions, reasons, default=None)
    out["biochemical_response_reason"] = pd.Series(np.where(out["biochemical_response"].isna(), reason, None), dtype="str")

    measured = neo & (dtc | mtc)
    for rule, mask, message in [
        ("baseline_missing", measured & ~any_marker_base, "no tumour-marker value on or before the baseline reference date: biochemical response cannot be derived"),
        ("presurgery_missing", measured & any_marker_base & ~any_marker_comp, "no tumour-marker value after the baseline sample (before surgery): biochemical response cannot be derived"),
        ("tg_not_interpretable", measured & any_marker_base & any_marker_comp & dtc & ~tg_ok & ~use_tgab,
         "Tg not interpretable (TgAb positive or not measured) and no TgAb trend available"),
        ("baseline_zero", measured & zero_base, "baseline value recorded as 0: % change undefined"),
    ]:
        problems.append(_problems(pid, mask, "value", "", rule, message))
    for test in ("calcitonin", "cea"):
        for w in ("neoadjuvant", "postop"):
            nv = out[f"{test}_{w}_n_values"].to_numpy()
            few = mtc & (nv > 0) & (nv < min_doubling_values)
            problems.append(_problems(pid, few, f"{test}_{w}", nv, "doubling_time_too_few_values",
                                      f"{test} doubling time ({w}) needs at least {min_doubling_values} measured values above detection; "
                                      "fewer available, left missing"))
    return out, labs_harmonised, _concat_problems(problems)


__all__ = [
    "CANONICAL_UNITS",
    "DOUBLING_COLUMNS",
    "HARMONISED_COLUMNS",
    "RESPONSE_CATEGORIES",
    "UNIT_FACTORS",
    "classify_percent_change",
    "derive_biochemical_response",
    "doubling_times",
    "first_curative_surgery",
    "harmonise_labs",
]
