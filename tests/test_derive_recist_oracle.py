"""The vectorised RECIST 1.1 timepoint derivation against a plain per-patient reading of the rules
(Eisenhauer 2009 §4.3.1-§4.4.1, Tables 1-2), on seeded random lesion data; plus the 100,000-patient
scale run (slow)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from latc.derive.bor import bor_table
from latc.derive.recist import timepoint_responses


def _random_study(n_patients: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    les, asm = [], []
    for p in range(n_patients):
        pid = f"P{p:05d}"
        n_t, n_nt, n_dates = int(rng.integers(0, 4)), int(rng.integers(0, 3)), int(rng.integers(1, 5))
        if n_t + n_nt == 0:
            n_nt = 1
        for k in range(n_t):
            node = bool(rng.random() < 0.4)
            les.append((pid, f"T{k + 1}", "neck_node" if node else "lung", "target", node, float(rng.integers(15, 40))))
        for k in range(n_nt):
            les.append((pid, f"NT{k + 1}", "bone", "non_target", False, None))
        for d in range(n_dates):
            date = pd.Timestamp("2024-01-01") + pd.Timedelta(days=56 * (d + 1))
            for k in range(n_t):
                if rng.random() < 0.05:
                    continue  # lesion not read at this date
                st = rng.choice(["measured", "measured", "measured", "too_small", "disappeared", "not_evaluable"])
                mm = float(rng.integers(0, 45)) if st == "measured" else (0.0 if st == "disappeared" else (5.0 if st == "too_small" else None))
                asm.append((pid, f"T{k + 1}", date, st, mm, None, False))
            for k in range(n_nt):
                if rng.random() < 0.05:
                    continue
                nts = rng.choice(["present", "absent", "unequivocal_progression", "not_evaluable"], p=[0.5, 0.35, 0.07, 0.08])
                asm.append((pid, f"NT{k + 1}", date, "not_applicable", None, nts, False))
            if rng.random() < 0.08:
                asm.append((pid, "N1", date, "not_applicable", None, None, True))
    L = pd.DataFrame(les, columns=["patient_id", "lesion_id", "site", "lesion_role", "is_lymph_node", "baseline_diameter_mm"])
    L["is_lymph_node"] = L["is_lymph_node"].astype("boolean")
    L["baseline_diameter_mm"] = pd.array(L["baseline_diameter_mm"].tolist(), dtype="Float64")
    L["baseline_date"] = pd.Timestamp("2024-01-01")
    A = pd.DataFrame(asm, columns=["patient_id", "lesion_id", "assessment_date", "measurement_status", "diameter_mm", "non_target_status", "is_new_lesion"])
    A["diameter_mm"] = pd.array(A["diameter_mm"].tolist(), dtype="Float64")
    A["is_new_lesion"] = A["is_new_lesion"].astype("boolean")
    return L, A


def _oracle(L: pd.DataFrame, A: pd.DataFrame) -> dict[tuple[str, pd.Timestamp], tuple]:
    """One patient at a time, one date at a time, straight from the guideline's wording."""
    out = {}
    for pid, les in L.groupby("patient_id"):
        targets = les[les["lesion_role"] == "target"]
        nts = les[les["lesion_role"] == "non_target"]
        base = float(targets["baseline_diameter_mm"].sum()) if len(targets) else None
        sums_so_far = [base] if base is not None else []
        a = A[A["patient_id"] == pid]
        for date in sorted(a["assessment_date"].unique()):
            at = a[a["assessment_date"] == date].set_index("lesion_id")
            # targets
            t_resp = None
            if len(targets):
                vals, cr = [], True
                for _, t in targets.iterrows():
                    if t["lesion_id"] not in at.index:
                        vals.append(None)
                        continue
                    st, mm = at.loc[t["lesion_id"], "measurement_status"], at.loc[t["lesion_id"], "diameter_mm"]
                    v = {"measured": mm, "too_small": 5.0, "disappeared": 0.0}.get(st)
                    v = None if v is None or pd.isna(v) else float(v)
                    vals.append(v)
                    if v is not None:
                        cr &= (v < 10) if t["is_lymph_node"] else (v == 0)
                evaluated = [v for v in vals if v is not None]
                complete = len(evaluated) == len(vals)
                nadir = min(sums_so_far)
                s = sum(evaluated)
                progressed = s - nadir >= 5 and s >= 1.2 * nadir - 1e-9
                if complete and cr:
                    t_resp = "CR"
                elif progressed:
                    t_resp = "PD"
                elif not complete:
                    t_resp = "NE"
                elif s <= 0.7 * base + 1e-9:
                    t_resp = "PR"
                else:
                    t_resp = "SD"
                if complete:
                    sums_so_far.append(s)
            # non-targets
            nt_resp = None
            if len(nts):
                st = [at.loc[i, "non_target_status"] if i in at.index else None for i in nts["lesion_id"]]
                if "unequivocal_progression" in st:
                    nt_resp = "PD"
                elif any(x not in ("present", "absent") for x in st):
                    nt_resp = "NE"
                elif all(x == "absent" for x in st):
                    nt_resp = "CR"
                else:
                    nt_resp = "NON-CR/NON-PD"
            new = bool(at["is_new_lesion"].fillna(False).any())
            if new or t_resp == "PD" or nt_resp == "PD":
                overall = "PD"
            elif t_resp is not None:  # Table 1
                overall = {"CR": "CR" if nt_resp in (None, "CR") else "PR", "PR": "PR", "SD": "SD", "NE": "NE"}[t_resp]
            else:  # Table 2
                overall = nt_resp
            out[(pid, pd.Timestamp(date))] = (t_resp, nt_resp, new, overall)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_vectorised_timepoints_agree_with_a_per_patient_reading(seed):
    L, A = _random_study(250, seed)
    got = timepoint_responses(L, A)
    expected = _oracle(L, A)
    as_tuple = {
        (r.patient_id, r.assessment_date): (
            None if pd.isna(r.target_response) else r.target_response,
            None if pd.isna(r.non_target_response) else r.non_target_response,
            bool(r.new_lesion),
            r.overall_response,
        )
        for r in got.itertuples()
    }
    assert as_tuple == expected
    assert {"CR", "PR", "SD", "PD", "NE"} <= {v[3] for v in expected.values()}  # the draw covers the categories


