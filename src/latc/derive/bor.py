"""Best overall response (RECIST 1.1 §4.4) and the response endpoints built on it.

The conventions follow pharmaverse admiralonco (R), which the study's statisticians use as the
reference implementation:

* unconfirmed BOR = ``derive_param_bor()``;
* confirmed BOR = ``derive_param_confirmed_bor()``;
* confirmed response (responder flag and date) = ``derive_param_confirmed_resp()``;
* the "CR followed by PR" data check = ``signal_crpr()``.

Rules (RECIST 1.1, Eisenhauer et al. 2009, §4.4.1-§4.4.3, as operationalised by admiralonco):

1. Assessments after the first progression are not considered (admiralonco's ``source_pd``):
   by default the first ``PD`` in the responses themselves; a table of first-PD dates may be
   given instead; ``stop_at_first_pd=False`` keeps everything (``source_pd = NULL``).
2. Response values: ``CR, PR, SD, NON-CR/NON-PD, PD, NE`` and admiralonco's ``ND`` (not done);
   the data dictionary code ``NON_CR_NON_PD`` is read as ``NON-CR/NON-PD``.
3. Unconfirmed BOR: CR, PR and PD count as recorded; SD and NON-CR/NON-PD count only when the
   assessment is at least ``sd_min_days`` after the reference date (§4.4.1, minimum duration of
   SD), otherwise they count as NE.
4. Confirmed BOR (§4.4.1, confirmation): a CR counts when a later CR at least ``confirm_days``
   after it confirms it and everything in between is CR or NE (at most ``max_ne_between`` NE);
   a PR counts when a later CR or PR at least ``confirm_days`` after it confirms it, everything
   in between is CR, PR, SD or NE (at most ``max_ne_between`` NE; at most one SD only with
   ``accept_sd``) and no PR follows a CR in that window.  The first CR/PR at or beyond
   ``confirm_days`` is the confirming one.  Unconfirmed CR/PR and SD at least ``sd_min_days``
   after the reference date count as SD; NON-CR/NON-PD likewise needs ``sd_min_days``; any CR,
   PR, SD or NON-CR/NON-PD before that is NE.
5. The best is chosen in the order CR > PR > SD > NON-CR/NON-PD > PD > NE > ND > MISSING; among
   equal best responses the earliest assessment gives the date.  A patient of the reference
   table with no assessment (left) is ``MISSING`` (``NE`` with ``missing_as_ne``) with no date.

All functions are vectorised over patients (sorting, cumulative counts and binary search; no
per-patient Python loops) and never modify their inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from latc.derive.biochem import positions, text_from_codes
from latc.errors import LatcError
from latc.io._dates import parse_iso_dates

__all__ = [
    "RESPONSE_ORDER",
    "VALID_RESPONSES",
    "ResponseDataError",
    "normalise_response",
    "best_overall_response",
    "confirmed_best_overall_response",
    "confirmed_response",
    "cr_followed_by_pr",
    "response_endpoints",
    "response_rates",
    "check_bor_inputs",
    "bor_table",
    "bor_csv",
    "BorInputError",
]

CR, PR, SD, NON, PD, NE, ND, MISSING = "CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "ND", "MISSING"
#: best first (admiralonco ``aval_resp``: CR 1 … NE 6, MISSING 7; ND between NE and MISSING)
RESPONSE_ORDER: tuple[str, ...] = (CR, PR, SD, NON, PD, NE, ND, MISSING)
VALID_RESPONSES: frozenset[str] = frozenset({CR, PR, SD, NON, PD, NE, ND})
_RANK = {v: i + 1 for i, v in enumerate(RESPONSE_ORDER)}
#: other spellings read as the canonical code (the data dictionary codes NON_CR_NON_PD)
RESPONSE_ALIASES: dict[str, str] = {"NON_CR_NON_PD": NON, "NON-CR/NON-PD": NON, "NONCR/NONPD": NON}


class ResponseDataError(LatcError, ValueError):
    """The response data cannot be used as given (unknown code, missing or duplicate date)."""


def normalise_response(values: pd.Series) -> pd.Series:
    """Upper-case, strip and map aliases (``NON_CR_NON_PD`` → ``NON-CR/NON-PD``); others unchanged.

    The text work runs on the distinct values only (a handful of codes), rows carry integer codes."""
    s = values.astype("string")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if not len(uniques):
        return s.astype("str")
    names = pd.Series(np.asarray(uniques, dtype=object), dtype="string").str.strip().str.upper().replace(RESPONSE_ALIASES)
    return text_from_codes(codes, names.astype(object).tolist(), index=values.index)


def _response_codes(values: np.ndarray | pd.Series) -> np.ndarray:
    """Position of each response in :data:`RESPONSE_ORDER` (−1 for anything else / missing)."""
    return positions(pd.Series(np.asarray(values, dtype=object)) if not isinstance(values, pd.Series) else values,
                     list(RESPONSE_ORDER))


# --------------------------------------------------------------------------------------------
# preparation


@dataclass(frozen=True)
class _Prepared:
    """Responses of patients in the reference table, sorted by patient and date, after PD cut."""

    rows: pd.DataFrame  # patient_id, assessment_date, response, reference_date, _pid, _day, _ref, _code
    patients: pd.DataFrame  # patient_id, reference_date (the reference table, de-duplicated)


def _min_per(pos: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Earliest date per position ``0 … n-1`` (NaT where none); ``pos < 0`` and NaT are skipped."""
    v = np.asarray(values, dtype="datetime64[ns]")
    ok = (pos >= 0) & ~np.isnat(v)
    big = np.iinfo(np.int64).max
    out = np.full(n, big, dtype=np.int64)
    np.minimum.at(out, pos[ok], v[ok].astype(np.int64))
    return np.where(out == big, np.iinfo(np.int64).min, out).view("datetime64[ns]")


