"""The synthetic cohort as a federated demo/test input: one analysis frame split by center.

``demo_frame`` builds one row per analysis-set patient from the derived subject table (baseline
covariates, response flags, endpoints in months); ``split_by_site`` (``_site``) gives each center
its own rows. No statistics here.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

__all__ = ["demo_frame", "synthetic_derived"]


@lru_cache(maxsize=2)
def synthetic_derived(n_patients: int = 800, n_centers: int = 8, seed: int = 1):
    """``derive_datasets`` output of ``latc.synth.synthesize`` (eligibility as validation gives it);
    cached per arguments — treat it as read-only."""
    from latc.derive.datasets import derive_datasets
    from latc.synth import synthesize

    s = synthesize(n_patients=n_patients, n_centers=n_centers, seed=seed)
    elig = pd.DataFrame({"patient_id": s.latent["patient_id"].astype("str"),
                         "eligible": s.latent["eligible"].astype(bool)})
    return derive_datasets(s.tables, s.truth["data_cut"], eligibility=elig)


def demo_frame(subject: pd.DataFrame) -> pd.DataFrame:
    """Analysis-set patients with complete baseline covariates and endpoints (plain dtypes)."""
    s = subject[subject["analysis_set"].fillna(False).astype(bool)].reset_index(drop=True)
    f = pd.DataFrame({"patient_id": s["patient_id"].astype(str), "center_id": s["center_id"].astype(str),
                      "cohort": s["cohort"].astype(str)})
    f["neoadjuvant"] = (f["cohort"] == "neoadjuvant").astype(int)
    f["age"] = s["age_at_diagnosis"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    f["age_per10"] = (f["age"] - 55) / 10
    for c in ("sex", "ecog", "histology_group", "baseline_resectability"):
        f[c] = s[c].astype(object).where(s[c].notna(), None)
    f["t4b"] = (s["ct"].astype(str) == "T4b").astype(float)
    f["n_invaded"] = s["n_invaded_structures"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    for c in ("objective_response", "disease_control", "r0_resection", "major_complication"):
        f[c] = s[c].astype("boolean").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    for ep in ("os", "rfs", "efs"):
        f[f"{ep}_time"] = s[f"{ep}_time_months"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        f[f"{ep}_event"] = s[f"{ep}_event"].astype("Int64").to_numpy(dtype=float, na_value=np.nan)
    need = ["age", "sex", "ecog", "histology_group", "os_time", "os_event", "rfs_time", "rfs_event"]
    return f[f[need].notna().all(axis=1)].reset_index(drop=True)
