"""Best overall response: worked cases of the rules (RECIST 1.1 §4.4; admiralonco conventions),
response endpoints (TTR, DoR, depth), rates, and an independent row-by-row oracle of the
documented confirmation rules on random data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.derive.bor import (
    ResponseDataError,
    best_overall_response,
    bor_table,
    confirmed_best_overall_response,
    response_endpoints,
    response_rates,
)

REF = pd.DataFrame({"patient_id": ["A"], "reference_date": ["2024-01-01"]})


def _resp(*pairs: tuple[str, str], patient: str = "A") -> pd.DataFrame:
    return pd.DataFrame({"patient_id": patient, "assessment_date": [d for d, _ in pairs], "overall_response": [r for _, r in pairs]})


def _one(df: pd.DataFrame, col: str) -> tuple[str, str | None]:
    row = df.iloc[0]
    d = row[f"{col}_date"]
    return row[col], (None if pd.isna(d) else d.strftime("%Y-%m-%d"))


# ---------------------------------------------------------------- SD minimum interval (§4.4.1)


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2024-02-12", "SD"), ("2024-02-11", "NE")],  # 2024-01-01 + 42 days = 2024-02-12
)
def test_sd_needs_sd_min_days_from_reference(date, expected):
    """RECIST 1.1 §4.4.1: SD must be met at least once after a protocol minimum (42 days here);
    admiralonco ref_start_window: ADT >= reference + window (inclusive)."""
    r = _resp((date, "SD"))
    assert _one(best_overall_response(r, REF, sd_min_days=42), "best_overall_response") == (expected, date)
    assert _one(confirmed_best_overall_response(r, REF, sd_min_days=42), "confirmed_best_overall_response") == (expected, date)


def test_non_cr_non_pd_also_needs_the_interval_and_dictionary_code_is_read():
    """NON-CR/NON-PD (non-target disease only) follows the SD interval; the data dictionary code
    NON_CR_NON_PD is read as NON-CR/NON-PD."""
    early = _resp(("2024-01-20", "NON_CR_NON_PD"))
    late = _resp(("2024-03-01", "non_cr_non_pd"))
    assert _one(best_overall_response(early, REF), "best_overall_response") == ("NE", "2024-01-20")
    assert _one(best_overall_response(late, REF), "best_overall_response") == ("NON-CR/NON-PD", "2024-03-01")


# ---------------------------------------------------------------- confirmation (§4.4.1)


@pytest.mark.parametrize(("second", "expected"), [("2024-03-29", "CR"), ("2024-03-28", "SD")])
def test_cr_confirmation_needs_confirm_days(second, expected):
    """CR on 2024-03-01 confirmed by a CR ≥ 28 days later (2024-03-29 is day 28); one day short
    leaves an unconfirmed CR, which counts as SD (after the SD interval)."""
    r = _resp(("2024-03-01", "CR"), (second, "CR"))
    got = confirmed_best_overall_response(r, REF, confirm_days=28)
    assert _one(got, "confirmed_best_overall_response") == (expected, "2024-03-01")


@pytest.mark.parametrize(
    ("between", "expected"),
    [
        (["NE"], "PR"),  # at most one NE between (max_nr_ne = 1)
        (["NE", "NE"], "SD"),  # two NE: not confirmed
        (["SD"], "SD"),  # SD between: not confirmed unless accept_sd
        (["PD"], "SD"),  # PD between: not confirmed; the unconfirmed PR (day 60) is SD, better than PD
    ],
)
def test_pr_confirmation_what_may_lie_between(between, expected):
    """admiralonco derive_param_confirmed_bor: PR confirmed by a CR/PR ≥ confirm_days later with
    only CR/PR/SD/NE between, at most max_nr_ne (1) NE and no SD (accept_sd = FALSE)."""
    dates = ["2024-03-01"] + [f"2024-03-{10 + 5 * i:02d}" for i in range(len(between))] + ["2024-04-15"]
    r = _resp(*zip(dates, ["PR", *between, "PR"]))
    got = _one(confirmed_best_overall_response(r, REF), "confirmed_best_overall_response")
    assert got[0] == expected


def test_pr_with_one_sd_between_is_confirmed_with_accept_sd():
    r = _resp(("2024-03-01", "PR"), ("2024-03-15", "SD"), ("2024-04-15", "PR"))
    assert _one(confirmed_best_overall_response(r, REF, accept_sd=True), "confirmed_best_overall_response") == ("PR", "2024-03-01")


def test_pr_then_cr_then_pr_is_not_a_confirmed_pr():
    """No PR after a CR inside the confirmation window (admiralonco; the CR→PR sequence)."""
    r = _resp(("2024-03-01", "PR"), ("2024-03-10", "CR"), ("2024-04-15", "PR"))
    assert _one(confirmed_best_overall_response(r, REF), "confirmed_best_overall_response") == ("SD", "2024-03-01")


def test_ties_take_the_earliest_date_and_pd_cut_is_inclusive():
    r = _resp(("2024-02-20", "SD"), ("2024-03-20", "SD"), ("2024-04-20", "PD"), ("2024-05-20", "CR"))
    assert _one(best_overall_response(r, REF), "best_overall_response") == ("SD", "2024-02-20")
    # after the first PD nothing counts (admiralonco filter_pd keeps ADT <= PD date)
    r2 = _resp(("2024-01-20", "SD"), ("2024-02-20", "PD"), ("2024-05-20", "CR"))
    assert _one(best_overall_response(r2, REF), "best_overall_response") == ("PD", "2024-02-20")
    assert _one(best_overall_response(r2, REF, stop_at_first_pd=False), "best_overall_response") == ("CR", "2024-05-20")


def test_patient_without_assessment_is_missing_or_ne():
    ref = pd.DataFrame({"patient_id": ["A", "B"], "reference_date": ["2024-01-01", "2024-01-01"]})
    r = _resp(("2024-03-01", "PR"))
    got = bor_table(r, ref).set_index("patient_id")
    assert got.loc["B", "best_overall_response"] == "MISSING" and pd.isna(got.loc["B", "best_overall_response_date"])
    assert got.loc["B", "confirmed_best_overall_response"] == "MISSING"
    assert best_overall_response(r, ref, missing_as_ne=True).set_index("patient_id").loc["B", "best_overall_response"] == "NE"


def test_conflicting_duplicate_dates_are_an_error_not_a_guess():
    r = _resp(("2024-03-01", "PR"), ("2024-03-01", "SD"))
    with pytest.raises(ResponseDataError, match="more than one response"):
        best_overall_response(r, REF)


# ---------------------------------------------------------------- endpoints


def _cohort():
    ref = pd.DataFrame({"patient_id": list("ABCDE"), "reference_date": ["2024-01-01"] * 5})
    rows = [
        ("A", "2024-02-12", "SD"),
        ("A", "2024-03-01", "PR"),
        ("A", "2024-04-01", "PR"),
        ("A", "2024-05-01", "PD"),
        ("A", "2024-06-01", "CR"),  # after PD: ignored
        ("B", "2024-02-15", "PR"),
        ("B", "2024-03-20", "PR"),
        ("C", "2024-02-15", "PR"),
        ("C", "2024-03-20", "CR"),
        ("C", "2024-04-20", "NE"),
        ("D", "2024-02-11", "SD"),  # day 41: too early for SD
    ]
    resp = pd.DataFrame(rows, columns=["patient_id", "assessment_date", "overall_response"])
    deaths = pd.DataFrame({"patient_id": ["B"], "death_date": ["2024-04-10"]})
    tumour = pd.DataFrame(
        {
            "patient_id": ["A"] * 5 + ["D"],
            "assessment_date": pd.to_datetime(["2024-02-12", "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01", "2024-02-11"]),
            "percent_change_from_baseline": [-10.0, -40.0, -35.0, -20.0, -60.0, 10.0],
        }
    )
    return resp, ref, deaths, tumour


def test_response_endpoints_worked_cohort():
    resp, ref, deaths, tumour = _cohort()
    e = response_endpoints(resp, ref, deaths=deaths, tumour=tumour).set_index("patient_id")
    assert e["best_overall_response"].to_dict() == {"A": "PR", "B": "PR", "C": "CR", "D": "NE", "E": "MISSING"}
    assert e["confirmed_best_overall_response"].to_dict() == {"A": "PR", "B": "PR", "C": "PR", "D": "NE", "E": "MISSING"}
    assert e["objective_response"].tolist() == [True, True, True, False, False]
    assert e["disease_control"].tolist() == [True, True, True, False, False]
    # time to response: 2024-01-01 → 2024-03-01 is 60 days, counted +1 (admiral derive_vars_duration)
    assert e.loc["A", "time_to_response_days"] == 61
    # DoR A: 2024-03-01 → first PD 2024-05-01 = 61 days (+1) with an event
    assert e.loc["A", "duration_of_response_days"] == 62 and bool(e.loc["A", "duration_of_response_event"])
    # DoR B: 2024-02-15 → death 2024-04-10 = 55 days (+1), event
    assert e.loc["B", "duration_of_response_days"] == 56 and bool(e.loc["B", "duration_of_response_event"])
    # DoR C: no event → censored at the last adequate assessment (CR 2024-03-20): 34 days (+1)
    assert e.loc["C", "duration_of_response_days"] == 35 and not bool(e.loc["C", "duration_of_response_event"])
    assert e.loc["C", "duration_of_response_end_date"] == pd.Timestamp("2024-03-20")
    assert pd.isna(e.loc["D", "duration_of_response_days"]) and pd.isna(e.loc["D", "duration_of_response_event"])
    # confirmed response of C dates from the PR confirmed by the CR
    assert e.loc["C", "first_confirmed_response_date"] == pd.Timestamp("2024-02-15")
    # depth: smallest % change up to the first PD (the -60 % after PD is ignored)
    assert e.loc["A", "best_percent_change_from_baseline"] == -40.0
    assert e.loc["A", "depth_of_response_percent"] == 40.0
    assert e.loc["D", "depth_of_response_percent"] == 0.0
    assert np.isnan(e.loc["B", "depth_of_response_percent"])


def test_response_rates_counts_and_exact_interval():
    """Clopper–Pearson interval: R's documented example binom.test(682, 925) gives 95 % CI
    0.7076683 – 0.7654066 (R ?binom.test, Mendel's peas)."""
    n, x = 925, 682
    flags = np.r_[np.ones(x, bool), np.zeros(n - x, bool)]
    ep = pd.DataFrame(
        {
            "objective_response": flags,
            "confirmed_objective_response": flags,
            "disease_control": np.ones(n, bool),
            "confirmed_disease_control": np.zeros(n, bool),
        }
    )
    rates = response_rates(ep).set_index("measure")
    assert rates.loc["ORR", "responders"] == 682 and rates.loc["ORR", "n"] == 925
    assert rates.loc["ORR", "ci_lower"] == pytest.approx(0.7076683, abs=5e-8)
    assert rates.loc["ORR", "ci_upper"] == pytest.approx(0.7654066, abs=5e-8)
    assert rates.loc["DCR", "proportion"] == 1.0 and rates.loc["DCR", "ci_upper"] == 1.0
    assert rates.loc["DCR (confirmed)", "ci_lower"] == 0.0


def test_response_rates_by_group():
    resp, ref, deaths, tumour = _cohort()
    e = response_endpoints(resp, ref)
    e["arm"] = ["x", "x", "y", "y", "y"]
    rates = response_rates(e, by="arm")
    orr = rates.loc[rates["measure"] == "ORR"].set_index("arm")
    assert orr["responders"].to_dict() == {"x": 2, "y": 1}
    assert orr["n"].to_dict() == {"x": 2, "y": 3}


# ---------------------------------------------------------------- independent oracle


def _oracle_confirmed_bor(seq: list[tuple[int, str]], ref_day: int, confirm: int, window: int, max_ne: int, accept_sd: bool) -> tuple[str, int | None]:
    """Row-by-row reading of admiralonco's documented derive_param_confirmed_bor rules
    (written independently of the vectorised code; a plain loop over one patient)."""
    cut = next((d for d, r in seq if r == "PD"), None)
    seq = [(d, r) for d, r in seq if cut is None or d <= cut]
    rank = {"CR": 1, "PR": 2, "SD": 3, "NON-CR/NON-PD": 4, "PD": 5, "NE": 6}
    cands = []
    for i, (d, r) in enumerate(seq):
        late = d >= ref_day + window
        if r in ("CR", "PR"):
            ok_set = {"CR"} if r == "CR" else {"CR", "PR"}
            j = next((k for k in range(i + 1, len(seq)) if seq[k][1] in ok_set and seq[k][0] >= d + confirm), None)
            if j is not None:
                win = [x for _, x in seq[i + 1 : j + 1]]
                if r == "CR":
                    good = all(x in ("CR", "NE") for x in win) and win.count("NE") <= max_ne
                else:
                    crs = [k for k, x in enumerate(win) if x == "CR"]
                    prs = [k for k, x in enumerate(win) if x == "PR"]
                    good = (
                        all(x in ("CR", "PR", "SD", "NE") for x in win)
                        and win.count("NE") <= max_ne
                        and win.count("SD") <= (1 if accept_sd else 0)
                        and (not crs or not prs or min(crs) > max(prs))
                    )
                if good:
                    cands.append((rank[r], d))
                    continue
        if r in ("CR", "PR", "SD") and late:
            cands.append((rank["SD"], d))
        elif r == "NON-CR/NON-PD" and late:
            cands.append((rank[r], d))
        elif r == "PD":
            cands.append((rank["PD"], d))
        else:
            cands.append((rank["NE"], d))
    if not cands:
        return "MISSING", None
    best = min(cands)
    return {v: k for k, v in rank.items()}[best[0]], best[1]


@pytest.mark.parametrize(("confirm", "window", "max_ne", "accept_sd"), [(28, 42, 1, False), (14, 28, 0, True), (35, 0, 2, False)])
def test_vectorised_confirmed_bor_agrees_with_a_row_by_row_oracle(confirm, window, max_ne, accept_sd):
    rng = np.random.default_rng(20261125 + confirm)
    codes = np.array(["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"])
    rows, refs, expected = [], [], {}
    for p in range(400):
        pid = f"P{p:04d}"
        n = int(rng.integers(0, 7))
        days = np.sort(rng.choice(np.arange(5, 200), size=n, replace=False))
        resp = rng.choice(codes, size=n, p=[0.2, 0.3, 0.25, 0.05, 0.08, 0.12])
        refs.append((pid, "2024-01-01"))
        rows += [(pid, (pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d))).strftime("%Y-%m-%d"), r) for d, r in zip(days, resp)]
        expected[pid] = _oracle_confirmed_bor(list(zip(days.tolist(), resp.tolist())), 0, confirm, window, max_ne, accept_sd)
    r = pd.DataFrame(rows, columns=["patient_id", "assessment_date", "overall_response"])
    ref = pd.DataFrame(refs, columns=["patient_id", "reference_date"])
    got = confirmed_best_overall_response(r, ref, confirm_days=confirm, sd_min_days=window, max_ne_between=max_ne, accept_sd=accept_sd)
    day = (got["confirmed_best_overall_response_date"] - pd.Timestamp("2024-01-01")).dt.days
    got_d = {p: (v, None if pd.isna(d) else int(d)) for p, v, d in zip(got["patient_id"], got["confirmed_best_overall_response"], day)}
    assert got_d == expected


def test_response_rates_conf_level_and_the_deprecated_confidence():
    ep = pd.DataFrame({"objective_response": [True, False, True, False], "confirmed_objective_response": [True, False, False, False],
                       "disease_control": [True, True, True, False], "confirmed_disease_control": [True, True, False, False]})
    a = response_rates(ep, conf_level=0.9)
    with pytest.warns(DeprecationWarning, match="conf_level"):
        b = response_rates(ep, confidence=0.9)
    pd.testing.assert_frame_equal(a, b)
    # 90 % exact interval of 2/4: R binom.test(2, 4, conf.level = 0.9)$conf.int = 0.0976115 0.9023885
    orr = a.set_index("measure").loc["ORR"]
    assert orr["ci_lower"] == pytest.approx(0.0976115, abs=5e-7) and orr["ci_upper"] == pytest.approx(0.9023885, abs=5e-7)