@pytest.mark.slow
def test_100000_patients_within_the_time_budget():
    """Issue target: 100,000 patients derived in under 60 s (RECIST + BOR here)."""
    rng = np.random.default_rng(11)
    n, k = 100_000, 6
    pids = np.array([f"P{i:06d}" for i in range(n)])
    L = pd.DataFrame(
        {
            "patient_id": np.repeat(pids, 3),
            "lesion_id": np.tile(["T1", "T2", "NT1"], n),
            "site": np.tile(["thyroid", "neck_node", "lung"], n),
            "lesion_role": np.tile(["target", "target", "non_target"], n),
            "is_lymph_node": pd.array(np.tile([False, True, False], n), dtype="boolean"),
            "baseline_date": pd.Timestamp("2024-01-01"),
            "baseline_diameter_mm": pd.array(np.tile([40.0, 20.0, np.nan], n), dtype="Float64"),
        }
    )
    A = L.loc[L.index.repeat(k), ["patient_id", "lesion_id", "lesion_role", "baseline_diameter_mm"]].reset_index(drop=True)
    A["assessment_date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.tile(np.arange(1, k + 1), len(L)) * 56, "D")
    is_t = (A["lesion_role"] == "target").to_numpy()
    A["measurement_status"] = np.where(is_t, "measured", "not_applicable")
    A["diameter_mm"] = pd.array(np.where(is_t, A["baseline_diameter_mm"].to_numpy(dtype=float, na_value=np.nan) * rng.uniform(0.3, 1.5, len(A)), np.nan), dtype="Float64")
    A["non_target_status"] = np.where(is_t, None, "present")
    A["is_new_lesion"] = pd.array(np.zeros(len(A), bool), dtype="boolean")
    A = A.drop(columns=["lesion_role", "baseline_diameter_mm"])
    tumour = timepoint_responses(L, A)
    ref = pd.DataFrame({"patient_id": pids, "reference_date": pd.Timestamp("2024-01-01")})
    bor = bor_table(tumour[["patient_id", "assessment_date", "overall_response"]], ref)
    assert len(tumour) == n * k and len(bor) == n
