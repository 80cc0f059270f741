"""SAP section "Prognostic value of response": ATA 2015 risk vs a model adding response to therapy.

Population: neoadjuvant patients with an R0/R1 index operation, a graded specimen and an ATA risk;
outcome: recurrence after surgery (RFS ``event_type == 1``; death without recurrence censored);
time zero = the operation. Baseline model: ATA initial risk (high vs low/intermediate — low risk is
rare in LATC); extended model: ATA risk + objective response (RECIST 1.1) + major pathological
response. ``latc.stats.prognostic``: Harrell's and Uno's C (R's G(t−)), time-dependent AUC, Brier
score, calibration at the horizons, likelihood-ratio test, bootstrap optimism correction.
"""

from __future__ import annotations

import pandas as pd

from latc.stats import prognostic

from ._coding import TERMS, coding
from ._context import Context, check_events
from ._data import _flag, need
from ._results import ResultTable, SectionResult, SectionSkipped


def run(ctx: Context, sec: SectionResult) -> None:
    o = ctx.options
    s = ctx.data.analysis_set
    need(s, ["cohort", "r0r1_set", "ata_risk", "rfs_time_months", "rfs_event_type", "objective_response", "mpr",
             "pathological_response"])
    sel = (s["cohort"].eq("neoadjuvant").fillna(False).to_numpy(bool) & _flag(s["r0r1_set"])
           & s["pathological_response"].notna().to_numpy(bool) & s["ata_risk"].notna().to_numpy(bool)
           & s["rfs_time_months"].notna().to_numpy(bool))
    r = s[sel]
    if not len(r):
        raise SectionSkipped("no neoadjuvant patient with an R0/R1 operation, a graded specimen and an ATA risk")
    d = pd.DataFrame({
        "time": r["rfs_time_months"].astype(float).to_numpy(),
        "recurrence": r["rfs_event_type"].astype("Int64").eq(1).fillna(False).astype(float).to_numpy(),
        "ata_high_risk": r["ata_risk"].eq("high").astype(float).to_numpy(),
        "objective_response": r["objective_response"].astype("boolean").fillna(False).astype(float).to_numpy(),
        "mpr": r["mpr"].astype("boolean").fillna(False).astype(float).to_numpy(),
    })
    check_events(d, "recurrence", max(o.min_events, 10), "recurrence after surgery")
    horizons = [h for h in o.prognostic_horizons_months if (d.loc[d["recurrence"] == 1, "time"] <= h).any()
                and (d["time"] > h).any()]
    if not horizons:
        raise SectionSkipped(f"no horizon among {list(o.prognostic_horizons_months)} months has both an event before it "
                             "and patients followed beyond it")
    n_boot = o.prognostic_bootstrap if len(d) <= o.prognostic_bootstrap_max_patients else 0
    res = prognostic(d, "time", "recurrence", ["ata_high_risk"], ["ata_high_risk", "objective_response", "mpr"],
                     horizon=horizons, seed=o.seed, n_boot=n_boot, optimism=n_boot > 0, conf_level=o.conf_level)
    summ = res.summary.copy()
    summ.attrs = {}
    par = {"baseline_model": ["ATA high risk"], "extended_model": ["ATA high risk", "objective response", "MPR"],
           "horizons_months": horizons, "bootstrap": n_boot, "seed": o.seed,
           "bootstrap_rule": f"bootstrap only up to {o.prognostic_bootstrap_max_patients} patients",
           "uno_c": "R G(t-) convention", "ties": "efron"}
    pop = ("neoadjuvant patients (analysis set) with an R0/R1 index operation, a graded specimen and an ATA risk; "
           "time zero = operation")
    cod = coding(["ata_high_risk", "objective_response", "mpr"], d, events=["recurrence after surgery"],
                 overrides={"mpr": TERMS["mpr_indicator"]},
                 notes=["baseline model: ata_high_risk; extended model: ata_high_risk + objective_response + mpr"])
    sec.add(ResultTable("discrimination", "ATA risk vs ATA + response: discrimination, calibration, LR test", summ,
                        "Cox models (R coxph); Harrell's C (R concordance), Uno's C (timewt = 'n/G2'), cumulative/dynamic "
                        "AUC and Brier (riskRegression::Score), calibration (O/E, slope), bootstrap optimism (Harrell 1996)",
                        par, pop, len(d), coding=cod))
    cal = res.calibration.copy()
    cal.attrs = {}
    sec.add(ResultTable("calibration", "Calibration by risk group at the horizons", cal,
                        "deciles of predicted risk; observed = 1 - KM at the horizon (R survfit, log CI)", par, pop, len(d),
                        coding=cod))