def _max_per(pos: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Latest date per position (NaT where none)."""
    v = np.asarray(values, dtype="datetime64[ns]")
    ok = (pos >= 0) & ~np.isnat(v)
    small = np.iinfo(np.int64).min
    out = np.full(n, small, dtype=np.int64)
    np.maximum.at(out, pos[ok], v[ok].astype(np.int64))
    return out.view("datetime64[ns]")  # int64 min is NaT


def _prepare(
    responses: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    pd_dates: pd.DataFrame | None,
    stop_at_first_pd: bool,
) -> _Prepared:
    for col in ("patient_id", "assessment_date", "overall_response"):
        if col not in responses.columns:
            raise ResponseDataError(f"responses: missing column {col!r}")
    for col in ("patient_id", "reference_date"):
        if col not in reference.columns:
            raise ResponseDataError(f"reference: missing column {col!r}")
    ref = pd.DataFrame(
        {
            "patient_id": reference["patient_id"].astype("str").to_numpy(),
            "reference_date": pd.to_datetime(reference["reference_date"], errors="coerce").astype("datetime64[ns]").to_numpy(),
        }
    ).drop_duplicates("patient_id", keep="first")
    ref = ref.reset_index(drop=True)
    n_ref = len(ref)

    # patients are matched on hashed codes (position in the reference table); rows are ordered by
    # the patient's rank in text order, then date — the order of a sort on (patient_id, date)
    rpos = positions(responses["patient_id"], ref["patient_id"])
    keep = np.flatnonzero(rpos >= 0)
    rows = pd.DataFrame(
        {
            "patient_id": responses["patient_id"].astype("str").take(keep).to_numpy(),
            "assessment_date": pd.to_datetime(responses["assessment_date"], errors="coerce").astype("datetime64[ns]").to_numpy()[keep],
            "response": normalise_response(responses["overall_response"].take(keep)).to_numpy(),
            "_ref": rpos[keep],
        }
    )
    code = _response_codes(rows["response"])
    bad = ~np.isin(code, [RESPONSE_ORDER.index(v) for v in VALID_RESPONSES])
    if bad.any():
        found = ", ".join(sorted(set(rows.loc[bad, "response"].astype(str))))
        raise ResponseDataError(
            f"overall_response: only {', '.join(RESPONSE_ORDER[:-1])} are response values; found: {found}"
        )
    if rows["assessment_date"].isna().any():
        raise ResponseDataError(f"assessment_date: {int(rows['assessment_date'].isna().sum())} row(s) without a valid date")
    day_ns = rows["assessment_date"].to_numpy().astype(np.int64)
    dup = pd.DataFrame({"p": rows["_ref"].to_numpy(), "d": day_ns}).duplicated(keep=False).to_numpy()
    if dup.any():
        d = rows.loc[dup, ["patient_id", "assessment_date", "response"]].drop_duplicates(["patient_id", "assessment_date"])
        conflicting = rows.loc[dup, ["patient_id", "assessment_date", "response"]].drop_duplicates().duplicated(
            ["patient_id", "assessment_date"]).any()
        if conflicting:
            ex = d.iloc[0]
            raise ResponseDataError(
                f"{len(d)} patient/date pair(s) with more than one response, e.g. patient {ex['patient_id']} on "
                f"{ex['assessment_date']:%Y-%m-%d}; patient and date must identify one assessment"
            )
        first = ~pd.DataFrame({"p": rows["_ref"].to_numpy(), "d": day_ns}).duplicated(keep="first").to_numpy()
        rows, code, day_ns = rows[first].reset_index(drop=True), code[first], day_ns[first]

    # admiralonco filter_pd: keep assessments up to and including the first progression
    cut: np.ndarray | None = None
    if pd_dates is not None:
        ppos = positions(pd_dates["patient_id"], ref["patient_id"])
        cut = _min_per(ppos, pd.to_datetime(pd_dates["pd_date"]).to_numpy(), n_ref)
    elif stop_at_first_pd:
        is_pd = code == RESPONSE_ORDER.index(PD)
        cut = _min_per(np.where(is_pd, rows["_ref"].to_numpy(), -1), rows["assessment_date"].to_numpy(), n_ref)
    if cut is not None and len(rows):
        limit = cut[rows["_ref"].to_numpy()]
        ok = np.isnat(limit) | (rows["assessment_date"].to_numpy() <= limit)
        rows, code, day_ns = rows[ok].reset_index(drop=True), code[ok], day_ns[ok]

    text_rank = np.empty(n_ref, dtype=np.int64)
    text_rank[np.argsort(ref["patient_id"].to_numpy(dtype=object), kind="stable")] = np.arange(n_ref)
    pr = text_rank[rows["_ref"].to_numpy()]
    order = np.lexsort((day_ns, pr))
    rows = rows.take(order).reset_index(drop=True)
    code, pr = code[order], pr[order]
    rows.insert(3, "reference_date", ref["reference_date"].to_numpy()[rows["_ref"].to_numpy()])
    rows["_code"] = code
    rows["_pid"] = np.cumsum(np.r_[True, pr[1:] != pr[:-1]]) - 1 if len(pr) else np.zeros(0, dtype=np.int64)
    day = rows["assessment_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    rows["_day"] = day - (day.min() if len(day) else 0)
    return _Prepared(rows=rows, patients=ref)


def _after_window(rows: pd.DataFrame, sd_min_days: int) -> np.ndarray:
    """Assessment at least ``sd_min_days`` after the reference date (missing reference → False)."""
    ref = rows["reference_date"].to_numpy()
    return rows["assessment_date"].to_numpy() >= ref + np.timedelta64(int(sd_min_days), "D")  # NaT → False


def _pick_best(rows: pd.DataFrame, value: np.ndarray, patients: pd.DataFrame, missing_as_ne: bool, name: str) -> pd.DataFrame:
    """Best value per patient (rank, then earliest date); patients without rows → MISSING/NE."""
    value = np.asarray(value, dtype=object)
    rank = _response_codes(value)
    idx = np.flatnonzero(rank >= 0)
    ref = rows["_ref"].to_numpy()[idx]
    dates = rows["assessment_date"].to_numpy()
    idx = idx[np.lexsort((dates[idx].astype(np.int64), rank[idx], ref))]
    ref = rows["_ref"].to_numpy()[idx]
    first = idx[np.r_[True, ref[1:] != ref[:-1]]] if len(idx) else idx
    n = len(patients)
    best = np.full(n, NE if missing_as_ne else MISSING, dtype=object)
    best_date = np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    where = rows["_ref"].to_numpy()[first]
    best[where] = value[first]
    best_date[where] = dates[first]
    return pd.DataFrame({"patient_id": patients["patient_id"].to_numpy(), name: pd.Series(best, dtype="str"),
                         f"{name}_date": best_date})


# --------------------------------------------------------------------------------------------
# BOR


def best_overall_response(
    responses: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    sd_min_days: int = 42,
    pd_dates: pd.DataFrame | None = None,
    stop_at_first_pd: bool = True,
    missing_as_ne: bool = False,
) -> pd.DataFrame:
    """Unconfirmed best overall response per patient (admiralonco ``derive_param_bor``).

    Parameters
    ----------
    responses
        Timepoint responses: ``patient_id, assessment_date, overall_response``.
    reference
        ``patient_id, reference_date`` (treatment start); one output row per patient here.
    sd_min_days
        admiralonco ``ref_start_window``: SD and NON-CR/NON-PD count only at or after
        ``reference_date + sd_min_days``; earlier they are NE (RECIST 1.1 §4.4.1).
    pd_dates
        Optional ``patient_id, pd_date`` (admiralonco ``source_pd``): assessments after it are
        dropped.  Without it, the first PD in ``responses`` is used when ``stop_at_first_pd``.
    missing_as_ne
        Patients without an assessment get NE instead of MISSING.

    Returns ``patient_id, best_overall_response, best_overall_response_date``.
    Raises :class:`ResponseDataError` for an unknown response code or a duplicate/missing date.
    """
    prep = _prepare(responses, reference, pd_dates=pd_dates, stop_at_first_pd=stop_at_first_pd)
    return _bor(prep, sd_min_days, missing_as_ne)


def _bor(prep: _Prepared, sd_min_days: int, missing_as_ne: bool) -> pd.DataFrame:
    rows = prep.rows
    r = rows["response"].to_numpy(dtype=object)
    early = ~_after_window(rows, sd_min_days)
    value = np.where(np.isin(r, [SD, NON]) & early, NE, r)
    return _pick_best(rows, value, prep.patients, missing_as_ne, "best_overall_response")


def _confirmation(rows: pd.DataFrame, confirm_days: int, max_ne_between: int, accept_sd: bool) -> tuple[np.ndarray, np.ndarray]:
    """Which CR and which PR assessments are confirmed (admiralonco ``filter_confirmation``).

    For each candidate i, the confirming assessment j is the first later assessment of the same
    patient at least ``confirm_days`` after i with the right response (CR for CR; CR or PR for
    PR); the window is (i, j].  Counts inside windows come from cumulative sums, j from binary
    search on a (patient, day) key, so the whole cohort is done in a few array passes.
    """
    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    r = rows["response"].to_numpy(dtype=object)
    pid = rows["_pid"].to_numpy(dtype=np.int64)
    day = rows["_day"].to_numpy(dtype=np.int64)
    big = int(day.max()) + int(confirm_days) + 2
    key = pid * big + day
    pos = np.arange(n)
    first_eligible = np.maximum(np.searchsorted(key, key + int(confirm_days), side="left"), pos + 1)

    def cum(mask: np.ndarray) -> np.ndarray:
        return np.r_[0, np.cumsum(mask)]

    def count(c: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:  # rows in (i, j]
        return c[j + 1] - c[i + 1]

    def first_at_or_after(candidates: np.ndarray, start: np.ndarray) -> np.ndarray:
        k = np.searchsorted(candidates, start, side="left")
        return np.where(k < len(candidates), candidates[np.minimum(k, len(candidates) - 1)] if len(candidates) else n, n)

    is_cr, is_pr = r == CR, r == PR
    c_cr, c_pr, c_ne, c_sd = cum(is_cr), cum(is_pr), cum(r == NE), cum(r == SD)
    c_not_cr_ne = cum(~np.isin(r, [CR, NE]))
    c_not_crprsdne = cum(~np.isin(r, [CR, PR, SD, NE]))
    cr_pos, pr_pos, crpr_pos = np.flatnonzero(is_cr), np.flatnonzero(is_pr), np.flatnonzero(is_cr | is_pr)

    # CR confirmed by a later CR; only CR/NE in between; at most max_ne_between NE
    j = first_at_or_after(cr_pos, first_eligible)
    ok = (j < n) & is_cr
    jj = np.where(ok, j, pos)
    ok &= pid[jj] == pid
    ok &= count(c_not_cr_ne, pos, jj) == 0
    ok &= count(c_ne, pos, jj) <= max_ne_between
    cr_confirmed = ok

    # PR confirmed by a later CR or PR; CR/PR/SD/NE in between; NE and SD limits; no PR after CR
    j = first_at_or_after(crpr_pos, first_eligible)
    ok = (j < n) & is_pr
    jj = np.where(ok, j, pos)
    ok &= pid[jj] == pid
    ok &= count(c_not_crprsdne, pos, jj) == 0
    ok &= count(c_ne, pos, jj) <= max_ne_between
    ok &= count(c_sd, pos, jj) <= (1 if accept_sd else 0)
    n_cr, n_pr = count(c_cr, pos, jj), count(c_pr, pos, jj)
    first_cr = first_at_or_after(cr_pos, pos + 1)
    k = np.searchsorted(pr_pos, jj, side="right") - 1
    last_pr = np.where(k >= 0, pr_pos[np.maximum(k, 0)] if len(pr_pos) else -1, -1)
    ok &= (n_cr == 0) | (n_pr == 0) | (first_cr > last_pr)
    pr_confirmed = ok
    return cr_confirmed, pr_confirmed


def confirmed_best_overall_response(
    responses: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    confirm_days: int = 28,
    sd_min_days: int = 42,
    max_ne_between: int = 1,
    accept_sd: bool = False,
    pd_dates: pd.DataFrame | None = None,
    stop_at_first_pd: bool = True,
    missing_as_ne: bool = False,
) -> pd.DataFrame:
    """Confirmed best overall response per patient (admiralonco ``derive_param_confirmed_bor``).

    ``confirm_days`` is admiralonco's ``ref_confirm`` (RECIST 1.1 §4.4.1: confirmation no less
    than 4 weeks later), ``sd_min_days`` its ``ref_start_window``, ``max_ne_between`` its
    ``max_nr_ne`` (default 1), ``accept_sd`` its ``accept_sd`` (default False).  See the module
    docstring for the rules.  Returns ``patient_id, confirmed_best_overall_response,
    confirmed_best_overall_response_date``.
    """
    prep = _prepare(responses, reference, pd_dates=pd_dates, stop_at_first_pd=stop_at_first_pd)
    return _cbor(prep, confirm_days, sd_min_days, max_ne_between, accept_sd, missing_as_ne)


def _cbor(prep: _Prepared, confirm_days: int, sd_min_days: int, max_ne_between: int, accept_sd: bool,
          missing_as_ne: bool) -> pd.DataFrame:
    rows = prep.rows
    r = rows["response"].to_numpy(dtype=object)
    late = _after_window(rows, sd_min_days)
    cr_ok, pr_ok = _confirmation(rows, confirm_days, max_ne_between, accept_sd)
    value = np.select(
        [
            cr_ok,
            pr_ok,
            np.isin(r, [CR, PR, SD]) & late,
            (r == NON) & late,
            r == PD,
            (r == NE) | (np.isin(r, [CR, PR, SD, NON]) & ~late),
            r == ND,
        ],
        [CR, PR, SD, NON, PD, NE, ND],
        default=None,
    )
    return _pick_best(rows, value, prep.patients, missing_as_ne, "confirmed_best_overall_response")


def confirmed_response(
    responses: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    confirm_days: int = 28,
    max_ne_between: int = 1,
    accept_sd: bool = False,
    pd_dates: pd.DataFrame | None = None,
    stop_at_first_pd: bool = True,
) -> pd.DataFrame:
    """Confirmed responder flag and the date of the first confirmed CR/PR.

    admiralonco ``derive_param_confirmed_resp``: a patient responds when any CR or PR is
    confirmed (same confirmation rules as the confirmed BOR); the date is the earliest confirmed
    CR or PR (so a PR confirmed by a CR dates the response from the PR).  Returns
    ``patient_id, confirmed_response`` (bool), ``first_confirmed_response_date``.
    """
    prep = _prepare(responses, reference, pd_dates=pd_dates, stop_at_first_pd=stop_at_first_pd)
    return _cresp(prep, confirm_days, max_ne_between, accept_sd)


def _cresp(prep: _Prepared, confirm_days: int, max_ne_between: int, accept_sd: bool) -> pd.DataFrame:
    rows = prep.rows
    cr_ok, pr_ok = _confirmation(rows, confirm_days, max_ne_between, accept_sd)
    first = _min_per(np.where(cr_ok | pr_ok, rows["_ref"].to_numpy(), -1), rows["assessment_date"].to_numpy(), len(prep.patients))
    return pd.DataFrame({"patient_id": prep.patients["patient_id"].to_numpy(), "confirmed_response": ~np.isnat(first),
                         "first_confirmed_response_date": first})


def cr_followed_by_pr(responses: pd.DataFrame) -> pd.DataFrame:
    """CR assessments followed later by a PR (admiralonco ``signal_crpr``: should not occur in clean data).

    After a CR the disease can only stay CR or progress (RECIST 1.1 §4.3.1: PR is measured
    against baseline, so a PR after a CR means the CR was wrong).  Returns ``patient_id,
    cr_date, pr_date`` with the first later PR of each such CR.
    """
    df = pd.DataFrame(
        {
            "patient_id": responses["patient_id"].astype("str").to_numpy(),
            "date": pd.to_datetime(responses["assessment_date"], errors="coerce").to_numpy(),
            "response": normalise_response(responses["overall_response"]).to_numpy(),
        }
    ).dropna(subset=["date"])
    df = df.sort_values(["patient_id", "date"], kind="stable").reset_index(drop=True)
    pr_date = df["date"].where(df["response"] == PR).astype("datetime64[ns]")
    next_pr = pr_date[::-1].groupby(df["patient_id"][::-1].to_numpy(), sort=False).ffill()[::-1]
    next_pr_after = next_pr.groupby(df["patient_id"].to_numpy(), sort=False).shift(-1)
    # ffill in reverse gives the next PR at or after; shifting makes it strictly after
    hit = (df["response"] == CR).to_numpy() & next_pr_after.notna().to_numpy()
    out = pd.DataFrame({"patient_id": df["patient_id"][hit], "cr_date": df["date"][hit], "pr_date": next_pr_after[hit]})
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# endpoints built on BOR


def response_endpoints(
    responses: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    confirm_days: int = 28,
    sd_min_days: int = 42,
    max_ne_between: int = 1,
    accept_sd: bool = False,
    deaths: pd.DataFrame | None = None,
    tumour: pd.DataFrame | None = None,
    stop_at_first_pd: bool = True,
) -> pd.DataFrame:
    """Per-patient response endpoints: BOR, confirmed BOR, ORR/DCR flags, TTR, DoR, depth.

    Columns (one row per patient of ``reference``):

    * ``best_overall_response[_date]``, ``confirmed_best_overall_response[_date]`` — see
      :func:`best_overall_response`, :func:`confirmed_best_overall_response`.
    * ``objective_response`` (BOR CR or PR), ``confirmed_objective_response`` (confirmed BOR CR
      or PR); ``disease_control`` / ``confirmed_disease_control`` (CR, PR, SD or NON-CR/NON-PD,
      SD having met ``sd_min_days``) — RECIST 1.1 §4.4.
    * ``first_response_date`` (first CR/PR up to the first PD), ``first_confirmed_response_date``
      (:func:`confirmed_response`).
    * ``time_to_response_days`` / ``time_to_confirmed_response_days`` — from the reference date
      to the first (confirmed) response, counted end − start + 1 (admiral
      ``derive_vars_duration`` default); responders only.
    * ``duration_of_response_days``, ``duration_of_response_event`` (True = PD or death),
      ``duration_of_response_end_date`` — from the first (unconfirmed) response to the first PD
      or death (``deaths``: ``patient_id, death_date``, optional), whichever is first; without an
      event, censored at the last adequate assessment (CR, PR, SD, NON-CR/NON-PD) on or after
      the response.  ``confirmed_duration_of_response_*`` likewise from the first confirmed
      response (RECIST 1.1 §4.5: duration of overall response).
    * ``best_percent_change_from_baseline`` — smallest ``percent_change_from_baseline`` of the
      target sum up to the first PD (``tumour`` from :func:`latc.derive.recist.timepoint_responses`),
      and ``depth_of_response_percent`` = the largest decrease (positive, 0 if the sum never fell).
    """
    # the responses are prepared once (checks, PD cut, sort) and every endpoint reads them
    prep = _prepare(responses, reference, pd_dates=None, stop_at_first_pd=stop_at_first_pd)
    rows, patients = prep.rows, prep.patients
    bor = _bor(prep, sd_min_days, False)
    cbor = _cbor(prep, confirm_days, sd_min_days, max_ne_between, accept_sd, False)
    cresp = _cresp(prep, confirm_days, max_ne_between, accept_sd)
    n = len(patients)
    ref_of_row = rows["_ref"].to_numpy()
    code = rows["_code"].to_numpy()
    dates = rows["assessment_date"].to_numpy()

    out = pd.concat([patients.reset_index(drop=True), bor.drop(columns="patient_id"), cbor.drop(columns="patient_id"),
                     cresp.drop(columns="patient_id")], axis=1)
    responders = {CR, PR}
    control = {CR, PR, SD, NON}
    out["objective_response"] = out["best_overall_response"].isin(responders).to_numpy()
    out["confirmed_objective_response"] = out["confirmed_best_overall_response"].isin(responders).to_numpy()
    out["disease_control"] = out["best_overall_response"].isin(control).to_numpy()
    out["confirmed_disease_control"] = out["confirmed_best_overall_response"].isin(control).to_numpy()

    def codes_of(values: set[str]) -> list[int]:
        return [RESPONSE_ORDER.index(v) for v in values]

    is_resp = np.isin(code, codes_of(responders))
    out["first_response_date"] = _min_per(np.where(is_resp, ref_of_row, -1), dates, n)
    one = pd.Timedelta(days=1)
    out["time_to_response_days"] = ((out["first_response_date"] - out["reference_date"] + one).dt.days).astype("Int64")
    out["time_to_confirmed_response_days"] = (
        (out["first_confirmed_response_date"] - out["reference_date"] + one).dt.days
    ).astype("Int64")

    # events: first PD (rows are already cut at the first PD) and death
    pd_arr = _min_per(np.where(code == RESPONSE_ORDER.index(PD), ref_of_row, -1), dates, n)
    pd_date = pd.Series(pd_arr, index=out.index)
    if deaths is not None and len(deaths):
        death_arr = _min_per(positions(deaths["patient_id"], patients["patient_id"]),
                             pd.to_datetime(deaths["death_date"], errors="coerce").to_numpy(), n)
        death = pd.Series(death_arr, index=out.index)
    else:
        death = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    is_adequate = np.isin(code, codes_of(control))
    adequate_ref, adequate_date = ref_of_row[is_adequate], dates[is_adequate]

    def _duration(start: pd.Series, prefix: str) -> None:
        pd_after = pd_date.where(pd_date >= start)
        death_after = death.where(death >= start)
        event_date = pd.concat([pd_after, death_after], axis=1).min(axis=1).astype("datetime64[ns]")
        on_or_after = adequate_date >= start.to_numpy()[adequate_ref]  # NaT start → False
        censor_date = pd.Series(_max_per(np.where(on_or_after, adequate_ref, -1), adequate_date, n), index=out.index)
        has_event = event_date.notna() & start.notna()
        end = event_date.where(has_event, censor_date).where(start.notna())
        out[f"{prefix}duration_of_response_days"] = ((end - start + one).dt.days).astype("Int64")
        out[f"{prefix}duration_of_response_event"] = pd.array(np.where(start.notna(), has_event, pd.NA), dtype="boolean")
        out[f"{prefix}duration_of_response_end_date"] = end.astype("datetime64[ns]")

    _duration(out["first_response_date"], "")
    _duration(out["first_confirmed_response_date"], "confirmed_")

    if tumour is not None and len(tumour):
        tpos = positions(tumour["patient_id"], patients["patient_id"])
        tdate = np.asarray(tumour["assessment_date"].to_numpy(), dtype="datetime64[ns]")
        pct = pd.to_numeric(tumour["percent_change_from_baseline"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        keep = tpos >= 0
        if stop_at_first_pd:
            limit = pd_arr[np.maximum(tpos, 0)]
            keep &= np.isnat(limit) | (tdate <= limit)
        best = np.full(n, np.nan)
        np.fmin.at(best, tpos[keep], pct[keep])
        out["best_percent_change_from_baseline"] = best
    else:
        out["best_percent_change_from_baseline"] = np.nan
    b = out["best_percent_change_from_baseline"]
    out["depth_of_response_percent"] = np.where(b.isna(), np.nan, np.maximum(0.0, -b.to_numpy(dtype=float, na_value=np.nan)))
    return out.reset_index(drop=True)


def response_rates(endpoints: pd.DataFrame, *, by: str | list[str] | None = None, conf_level: float = 0.95,
                   confidence: float | None = None) -> pd.DataFrame:
    """ORR and DCR (unconfirmed and confirmed) with exact Clopper–Pearson intervals.

    The denominator is every patient of ``endpoints`` (MISSING and NE count as non-responders,
    the intention-to-treat convention of RECIST 1.1 §4.4 and admiralonco's response parameters).
    Returns ``[by…], measure, n, responders, proportion, ci_lower, ci_upper``. The rates and
    intervals are :func:`latc.stats.response_rates`' (one implementation); this is its RECIST
    view of the four response flags.

    ``confidence``: deprecated spelling of ``conf_level`` (the name used across latc.stats).
    """
    import warnings

    from latc.stats import response_rates as rates_table

    if confidence is not None:
        warnings.warn("response_rates(confidence=) is deprecated; use conf_level=", DeprecationWarning, stacklevel=2)
        conf_level = confidence
    measures = {
        "ORR": "objective_response",
        "ORR (confirmed)": "confirmed_objective_response",
        "DCR": "disease_control",
        "DCR (confirmed)": "confirmed_disease_control",
    }
    by_cols = [by] if isinstance(by, str) else list(by or [])
    flags = endpoints[by_cols + list(measures.values())].copy()
    for c in measures.values():  # intention to treat: a missing flag is no response
        flags[c] = flags[c].fillna(False).astype(bool)
    t = rates_table(flags, list(measures.values()), by=by_cols or None, conf_level=conf_level)
    if by_cols:
        t = t[~(t[by_cols] == "All").all(axis=1)]
    res = pd.DataFrame({**{c: t[c].to_numpy() for c in by_cols},
                        "measure": t["outcome"].map({v: k for k, v in measures.items()}).to_numpy(),
                        "n": t["n"].to_numpy(), "responders": t["responders"].to_numpy(),
                        "proportion": t["rate"].to_numpy(), "ci_lower": t["lower"].to_numpy(),
                        "ci_upper": t["upper"].to_numpy()})
    order = {k: i for i, k in enumerate(measures)}
    res = res.sort_values(by_cols + ["measure"], key=lambda s: s.map(order) if s.name == "measure" else s, kind="stable")
    return res.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# standalone use (``latc recist bor``): row-level checks of raw text tables

#: response codes the standalone command accepts (the issue's set; ``NON_CR_NON_PD`` also read)
CLI_RESPONSES: tuple[str, ...] = (CR, PR, SD, NON, PD, NE)
BOR_OUTPUT_COLUMNS = [
    "patient_id",
    "best_overall_response",
    "best_overall_response_date",
    "confirmed_best_overall_response",
    "confirmed_best_overall_response_date",
]
PROBLEM_COLUMNS = ["file", "row", "patient_id", "field", "value", "rule", "message"]


def _parse_dates(s: pd.Series) -> pd.Series:
    txt = s.astype("string").str.strip()
    # zero-pad 2020-1-5 to 2020-01-05, then the study's date parser (range 1900-2199, never overflows)
    parts = txt.str.extract(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
    iso = (parts[0] + "-" + parts[1].str.zfill(2) + "-" + parts[2].str.zfill(2)).astype("str")
    values, _ = parse_iso_dates(iso)
    return pd.Series(values, index=s.index)


def _problems(file: str, rows: pd.DataFrame, mask: pd.Series, field: str, rule: str, message: pd.Series | str) -> pd.DataFrame:
    sub = rows.loc[mask]
    msg = message[mask] if isinstance(message, pd.Series) else message
    return pd.DataFrame(
        {
            "file": file,
            "row": sub["_row"].to_numpy(),
            "patient_id": sub["patient_id"].astype("string").fillna("").to_numpy(),
            "field": field,
            "value": sub[field].astype("string").fillna("").to_numpy(),
            "rule": rule,
            "message": np.asarray(msg, dtype=object) if not isinstance(msg, str) else msg,
        }
    )


def check_bor_inputs(
    responses: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    responses_source: str = "responses",
    reference_source: str = "reference",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Row-level checks of raw (text) response and reference tables, as read from CSV.

    ``responses`` has ``patient_id, assessment_date, overall_response`` and ``reference`` has
    ``patient_id, reference_date``, all as text; a ``_row`` column (the row a person sees in
    the file, header = 1) is added when absent.  A row breaking a rule is left out and listed:

    * ``required`` — empty patient_id / date / response;
    * ``date_format`` — a date that is not a calendar date ``YYYY-MM-DD``;
    * ``response_code`` — a response outside CR, PR, SD, NON-CR/NON-PD, PD, NE (case-insensitive;
      the dictionary code ``NON_CR_NON_PD`` is accepted);
    * ``duplicate`` — a second row for the same patient (reference) or patient and date
      (responses); the first is kept;
    * ``patient_in_reference`` — a response for a patient not in the (usable) reference table.

    Returns ``(responses_ok, reference_ok, problems)``; problems has :data:`PROBLEM_COLUMNS`.
    """
    probs: list[pd.DataFrame] = []

    ref = reference.copy()
    if "_row" not in ref:
        ref["_row"] = np.arange(len(ref)) + 2
    ref_id = ref["patient_id"].astype("string").str.strip()
    ref["patient_id"] = ref_id
    ref_date = _parse_dates(ref["reference_date"])
    bad_id = ref_id.isna() | (ref_id == "")
    probs.append(_problems(reference_source, ref, bad_id, "patient_id", "required", "patient_id is empty"))
    blank = ref["reference_date"].astype("string").str.strip().fillna("") == ""
    probs.append(_problems(reference_source, ref, ~bad_id & blank, "reference_date", "required", "reference_date is empty"))
    bad_date = ~bad_id & ~blank & ref_date.isna()
    probs.append(
        _problems(reference_source, ref, bad_date, "reference_date", "date_format", "reference_date is not a calendar date YYYY-MM-DD")
    )
    usable = ~bad_id & ~blank & ~bad_date
    dup = usable & ref_id.where(usable).duplicated(keep="first") & usable
    probs.append(_problems(reference_source, ref, dup, "patient_id", "duplicate", "patient already listed on an earlier row (first kept)"))
    ref_ok = pd.DataFrame({"patient_id": ref_id[usable & ~dup].astype("str"), "reference_date": ref_date[usable & ~dup]})
    skipped_ref = set(ref_id[~(usable & ~dup) & ~bad_id].dropna()) - set(ref_ok["patient_id"])

    rsp = responses.copy()
    if "_row" not in rsp:
        rsp["_row"] = np.arange(len(rsp)) + 2
    pid = rsp["patient_id"].astype("string").str.strip()
    rsp["patient_id"] = pid
    date = _parse_dates(rsp["assessment_date"])
    code = normalise_response(rsp["overall_response"].astype("string").fillna(""))
    bad_id = pid.isna() | (pid == "")
    probs.append(_problems(responses_source, rsp, bad_id, "patient_id", "required", "patient_id is empty"))
    ok = ~bad_id
    blank = rsp["assessment_date"].astype("string").str.strip().fillna("") == ""
    probs.append(_problems(responses_source, rsp, ok & blank, "assessment_date", "required", "assessment_date is empty"))
    bad_date = ok & ~blank & date.isna()
    probs.append(
        _problems(responses_source, rsp, bad_date, "assessment_date", "date_format", "assessment_date is not a calendar date YYYY-MM-DD")
    )
    ok &= ~blank & ~bad_date
    blank_code = code == ""
    probs.append(_problems(responses_source, rsp, ok & blank_code, "overall_response", "required", "overall_response is empty"))
    bad_code = ok & ~blank_code & ~code.isin(CLI_RESPONSES)
    probs.append(
        _problems(
            responses_source, rsp, bad_code, "overall_response", "response_code",
            "not a RECIST 1.1 overall response; expected one of " + ", ".join(CLI_RESPONSES),
        )
    )
    ok &= ~blank_code & ~bad_code
    not_in_ref = ok & ~pid.isin(ref_ok["patient_id"])
    why = pid.map(lambda p: " (its reference row was skipped)" if p in skipped_ref else "")
    probs.append(
        _problems(
            responses_source, rsp, not_in_ref, "patient_id", "patient_in_reference",
            ("patient is not in " + reference_source + why.astype("str")),
        )
    )
    ok &= ~not_in_ref
    key = pd.DataFrame({"p": pid, "d": date}).where(ok)
    dup = ok & key.duplicated(keep="first")
    probs.append(
        _problems(
            responses_source, rsp, dup, "assessment_date", "duplicate",
            "patient already has a response on this date on an earlier row (first kept)",
        )
    )
    ok &= ~dup
    rsp_ok = pd.DataFrame({"patient_id": pid[ok].astype("str"), "assessment_date": date[ok], "overall_response": code[ok]})

    problems = pd.concat([p for p in probs if len(p)], ignore_index=True) if any(len(p) for p in probs) else pd.DataFrame(columns=PROBLEM_COLUMNS)
    if len(problems):
        problems["_f"] = (problems["file"] != reference_source).astype(int)
        problems = problems.sort_values(["_f", "row"], kind="stable").drop(columns="_f")
    return rsp_ok.reset_index(drop=True), ref_ok.reset_index(drop=True), problems[PROBLEM_COLUMNS].reset_index(drop=True)


def bor_table(
    responses: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    confirm_days: int = 28,
    sd_min_days: int = 42,
    stop_at_first_pd: bool = True,
) -> pd.DataFrame:
    """Unconfirmed and confirmed BOR side by side, one row per reference patient (the
    ``latc recist bor`` output, :data:`BOR_OUTPUT_COLUMNS`)."""
    prep = _prepare(responses, reference, pd_dates=None, stop_at_first_pd=stop_at_first_pd)
    bor = _bor(prep, sd_min_days, False)
    cbor = _cbor(prep, confirm_days, sd_min_days, 1, False, False)
    return bor.merge(cbor, on="patient_id", how="left")[BOR_OUTPUT_COLUMNS]


class BorInputError(LatcError):
    """An input file of ``latc recist bor`` cannot be used at all (one-line message)."""


@dataclass(frozen=True)
class BorCsvResult:
    """What :func:`bor_csv` did: the table written, the rows skipped, the data warnings."""

    table: pd.DataFrame
    problems: pd.DataFrame  # rows left out (PROBLEM_COLUMNS)
    cr_then_pr: pd.DataFrame  # admiralonco signal_crpr warnings (rows kept)


def _read_text_csv(path, required: list[str]) -> pd.DataFrame:
    import io
    from pathlib import Path

    from latc.io import StudyReadError
    from latc.io._csv import read_text

    p = Path(path)
    if not p.exists():
        raise BorInputError(f"{p}: file not found")
    try:
        text, _ = read_text(p)
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True)
    except StudyReadError as exc:
        raise BorInputError(str(exc)) from None
    except pd.errors.EmptyDataError:
        raise BorInputError(f"{p}: file is empty (expected a header row with {', '.join(required)})") from None
    except (UnicodeDecodeError, pd.errors.ParserError, IsADirectoryError, PermissionError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BorInputError(f"{p}: cannot be read as CSV ({first})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise BorInputError(f"{p}: missing column(s) {', '.join(missing)} (found: {', '.join(df.columns) or 'none'})")
    df["_row"] = np.arange(len(df)) + 2
    return df


def _fmt_date(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d").astype("string").fillna("").astype("str")


def bor_csv(
    responses_path,
    reference_path,
    out_path,
    *,
    confirm_days: int = 28,
    sd_min_days: int = 42,
    stop_at_first_pd: bool = True,
) -> BorCsvResult:
    """``latc recist bor``: read the two CSVs, check every row, derive BOR and confirmed BOR, write.

    Rows breaking a rule (:func:`check_bor_inputs`) are skipped and returned in ``problems``;
    the other rows are processed.  Raises :class:`BorInputError` only when a file cannot be read
    or lacks a required column.  The output has one row per usable reference patient
    (:data:`BOR_OUTPUT_COLUMNS`; dates ``YYYY-MM-DD``, empty when MISSING).
    """
    from pathlib import Path

    rsp_raw = _read_text_csv(responses_path, ["patient_id", "assessment_date", "overall_response"])
    ref_raw = _read_text_csv(reference_path, ["patient_id", "reference_date"])
    rsp, ref, problems = check_bor_inputs(
        rsp_raw, ref_raw, responses_source=Path(responses_path).name, reference_source=Path(reference_path).name
    )
    table = bor_table(rsp, ref, confirm_days=confirm_days, sd_min_days=sd_min_days, stop_at_first_pd=stop_at_first_pd)
    written = table.copy()
    for c in ("best_overall_response_date", "confirmed_best_overall_response_date"):
        written[c] = _fmt_date(written[c])
    from latc.io._spreadsheet import neutralise_formulas  # the output is opened in spreadsheets

    written = neutralise_formulas(written)
    out = Path(out_path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        written.to_csv(out, index=False)
    except OSError as exc:
        raise BorInputError(f"{out}: cannot be written ({exc.strerror or exc})") from None
    return BorCsvResult(table=table, problems=problems, cr_then_pr=cr_followed_by_pr(rsp))
