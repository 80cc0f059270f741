"""AJCC Cancer Staging Manual, 8th edition (2017): thyroid carcinoma stage groups.

Stage groups (AJCC 8th ed., chapter 73 "Thyroid — differentiated and anaplastic carcinoma" and
chapter 74 "Thyroid — medullary carcinoma"), verified against Perrier, Brierley & Tuttle,
*CA Cancer J Clin* 2018;68:55-63 (PMC5766386, "Differentiated and anaplastic thyroid carcinoma:
major changes in the AJCC 8th edition"), Radiopaedia "Anaplastic thyroid cancer staging" (8th ed.
stage groups) and Cancer Research UK "Number stages for medullary thyroid cancer":

Differentiated (papillary, follicular, oncocytic) and poorly differentiated carcinoma
    age < 55:  I   any T any N M0;            II  any T any N M1
    age >= 55: I   T1-T2 N0/NX M0;            II  T1-T2 N1 M0, T3a/T3b any N M0
               III T4a any N M0;              IVA T4b any N M0;   IVB any T any N M1
Anaplastic carcinoma (age plays no part)
    IVA T1-T3a N0/NX M0;  IVB T1-T3a N1 M0, T3b-T4b any N M0;  IVC any M1
Medullary carcinoma (own chapter; age plays no part)
    I   T1 N0 M0;   II T2-T3 N0 M0;   III T1-T3 N1a M0
    IVA T4a any N M0, T1-T3 N1b M0;   IVB T4b any N M0;   IVC any M1

Conventions where the tables are silent (each documented in ``docs/derivations/staging.md``):

* **Age** is age at diagnosis in years; ``< 55`` versus ``>= 55`` (a 55-year-old is ``>= 55``).
* **NX** groups with N0 for differentiated and anaplastic carcinoma (the tables say "N0/NX");
  the medullary table lists N0 only, so there NX stages only where the row reads "any N".
* **TX** (and the unsubdivided T1, T3, T4, N1) stage only when every sub-category it may stand
  for gives the same group ("any T" rows, e.g. age < 55 or M1); otherwise the stage is missing
  and a problem explains which sub-category is needed.  Because every table is monotone in T and
  in N, comparing the lowest and the highest candidate is enough.
* **T0** (no primary tumour; after neoadjuvant therapy ypT0) ranks below T1a: T0 with node
  metastasis stages in the T1 row (the residual disease is nodal); **T0 N0/NX M0** has no stage
  group (AJCC assigns none to ypT0 ypN0 cM0 — a complete response; for cT0/pT0 it is a data problem).
* **MX** is not a valid category in the 8th edition (M is cM0 when there is no evidence of
  metastasis); it is reported as a problem.
* Prefixes ``c``, ``p``, ``yp``, ``yc`` on T/N/M codes are accepted and ignored here
  (the prefix belongs to the stage, see :func:`derive_stages`).

Nothing here raises on data: unknown codes give a missing stage and a problem record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.errors import LatcError

#: ages above this are typing errors, not ages (years)
MAX_AGE = 130

#: Stage groups in increasing order of extent (for downstaging comparisons).
STAGE_ORDER: tuple[str, ...] = ("I", "II", "III", "IVA", "IVB", "IVC")
#: T categories in increasing order of extent (TX excluded: unknown).
T_ORDER: tuple[str, ...] = ("T0", "T1a", "T1b", "T2", "T3a", "T3b", "T4a", "T4b")
#: N categories in increasing order of extent (NX excluded: unknown).
N_ORDER: tuple[str, ...] = ("N0", "N1a", "N1b")
#: Histology codes of the data dictionary, by AJCC chapter.
DIFFERENTIATED = ("ptc", "ftc", "oncocytic", "pdtc", "dtc")
AGE_CUTOFF = 55

PROBLEM_COLUMNS = ["patient_id", "field", "value", "rule", "message"]

_T_RANK = {t: i for i, t in enumerate(T_ORDER)}
_N_RANK = {n: i for i, n in enumerate(N_ORDER)}
# code as written (upper case, prefix removed) -> (lowest, highest) sub-category it may stand for
_T_CANDIDATES = {
    "T0": ("T0", "T0"), "T1": ("T1a", "T1b"), "T1A": ("T1a", "T1a"), "T1B": ("T1b", "T1b"),
    "T2": ("T2", "T2"), "T3": ("T3a", "T3b"), "T3A": ("T3a", "T3a"), "T3B": ("T3b", "T3b"),
    "T4": ("T4a", "T4b"), "T4A": ("T4a", "T4a"), "T4B": ("T4b", "T4b"), "TX": ("T1a", "T4b"),
}
_N_CANDIDATES = {
    "N0": ("N0", "N0"), "N0A": ("N0", "N0"), "N0B": ("N0", "N0"), "N1": ("N1a", "N1b"),
    "N1A": ("N1a", "N1a"), "N1B": ("N1b", "N1b"), "NX": ("NX", "NX"),
}
_M_CODES = {"M0": "M0", "M1": "M1"}

# Histology: exact names first, then key words (order matters: "poorly differentiated" before
# "differentiated", "papillary" before "follicular" so the follicular variant of PTC stays PTC).
_HISTOLOGY_EXACT = {
    "ptc": "ptc", "ftc": "ftc", "oncocytic": "oncocytic", "pdtc": "pdtc", "atc": "atc", "mtc": "mtc",
    "dtc": "dtc", "hcc": "oncocytic", "hurthle": "oncocytic", "wdtc": "dtc",
}
_HISTOLOGY_WORDS = (
    ("anaplastic", "atc"), ("undifferentiated", "atc"), ("medullary", "mtc"),
    ("poorly differentiated", "pdtc"), ("papillary", "ptc"), ("follicular", "ftc"),
    ("oncocytic", "oncocytic"), ("hurthle", "oncocytic"), ("differentiated", "dtc"),
)


def _per_unique(values: pd.Series, fn) -> pd.Series:
    """Apply a string transformation to the distinct values only and spread the result back.

    Codes have a handful of distinct values, so this keeps string work O(distinct), not O(rows).
    """
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series(None, index=values.index, dtype=object)
    mapped = fn(pd.Series(list(uniques), dtype="str")).astype(object).to_numpy()
    picked = mapped[np.maximum(codes, 0)]
    return pd.Series(np.where(codes >= 0, picked, None), index=values.index, dtype=object)


def _normalise_histology_distinct(histology: pd.Series) -> pd.Series:
    s = (
        histology.str.strip().str.lower()
        .str.replace("ü", "u", regex=False).str.replace(r"[-_]+", " ", regex=True)
        .str.replace(r"\s+", " ", regex=True)
    )
    out = s.map(_HISTOLOGY_EXACT)
    for word, code in _HISTOLOGY_WORDS:
        hit = out.isna() & s.str.contains(word, regex=False).fillna(False).astype(bool)
        out = out.mask(hit, code)
    return out


def normalise_histology(histology: pd.Series) -> pd.Series:
    """Map histology names to the dictionary codes (``ptc ftc oncocytic pdtc atc mtc``, or ``dtc``).

    Case-insensitive; accepts the codes, the dictionary labels and words such as "papillary",
    "Hürthle", "anaplastic", "DTC". Unrecognised values become missing.
    """
    return _per_unique(histology, _normalise_histology_distinct).astype("str")


def _chapter(histology_code: pd.Series) -> pd.Series:
    chapter = pd.Series(pd.NA, index=histology_code.index, dtype="str")
    chapter = chapter.mask(histology_code.isin(DIFFERENTIATED), "differentiated")
    chapter = chapter.mask(histology_code.eq("atc").fillna(False), "anaplastic")
    return chapter.mask(histology_code.eq("mtc").fillna(False), "medullary")


def clean_tnm_code(codes: pd.Series, letter: str) -> pd.Series:
    """Upper-case a T/N/M code and drop a c/p/yp/yc prefix: ``ypT1a`` → ``T1A``."""

    def clean(s: pd.Series) -> pd.Series:
        s = s.str.strip().str.replace(rf"^(?:yp|yc|p|c)(?={letter})", "", regex=True, case=False)
        return s.str.upper()

    return _per_unique(codes, clean).astype("str")


def _group(chapter: np.ndarray, older: np.ndarray, t: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Stage group for exact sub-categories (t, n ranks; NX already resolved). '' = no group."""
    m1 = m == 1
    dtc = np.select(
        [m1 & ~older, ~older, m1, t >= 7, t == 6, t >= 4, n >= 1],
        ["II", "I", "IVB", "IVA", "III", "II", "II"],
        default="I",
    )
    atc = np.select([m1, t >= 5, n >= 1], ["IVC", "IVB", "IVB"], default="IVA")
    mtc = np.select(
        [m1, t == 7, t == 6, n == 2, n == 1, t >= 3],
        ["IVC", "IVB", "IVA", "IVA", "III", "II"],
        default="I",
    )
    out = np.select([chapter == "differentiated", chapter == "anaplastic", chapter == "medullary"], [dtc, atc, mtc], default="")
    # T0 N0 M0: no residual / evident tumour — AJCC assigns no stage group.
    return np.where((t == 0) & (n == 0) & ~m1, "", out)


