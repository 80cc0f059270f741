"""The synthetic cohort: determinism, dictionary conformance, clinical consistency, confounding,
documented true effects visible in the data, error injection."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.dictionary import load_dictionary
from latc.synth import synthesize, write_synthetic_study

D = load_dictionary()
DTYPE = {"text": "str", "notes": "str", "choice": "str", "integer": "Int64", "number": "Float64",
         "date": "datetime64[ns]", "yesno": "boolean"}


@pytest.fixture(scope="module")
def big():
    """A cohort large enough for the planted effects to show within sampling error."""
    return synthesize(n_patients=4000, n_centers=8, seed=11)


@pytest.fixture(scope="module")
def small():
    return synthesize(n_patients=300, n_centers=5, seed=3)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = write_synthetic_study(tmp_path / "a", n_patients=150, n_centers=4, seed=5, inject_errors=13)
    b = write_synthetic_study(tmp_path / "b", n_patients=150, n_centers=4, seed=5, inject_errors=13)
    fa, fb = _files(a.out), _files(b.out)
    assert set(fa) >= {"truth.json", "truth_patients.csv", "injected_errors.csv", "study/patients.csv", "study/labs.csv"}
    assert fa == fb
    c = write_synthetic_study(tmp_path / "c", n_patients=150, n_centers=4, seed=6)
    assert _files(c.out)["study/patients.csv"] != fa["study/patients.csv"]
    assert not (c.out / "injected_errors.csv").exists()


def test_tables_follow_the_dictionary_types(small):
    assert list(small.tables) == list(D.forms)
    for name, form in D.forms.items():
        t = small.tables[name]
        assert list(t.columns) == form.field_names, name
        for f in form.fields:
            assert str(t[f.name].dtype) == DTYPE[f.type], (name, f.name, t[f.name].dtype)


def test_both_cohorts_roughly_equal_and_time_zero_shared(big):
    p = big.tables["patients"]
    share = (p["cohort"] == "neoadjuvant").mean()
    assert 0.4 < share < 0.6
    assert (p["diagnosis_date"] <= p["treatment_decision_date"]).all()


def test_upfront_patients_have_no_neoadjuvant_records_and_early_surgery(big):
    p = big.tables["patients"].set_index("patient_id")
    upfront = set(p.index[p["cohort"] == "upfront_surgery"])
    for form in ("treatments", "lesion_assessments", "timepoint_responses", "adverse_events"):
        assert not set(big.tables[form]["patient_id"]) & upfront, form
    s = big.tables["surgery"]
    s = s[s["patient_id"].isin(upfront)]
    delay = (s["surgery_date"] - p.loc[s["patient_id"], "treatment_decision_date"].to_numpy()).dt.days
    assert delay.between(1, 60).all()
    neo = big.tables["surgery"][~big.tables["surgery"]["patient_id"].isin(upfront)]
    delay_neo = (neo["surgery_date"] - p.loc[neo["patient_id"], "treatment_decision_date"].to_numpy()).dt.days
    assert delay_neo.median() > 75  # 2–6 months of therapy first
    path = big.tables["pathology"].set_index("patient_id")
    assert (path.loc[path.index.isin(upfront), "tnm_prefix"] == "p").all()
    assert path.loc[path.index.isin(upfront), "viable_tumor_pct"].isna().all()


def test_neoadjuvant_duration_2_to_6_months(big):
    t = big.tables["treatments"]
    planned = t[t["reason_stopped"] == "planned_surgery"]
    days = (planned["stop_date"] - planned["start_date"]).dt.days
    assert days.min() >= 30 and days.max() <= 185
    assert 60 <= days.median() <= 120


def test_t4b_if_and_only_if_t4b_structures(big):
    """AJCC 8th: T4b = prevertebral fascia or encasing carotid / mediastinal vessels; T4a = larynx,
    trachea, oesophagus, RLN or subcutaneous tissue."""
    d = big.tables["diagnosis"]
    t4b_struct = d["invasion_carotid"] | d["invasion_prevertebral"] | d["invasion_mediastinal_vessels"]
    t4a_struct = d["invasion_trachea"] | d["invasion_larynx"] | d["invasion_esophagus"] | d["invasion_rln"] | d["invasion_skin"]
    assert ((d["ct"] == "T4b") == t4b_struct).all()
    assert (t4a_struct[d["ct"] == "T4a"]).all()
    assert (~t4a_struct[d["ct"] == "T3b"] & d.loc[d["ct"] == "T3b", "invasion_strap_muscles"]).all()
    assert ((d["planned_tracheal_resection"] != "none") <= d["invasion_trachea"]).all()
    assert (d["planned_esophageal_resection"] <= d["invasion_esophagus"]).all()
    assert (d["distant_metastasis_sites"].notna() == (d["cm"] == "M1")).all()


def test_molecular_alterations_consistent_with_histology(big):
    d = big.tables["diagnosis"]
    pos = lambda c: d[c] == "positive"  # noqa: E731
    assert set(d.loc[pos("braf_v600e"), "histology"]) <= {"ptc", "pdtc", "atc"}
    assert set(d.loc[pos("ret"), "histology"]) == {"mtc"}
    assert not (pos("tert_promoter") & (d["histology"] == "mtc")).any()
    drivers = pos("braf_v600e").astype(int) + pos("ras") + pos("ret") + d["fusion"].isin(["ret", "ntrk", "alk", "other"])
    assert drivers.max() == 1
    ptc = d[(d["histology"] == "ptc") & (d["braf_v600e"] != "not_tested")]
    assert 0.5 < (ptc["braf_v600e"] == "positive").mean() < 0.72  # TCGA 2014: ≈ 60 %
    tested = d["braf_v600e"] != "not_tested"
    assert ((d["ras"] == "not_tested") == ~tested).all() and 0.02 < (~tested).mean() < 0.12


def test_regimens_follow_molecular_status(big):
    t = big.tables["treatments"]
    d = big.tables["diagnosis"].set_index("patient_id")
    dab = set(t.loc[t["agent"] == "dabrafenib", "patient_id"])
    tra = set(t.loc[t["agent"] == "trametinib", "patient_id"])
    assert dab == tra and dab
    assert (d.loc[list(dab), "braf_v600e"] == "positive").all()
    assert (t.loc[t["agent"].isin(["dabrafenib", "trametinib"]), "agent_class"] == "braf_mek").all()
    ret = set(t.loc[t["agent_class"] == "ret_selective", "patient_id"])
    assert ((d.loc[list(ret), "ret"] == "positive") | (d.loc[list(ret), "fusion"] == "ret")).all()
    assert set(t.loc[t["agent_class"] == "ici", "agent"]) <= {"pembrolizumab", "camrelizumab", "toripalimab", "sintilimab"}
    assert ((t["final_dose"] < t["start_dose"]) | t["final_dose"].isna()).all()


def test_confounding_by_indication(big):
    """Sicker patients (T4b, unresectable, ATC, planned laryngectomy) more often get neoadjuvant therapy."""
    m = big.tables["patients"].merge(big.tables["diagnosis"], on=["patient_id", "center_id"])
    m = m[big.latent.set_index("patient_id").loc[m["patient_id"], "eligible"].to_numpy()]
    neo = m["cohort"] == "neoadjuvant"
    for flag in (m["ct"] == "T4b", m["baseline_resectability"] == "unresectable", m["histology"] == "atc",
                 m["planned_laryngectomy"]):
        assert flag[neo].mean() > 1.5 * flag[~neo].mean()
    lat = big.latent[big.latent["eligible"]]
    by = lat.groupby("cohort")
    assert by["lp_recurrence"].mean()["neoadjuvant"] > by["lp_recurrence"].mean()["upfront_surgery"] + 0.2
    assert by["propensity"].mean()["neoadjuvant"] > by["propensity"].mean()["upfront_surgery"]
    # centers differ in their neoadjuvant share
    share = m.groupby("center_id")["cohort"].apply(lambda s: (s == "neoadjuvant").mean())
    assert share.max() - share.min() > 0.15


def test_truth_json_fields(tmp_path):
    r = write_synthetic_study(tmp_path / "t", n_patients=200, n_centers=4, seed=2)
    truth = json.loads(r.truth_path.read_text())
    assert truth["data_cut"] == "2026-06-30" and truth["seed"] == 2
    for key in ("assignment_model", "outcome_models", "effects", "design_columns", "marginal_hr_method", "centers"):
        assert key in truth
    eff = truth["effects"]
    assert eff["recurrence"]["conditional_hr"] == 0.70 and eff["death"]["conditional_hr"] == 0.80
    # non-collapsibility: the marginal HR lies between the conditional HR and 1
    for o in ("recurrence", "death"):
        assert eff[o]["conditional_hr"] < eff[o]["marginal_hr_ate"] < 1
    assert eff["braf_on_objective_response"]["odds_ratio"] == 3.0
    assert set(eff["pathological_response"]["planted_pcr_rate"]) == set(D.forms["diagnosis"]["histology"].choices)
    assert set(truth["assignment_model"]["coefficients"]) <= set(truth["design_columns"])
    lat = pd.read_csv(r.latent_path)
    assert {"patient_id", "propensity", "t_recurrence_upfront", "t_recurrence_neoadjuvant", "t_death_upfront",
            "t_death_neoadjuvant"} <= set(lat.columns)
    # common random numbers: T(1)/T(0) follows the true HR exactly (Weibull PH: ratio = HR^(-1/shape))
    shape = truth["outcome_models"]["recurrence"]["baseline_hazard"]["shape"]
    ratio = lat["t_recurrence_neoadjuvant"] / lat["t_recurrence_upfront"]
    assert np.allclose(ratio, 0.70 ** (-1 / shape), rtol=1e-4)


def _recurrence_data(study) -> pd.DataFrame:
    """Time from the treatment decision to the first recurrence (death / last visit censor), built
    from the study tables only, with the design columns of truth.json."""
    p = study.tables["patients"]
    d = study.tables["diagnosis"]
    e = study.tables["eligibility"]
    ok = e["inc_t4_mdt"] & e["inc_ecog_0_2"] & e["inc_consent"] & e["inc_organ_function"] & e["inc_measurable_lesion"] \
        & (e["inc_m1_benefit_documented"] != "no") & ~e["exc_prior_neck_surgery"] & ~e["exc_prior_cancer_treatment"] \
        & ~e["exc_concurrent_malignancy"] & ~e["exc_uncontrolled_systemic"] & ~e["exc_pregnancy"] & ~e["exc_refuses_biopsy_surgery"]
    fu = study.tables["follow_up"]
    first_rec = fu[fu["recurrence"]].groupby("patient_id")["recurrence_date"].min()
    last = fu.groupby("patient_id")["visit_date"].max()
    m = p[ok.to_numpy()].merge(d, on=["patient_id", "center_id"])
    t0 = m["treatment_decision_date"]
    rec = m["patient_id"].map(first_rec)
    m["event"] = rec.notna().astype(int)
    m["time"] = (rec.fillna(m["patient_id"].map(last)) - t0).dt.days.clip(lower=1)
    m["neo"] = (m["cohort"] == "neoadjuvant").astype(int)
    for h in ("ftc", "oncocytic", "pdtc", "atc", "mtc"):
        m[f"hist_{h}"] = (m["histology"] == h).astype(int)
    m["t4b"] = (m["ct"] == "T4b").astype(int)
    m["n_invaded"] = m[[c for c in m.columns if c.startswith("invasion_")]].astype(int).sum(axis=1)
    m["n1b"] = (m["cn"] == "N1b").astype(int)
    m["m1"] = (m["cm"] == "M1").astype(int)
    m["age_per10"] = (m["age_at_diagnosis"].astype(float) - 55) / 10
    m["ecog1"] = (m["ecog"] == "1").astype(int)
    m["ecog2"] = (m["ecog"] == "2").astype(int)
    m["tert"] = (m["tert_promoter"] == "positive").astype(int)
    m["borderline"] = (m["baseline_resectability"] == "borderline").astype(int)
    m["unresectable"] = (m["baseline_resectability"] == "unresectable").astype(int)
    return m[m["tert_promoter"] != "not_tested"]


def test_naive_cox_is_biased_and_adjustment_recovers_the_truth(big):
    """Oracle: lifelines CoxPHFitter (not the generator's own solver) on the written tables."""
    lifelines = pytest.importorskip("lifelines")
    m = _recurrence_data(big)
    naive = lifelines.CoxPHFitter().fit(m[["time", "event", "neo"]], "time", "event")
    assert naive.hazard_ratios_["neo"] > 1.0  # confounded towards harm, although the truth is 0.70
    covs = ["neo", "hist_ftc", "hist_oncocytic", "hist_pdtc", "hist_atc", "hist_mtc", "t4b", "n_invaded", "n1b", "m1",
            "age_per10", "ecog1", "ecog2", "tert", "borderline", "unresectable"]
    adj = lifelines.CoxPHFitter().fit(m[["time", "event", "center_id", *covs]], "time", "event", strata=["center_id"])
    b, se = adj.params_["neo"], adj.standard_errors_["neo"]
    assert abs(b - np.log(0.70)) < 3 * se, (np.exp(b), se)
    assert np.log(naive.hazard_ratios_["neo"]) - np.log(0.70) > 5 * se


def _best_change(study) -> pd.DataFrame:
    les = study.tables["lesions"]
    base = les[les["lesion_role"] == "target"].groupby("patient_id")["baseline_diameter_mm"].sum()
    la = study.tables["lesion_assessments"]
    tgt = la.merge(les.loc[les["lesion_role"] == "target", ["patient_id", "lesion_id"]], on=["patient_id", "lesion_id"])
    new_dates = set(zip(la.loc[la["is_new_lesion"], "patient_id"], la.loc[la["is_new_lesion"], "assessment_date"]))
    tgt = tgt[[(p, d) not in new_dates for p, d in zip(tgt["patient_id"], tgt["assessment_date"])]]
    s = tgt.groupby(["patient_id", "assessment_date"])["diameter_mm"].agg(["sum", "count"])
    n_t = les[les["lesion_role"] == "target"].groupby("patient_id").size()
    s = s[s["count"] == n_t.reindex(s.index.get_level_values(0)).to_numpy()]
    best = (s["sum"].groupby(level=0).min() / base.reindex(s["sum"].groupby(level=0).min().index) - 1) * 100
    return best.rename("best_pct").reset_index()


def test_braf_raises_objective_response(big):
    """The planted OR of BRAF V600E (3.0) shows in the RECIST measurements (logit on histology,
    RET alteration and ICI as in truth.json)."""
    sm = pytest.importorskip("statsmodels.formula.api")
    best = _best_change(big)
    d = big.tables["diagnosis"]
    t = big.tables["treatments"]
    ici = set(t.loc[t["agent_class"] == "ici", "patient_id"])
    m = best.merge(d, on="patient_id")
    m = m[m["braf_v600e"] != "not_tested"]
    m["resp"] = (m["best_pct"] <= -30).astype(int)
    m["braf"] = (m["braf_v600e"] == "positive").astype(int)
    m["ret_altered"] = ((m["ret"] == "positive") | (m["fusion"] == "ret")).astype(int)
    m["ici"] = m["patient_id"].isin(ici).astype(int)
    fit = sm.logit("resp ~ braf + ret_altered + ici + C(histology)", m).fit(disp=0)
    b, se = fit.params["braf"], fit.bse["braf"]
    assert b > 0 and abs(b - np.log(3.0)) < 3.5 * se, (np.exp(b), se)


def test_planted_pathological_response_rates(big):
    truth = big.truth["effects"]["pathological_response"]
    lat = big.latent[(big.latent["cohort"] == "neoadjuvant") & big.latent["eligible"]]
    hist = big.tables["diagnosis"].set_index("patient_id").loc[lat["patient_id"], "histology"].to_numpy()
    for h in ("ptc", "atc", "pdtc"):
        v = lat.loc[hist == h, "viable_pct_latent"]
        for rate, got in ((truth["planted_pcr_rate"][h], (v == 0).mean()), (truth["planted_mpr_rate"][h], (v <= 10).mean())):
            se = np.sqrt(rate * (1 - rate) / len(v))
            assert abs(got - rate) < 4 * se + 1e-9, (h, rate, got)
    # observed: pCR patients responded on imaging; ATC has the highest pCR rate among operated
    path = big.tables["pathology"]
    best = _best_change(big).set_index("patient_id")["best_pct"]
    yp = path[path["tnm_prefix"] == "yp"].assign(best=lambda x: x["patient_id"].map(best))
    assert yp.loc[yp["viable_tumor_pct"] == 0, "best"].median() < yp.loc[yp["viable_tumor_pct"] > 10, "best"].median() - 15
    assert (yp.loc[yp["viable_tumor_pct"] == 0, "pt"] == "T0").all()


def test_investigator_responses_consistent_with_measurements(big):
    """RECIST 1.1 §4.3: PR needs a ≥ 30 % decrease vs baseline; PD a new lesion, unequivocal
    non-target progression or ≥ 20 % (and ≥ 5 mm) over the nadir; CR all targets gone (nodes < 10 mm)."""
    tp = big.tables["timepoint_responses"]
    assert 0 < tp["center_id"].nunique() < big.tables["patients"]["center_id"].nunique()
    la = big.tables["lesion_assessments"]
    les = big.tables["lesions"]
    base = les[les["lesion_role"] == "target"].groupby("patient_id")["baseline_diameter_mm"].sum()
    tgt = la.merge(les.loc[les["lesion_role"] == "target", ["patient_id", "lesion_id"]], on=["patient_id", "lesion_id"])
    sums = tgt.groupby(["patient_id", "assessment_date"])["diameter_mm"].sum()
    new = la[la["is_new_lesion"]].set_index(["patient_id", "assessment_date"]).index
    j = tp.set_index(["patient_id", "assessment_date"])
    pr = j[j["overall_response"] == "PR"].index
    assert (sums.reindex(pr).to_numpy() <= 0.7 * base.reindex(pr.get_level_values(0)).to_numpy() + 1e-9).all()
    sd = j[j["overall_response"] == "SD"].index
    assert (sums.reindex(sd).to_numpy() > 0.7 * base.reindex(sd.get_level_values(0)).to_numpy()).all()
    pd_idx = j[j["overall_response"] == "PD"].index
    assert pd_idx.isin(new).mean() == 1.0  # every progression scan has a new lesion here
    ne = j[j["overall_response"] == "NE"].index
    not_eval = la[la["measurement_status"] == "not_evaluable"].set_index(["patient_id", "assessment_date"]).index
    assert ne.isin(not_eval).all()


def test_surgery_consistent_with_invasion_and_response(big):
    s = big.tables["surgery"].merge(big.tables["diagnosis"], on=["patient_id", "center_id"])
    s = s.merge(big.tables["patients"][["patient_id", "cohort"]], on="patient_id")
    assert ((s["tracheal_resection"] != "none") <= s["invasion_trachea"]).all()
    assert (s["vascular_resection"] <= s["invasion_carotid"]).all()
    planned = s[s["planned_laryngectomy"]]
    done = planned["laryngectomy"] != "none"
    by_cohort = done.groupby(planned["cohort"]).mean()
    assert by_cohort["upfront_surgery"] > 0.9 and by_cohort["neoadjuvant"] < 0.75  # organ preservation
    p = big.tables["pathology"].merge(big.tables["surgery"], on=["patient_id", "center_id", "surgery_id"])
    assert ((p["resection_status"] == "R0") == (p["margin_status"] == "negative")).all()
    assert ((p["resection_status"] == "R2") == (p["margin_status"] == "gross_positive")).all()
    assert ((p["pn"] == "N0") <= (p["nodes_positive"] == 0)).all()
    assert 0.5 < (big.tables["surgery"]["resection_status"] == "R0").mean() < 0.75


def test_complications_transient_and_permanent(big):
    """Transient hypoparathyroidism / RLN palsy resolve within 6 months; permanent ones stay unresolved."""
    c = big.tables["complications"].merge(big.tables["surgery"][["patient_id", "surgery_date"]], on="patient_id")
    for kind in ("hypoparathyroidism", "rln_palsy"):
        k = c[c["complication_type"] == kind]
        res = k[k["resolved"]]
        assert ((res["resolution_date"] - res["surgery_date"]).dt.days <= 183).all()
        assert (~k["resolved"]).any() and k["resolved"].any()
    n_op = len(big.tables["surgery"])
    hypo = (c["complication_type"] == "hypoparathyroidism").sum() / n_op
    assert 0.2 < hypo < 0.5  # Edafe 2014: transient 19–38 %, more after extended surgery
    assert set(c["clavien_dindo"]) <= set(D.forms["complications"]["clavien_dindo"].choices) - {"V"}


def test_labs_markers_by_histology(big):
    labs = big.tables["labs"].merge(big.tables["diagnosis"][["patient_id", "histology"]], on="patient_id")
    assert set(labs.loc[labs["histology"] == "mtc", "test"]) == {"calcitonin", "cea"}
    assert set(labs.loc[labs["histology"] == "ptc", "test"]) == {"tg", "tgab", "tsh"}
    assert set(labs.loc[labs["histology"] == "atc", "test"]) == {"tsh"}
    tgab = labs[labs["test"] == "tgab"]
    pos = (tgab["value"] > tgab["upper_reference_limit"]).groupby(tgab["patient_id"]).first()
    assert 0.1 < pos.mean() < 0.3  # ATA 2015: TgAb in ≈ 20–25 % of DTC
    assert labs.loc[labs["test"] == "tg", "stimulated"].any()


def test_atc_die_early_and_some_never_operated(big):
    fu = big.tables["follow_up"]
    death = fu.dropna(subset=["death_date"]).set_index("patient_id")["death_date"]
    m = big.tables["patients"].merge(big.tables["diagnosis"][["patient_id", "histology"]], on="patient_id")
    m["days"] = (m["patient_id"].map(death) - m["treatment_decision_date"]).dt.days
    atc = m[m["histology"] == "atc"]
    assert atc["days"].notna().mean() > 0.6 and atc["days"].median() < 365
    assert m.loc[m["histology"] == "ptc", "days"].notna().mean() < 0.15
    neo = set(big.tables["patients"].loc[big.tables["patients"]["cohort"] == "neoadjuvant", "patient_id"])
    progressed = set(big.tables["treatments"].loc[big.tables["treatments"]["reason_stopped"] == "progression", "patient_id"])
    assert progressed - set(big.tables["surgery"]["patient_id"])
    assert progressed <= neo


def test_screen_failures_have_one_failing_criterion_consistent_with_the_data(big):
    e = big.tables["eligibility"].set_index("patient_id")
    inc = [c for c in e.columns if c.startswith("inc_") and c != "inc_m1_benefit_documented"]
    exc = [c for c in e.columns if c.startswith("exc_")]
    fails = (~e[inc]).sum(axis=1) + e[exc].sum(axis=1) + (e["inc_m1_benefit_documented"] == "no")
    assert fails.max() == 1 and 0.02 < (fails == 1).mean() < 0.07
    d = big.tables["diagnosis"].set_index("patient_id")
    p = big.tables["patients"].set_index("patient_id")
    assert ((d["ct"] == "T3b") == ~e["inc_t4_mdt"]).all()
    assert ((p["ecog"].astype(int) > 2) == ~e["inc_ecog_0_2"]).all()
    assert ((e["inc_m1_benefit_documented"] == "na") == (d["cm"] == "M0")).all()
    assert (p["consent"] == e["inc_consent"]).all()
    failed = set(fails.index[fails == 1])
    assert not failed & set(big.tables["follow_up"]["patient_id"])
    assert not failed & set(big.tables["surgery"]["patient_id"])


def test_biospecimen_manifest(big):
    b = big.tables["biospecimens"]
    pattern = D.patterns["sample_id_pattern"]
    assert b["sample_id"].str.match(pattern).all()
    assert (b["sample_id"].str.slice(0, 0) == "").all() and all(s.startswith(p + "-") for s, p in zip(b["sample_id"], b["patient_id"]))
    refs = b["file_ref"].dropna()
    expected = "omics/" + b.loc[refs.index, "assay"] + "/" + b.loc[refs.index, "sample_id"] + "."
    assert all(r.startswith(e) for r, e in zip(refs, expected))
    assert set(refs[b.loc[refs.index, "assay"] == "scrna_seq"].str.rsplit(".", n=1).str[1]) == {"h5ad"}
    p = big.tables["patients"].set_index("patient_id")
    up = b[p.loc[b["patient_id"], "cohort"].to_numpy() == "upfront_surgery"]
    assert set(up["timepoint"]) == {"surgery"}
    assert set(b["timepoint"]) == {"baseline", "on_treatment", "surgery"}
    assert set(b["assay"]) == set(D.forms["biospecimens"]["assay"].choices)
    omics_centers = set(b.loc[b["assay"] == "scrna_seq", "center_id"])
    assert omics_centers < set(p["center_id"])  # only some centers run single-cell
    assert b.loc[b["tissue"] == "lymph_node", "patient_id"].map(big.tables["diagnosis"].set_index("patient_id")["cn"]).ne("N0").all()


def test_injected_errors_are_in_the_written_files(tmp_path):
    from latc.synth._errors import ERROR_TYPES

    r = write_synthetic_study(tmp_path / "e", n_patients=250, n_centers=4, seed=9, inject_errors=2 * len(ERROR_TYPES))
    errors = pd.read_csv(r.errors_path, dtype=str, keep_default_na=False)
    assert list(errors.columns) == ["form", "row", "patient_id", "field", "error_type", "original_value", "injected_value"]
    assert len(errors) == 2 * len(ERROR_TYPES)
    assert set(errors["error_type"]) == set(ERROR_TYPES)
    assert not errors.duplicated(["form", "row"]).any()  # never two errors on one row
    tables = {f: pd.read_csv(r.study_path / f"{f}.csv", dtype=str, keep_default_na=False) for f in D.forms}
    known = set(tables["patients"]["patient_id"])
    for e in errors.itertuples():
        t = tables[e.form]
        row = t.iloc[int(e.row) - 2]  # header is row 1
        assert row["patient_id"] == e.patient_id
        if e.error_type == "duplicate_row":
            assert (t.iloc[: int(e.row) - 2] == row).all(axis=1).any()
            continue
        fields = e.field.split(";")
        values = e.injected_value.split(";") if len(fields) > 1 else [e.injected_value]
        for f, v in zip(fields, values):
            assert row[f] == v, (e.error_type, f, row[f], v)
        if e.error_type == "orphan_row":
            assert e.patient_id not in known
        if e.error_type == "future_date":
            assert e.injected_value > "2026-11-25"
        if e.error_type == "impossible_date":
            assert re.match(r"^\d{4}-(02-30|04-31)$", e.injected_value)
    clean = write_synthetic_study(tmp_path / "c", n_patients=250, n_centers=4, seed=9)
    for f in D.forms:  # outside the listed rows, the study is the clean one
        dirty = tables[f]
        base = pd.read_csv(clean.study_path / f"{f}.csv", dtype=str, keep_default_na=False)
        listed = {int(x) - 2 for x in errors.loc[errors["form"] == f, "row"]}
        keep = [i for i in range(len(base)) if i not in listed]
        pd.testing.assert_frame_equal(dirty.iloc[keep].reset_index(drop=True), base.iloc[keep].reset_index(drop=True))


def test_summary_and_cli(tmp_path):
    from typer.testing import CliRunner

    from latc.cli import app

    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "cli"), "-n", "120", "-k", "3", "-s", "4",
                                   "--inject-errors", "5"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cli" / "study" / "patients.csv").exists()
    assert "injected" in res.output and "truth" in res.output
    bad = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "x"), "--format", "sas"])
    assert bad.exit_code == 2 and "format" in bad.output