def _broadcast(**values: object) -> pd.DataFrame:
    series = {k: v for k, v in values.items() if isinstance(v, pd.Series)}
    if series:
        index = next(iter(series.values())).index
        return pd.DataFrame({k: (v if isinstance(v, pd.Series) else pd.Series([v] * len(index), index=index, dtype=object)) for k, v in values.items()}, index=index)
    return pd.DataFrame({k: [v] for k, v in values.items()})


def ajcc_stage_detail(histology, age, t, n, m) -> pd.DataFrame:
    """AJCC 8th stage group with the reason when it cannot be given.

    Parameters are Series (aligned on their index) or scalars: ``histology`` (dictionary code or
    name), ``age`` (years at diagnosis), ``t`` (``T0 T1a T1b T2 T3a T3b T4a T4b TX``, or T1/T3/T4),
    ``n`` (``N0 N1a N1b NX``, or N1), ``m`` (``M0 M1``).

    Returns a DataFrame on the same index with ``stage`` (``I II III IVA IVB IVC`` or missing) and,
    when missing, ``problem_field``, ``problem_value``, ``rule`` and ``message`` (one problem per
    row: the first of unknown histology / T / N / M, missing age, then the combination).
    """
    df = _broadcast(histology=histology, age=age, t=t, n=n, m=m)
    idx = df.index
    hist = normalise_histology(df["histology"])
    chapter = _chapter(hist)
    age_num = pd.to_numeric(df["age"], errors="coerce")
    age_num = age_num.where((age_num >= 0) & (age_num <= MAX_AGE))  # 1e22 or -3 is no age
    t_raw, n_raw, m_raw = clean_tnm_code(df["t"], "T"), clean_tnm_code(df["n"], "N"), clean_tnm_code(df["m"], "M")
    m_code = m_raw.map(_M_CODES)
    t_lo = t_raw.map({k: _T_RANK[v[0]] for k, v in _T_CANDIDATES.items()})
    t_hi = t_raw.map({k: _T_RANK[v[1]] for k, v in _T_CANDIDATES.items()})
    n_lo_code = n_raw.map({k: v[0] for k, v in _N_CANDIDATES.items()})
    n_hi_code = n_raw.map({k: v[1] for k, v in _N_CANDIDATES.items()})
    # NX: groups with N0 for differentiated/anaplastic (AJCC "N0/NX"); unknown (N0..N1b) for medullary.
    medullary = chapter.eq("medullary").fillna(False).to_numpy(bool)
    nx = n_lo_code.eq("NX").fillna(False).to_numpy(bool)
    n_lo = n_lo_code.map(_N_RANK).to_numpy(float)
    n_hi = n_hi_code.map(_N_RANK).to_numpy(float)
    n_lo = np.where(nx, 0, n_lo)
    n_hi = np.where(nx, np.where(medullary, 2, 0), n_hi)
    m1 = m_code.eq("M1").fillna(False).to_numpy(bool)
    older = (age_num >= AGE_CUTOFF).fillna(False).to_numpy(bool)

    ch = chapter.fillna("").to_numpy(str)
    tl, th = t_lo.to_numpy(float), t_hi.to_numpy(float)
    low = _group(ch, older, np.nan_to_num(tl, nan=-1), np.nan_to_num(n_lo, nan=-1), m1)
    high = _group(ch, older, np.nan_to_num(th, nan=-1), np.nan_to_num(n_hi, nan=-1), m1)

    bad_hist = chapter.isna().to_numpy()
    bad_t, bad_n, bad_m = t_lo.isna().to_numpy(), n_lo_code.isna().to_numpy(), m_code.isna().to_numpy()
    no_age = (chapter.eq("differentiated").fillna(False) & age_num.isna()).to_numpy()
    invalid = bad_hist | bad_t | bad_n | bad_m | no_age
    agree = low == high
    no_group = agree & (low == "")
    mid = _group(ch, older, np.nan_to_num(th, nan=-1), np.nan_to_num(n_lo, nan=-1), m1)
    ambiguous_t = ~agree & (low != mid)
    ambiguous_n = ~agree & (low == mid)
    stage = np.where(~invalid & agree & (low != ""), low, None)

    conditions = [bad_hist, bad_t, bad_n, bad_m, no_age, ambiguous_t, ambiguous_n, no_group]
    fields = ["histology", "t", "n", "m", "age", "t", "n", "t"]
    rules = [
        "histology_unknown", "t_category_unknown", "n_category_unknown", "m_category_unknown",
        "age_missing_for_dtc", "stage_ambiguous", "stage_ambiguous", "no_stage_group",
    ]
    which = np.select(conditions, list(range(len(conditions))), default=-1)
    out = pd.DataFrame({"stage": pd.Series(stage, index=idx, dtype="str")}, index=idx)
    out["problem_field"] = pd.Series(np.select(conditions, fields, default=None), index=idx, dtype="str")
    out["problem_value"] = pd.Series(None, index=idx, dtype="str")
    out["rule"] = pd.Series(np.select(conditions, rules, default=None), index=idx, dtype="str")
    out["message"] = pd.Series(None, index=idx, dtype="str")
    has = which >= 0
    if has.any():
        # Messages are built for the problem rows only.
        sub = df[has].astype("str")
        k = which[has]
        lo = pd.Series(low[has], index=sub.index).replace("", "no group")
        hi = pd.Series(high[has], index=sub.index).replace("", "no group")
        combo = sub["t"].fillna("?") + " " + sub["n"].fillna("?") + " " + sub["m"].fillna("?")
        span = " spans stage " + lo + " to " + hi + " in this stage table: "
        m_is_mx = m_raw[has].eq("MX").fillna(False).to_numpy(bool)
        messages = [
            ("histology '" + sub["histology"] + "' is not one of ptc, ftc, oncocytic, pdtc, atc, mtc (or DTC)").fillna("histology is missing"),
            ("T category '" + sub["t"] + "' is not an AJCC 8th T category (T0, T1a, T1b, T2, T3a, T3b, T4a, T4b, TX)").fillna("T category is missing"),
            ("N category '" + sub["n"] + "' is not an AJCC 8th N category (N0, N1a, N1b, NX)").fillna("N category is missing"),
            ("M category '" + sub["m"] + "' is not M0 or M1").fillna("M category is missing").mask(m_is_mx, "MX is not a valid category in AJCC 8th (use cM0 when no metastasis is evident)"),
            pd.Series(f"age at diagnosis is missing, not a number or outside 0-{MAX_AGE}: the differentiated/poorly differentiated stage depends on age < 55 vs >= 55", index=sub.index),
            combo + span + "record the T sub-category (T1a/T1b, T3a/T3b, T4a/T4b) or a known T",
            combo + span + "record the N category (N0, N1a, N1b)",
            pd.Series("T0 N0 M0: no evident/residual tumour — AJCC 8th assigns no stage group", index=sub.index),
        ]
        sources = ["histology", "t", "n", "m", "age", "t", "n", "t"]
        msg = np.select([k == i for i in range(len(messages))], [mm.to_numpy(object) for mm in messages], default=None)
        val = np.select([k == i for i in range(len(sources))], [sub[c].to_numpy(object) for c in sources], default=None)
        out.loc[has, "message"] = msg
        out.loc[has, "problem_value"] = val
    return out


def ajcc_stage(histology, age, t, n, m) -> pd.Series:
    """AJCC 8th edition stage group (``I II III IVA IVB IVC``; missing when not stageable).

    Vectorised over Series (or scalars); see :func:`ajcc_stage_detail` for the reasons a stage is
    missing and the module docstring for the tables and conventions.
    """
    return ajcc_stage_detail(histology, age, t, n, m)["stage"].rename("stage")


def _problems(patient_id: pd.Series, detail: pd.DataFrame, field_names: dict[str, str], drop_rules: pd.Series | None = None) -> pd.DataFrame:
    keep = detail["rule"].notna()
    if drop_rules is not None:
        keep &= ~drop_rules.fillna(False).astype(bool)
    d = detail[keep]
    return pd.DataFrame({
        "patient_id": patient_id[keep].astype("str"),
        "field": d["problem_field"].map(field_names).astype("str"),
        "value": d["problem_value"],
        "rule": d["rule"],
        "message": d["message"],
    })


def derive_stages(subject: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add clinical and pathological AJCC 8th stage groups to a one-row-per-patient table.

    Expected columns (dictionary names): ``patient_id``, ``histology``, ``age_at_diagnosis``,
    ``ct``, ``cn``, ``cm`` (diagnosis form); optionally ``pt``, ``pn`` and ``tnm_prefix`` of the
    staging specimen (pathology form), ``pathology_histology`` (the specimen's histology, used for
    the pathological stage when present) and ``cohort`` (patients form).

    Adds ``clinical_stage`` (cTNM, age at diagnosis), ``stage_prefix`` (``yp`` after neoadjuvant
    therapy, ``p`` after upfront surgery: from ``cohort`` when known, else ``tnm_prefix``) and
    ``pathological_stage`` (pT/pN with the clinical cM — the pathology form records no M — and the
    same age at diagnosis; AJCC 8th general rules). ypT0 ypN0 cM0 gives a missing
    ``pathological_stage`` without a problem (complete response: no stage group).

    Returns ``(subject_with_stages, problems)``; ``problems`` has columns
    ``patient_id, field, value, rule, message`` (one row per stage that could not be given).
    The input is not modified.
    """
    out = subject.copy()
    pid = out["patient_id"] if "patient_id" in out else pd.Series(out.index.astype(str), index=out.index)
    age = out["age_at_diagnosis"] if "age_at_diagnosis" in out else pd.Series(np.nan, index=out.index)
    clinical = ajcc_stage_detail(out["histology"], age, out["ct"], out["cn"], out["cm"])
    out["clinical_stage"] = clinical["stage"]
    problems = [_problems(pid, clinical, {"histology": "histology", "age": "age_at_diagnosis", "t": "ct", "n": "cn", "m": "cm"})]

    prefix = pd.Series(pd.NA, index=out.index, dtype="str")
    if "tnm_prefix" in out:
        prefix = out["tnm_prefix"].astype("str").str.strip().str.lower().where(lambda s: s.isin(["yp", "p"]))
    if "cohort" in out:
        from_cohort = out["cohort"].map({"neoadjuvant": "yp", "upfront_surgery": "p"}).astype("str")
        if "tnm_prefix" in out:
            clash = from_cohort.notna() & prefix.notna() & (from_cohort != prefix)
            if clash.any():
                problems.append(pd.DataFrame({
                    "patient_id": pid[clash].astype("str"), "field": "tnm_prefix",
                    "value": out.loc[clash, "tnm_prefix"].astype("str"), "rule": "tnm_prefix_vs_cohort",
                    "message": ("TNM prefix '" + out.loc[clash, "tnm_prefix"].astype("str") + "' disagrees with cohort '"
                                + out.loc[clash, "cohort"].astype("str") + "'; the cohort's prefix is used"),
                }))
        prefix = from_cohort.fillna(prefix)
    has_pathology = ("pt" in out) and ("pn" in out)
    if has_pathology:
        has_path = out["pt"].notna() | out["pn"].notna()
        prefix = prefix.where(has_path)
        hist = out["pathology_histology"].fillna(out["histology"]) if "pathology_histology" in out else out["histology"]
        patho = ajcc_stage_detail(hist, age, out["pt"], out["pn"], out["cm"])
        patho.loc[~has_path, ["stage", "problem_field", "problem_value", "rule", "message"]] = pd.NA
        out["pathological_stage"] = patho["stage"]
        complete_response = prefix.eq("yp").fillna(False) & patho["rule"].eq("no_stage_group").fillna(False)
        problems.append(_problems(pid, patho, {"histology": "histology", "age": "age_at_diagnosis", "t": "pt", "n": "pn", "m": "cm"}, complete_response))
    else:
        out["pathological_stage"] = pd.Series(pd.NA, index=out.index, dtype="str")
        prefix = pd.Series(pd.NA, index=out.index, dtype="str")
    out["stage_prefix"] = prefix.astype("str")
    probs = pd.concat([p for p in problems if len(p)], ignore_index=True) if any(len(p) for p in problems) else pd.DataFrame(columns=PROBLEM_COLUMNS, dtype="str")
    return out, probs[PROBLEM_COLUMNS].reset_index(drop=True)


class StageInputError(LatcError):
    """The input file of :func:`stage_csv` cannot be used at all (one-line message)."""


STAGE_CSV_COLUMNS = ("histology", "age", "t", "n", "m")


def stage_csv(input_path, out_path) -> pd.DataFrame:
    """Stage every row of a CSV with columns ``histology,age,t,n,m``; write it back with ``stage``.

    The output keeps the input columns (in their order) and adds ``stage`` (empty when not
    stageable) and ``stage_problem`` (why). Header names are matched case-insensitively. Text
    cells a spreadsheet would run as a formula are written with a leading ``'``
    (docs/spreadsheet_safety.md).
    Raises :class:`StageInputError` (one line naming the file) when the file cannot be read or
    lacks a required column; data problems never raise.
    """
    import io
    from pathlib import Path

    from latc.io import StudyReadError
    from latc.io._csv import read_text

    path = Path(input_path)
    if not path.exists():
        raise StageInputError(f"{path}: file not found")
    try:
        text, _ = read_text(path)
        table = pd.read_csv(io.StringIO(text), dtype="str", keep_default_na=False, na_values=[""], skipinitialspace=True)
    except StudyReadError as exc:
        raise StageInputError(str(exc)) from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise StageInputError(f"{path}: cannot be read as CSV ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    lookup = {str(c).strip().lower(): c for c in table.columns}
    missing = [c for c in STAGE_CSV_COLUMNS if c not in lookup]
    if missing:
        raise StageInputError(f"{path}: missing column(s) {', '.join(missing)} (need {','.join(STAGE_CSV_COLUMNS)})")
    cols = {c: table[lookup[c]].str.strip() for c in STAGE_CSV_COLUMNS}
    detail = ajcc_stage_detail(cols["histology"], cols["age"], cols["t"], cols["n"], cols["m"])
    out = table.copy()
    out["stage"] = detail["stage"]
    out["stage_problem"] = detail["message"]
    from latc.io._spreadsheet import neutralise_formulas  # the output is opened in spreadsheets

    neutralise_formulas(out).to_csv(out_path, index=False)
    return out


def stage_rank(stage: pd.Series) -> pd.Series:
    """Position of a stage group in :data:`STAGE_ORDER` (``I`` = 0 … ``IVC`` = 5); missing otherwise."""
    return stage.map({s: i for i, s in enumerate(STAGE_ORDER)}).astype("Float64")
