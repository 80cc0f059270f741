"""Result tables name their method and parameters; inputs are pseudonymous derived data only;
`latc analyze` writes OUT/analysis/<section>/<table>.csv + results.json; numbers equal hand counts.
"""

from __future__ import annotations

import json

import numpy as np

import pandas as pd
import pytest
from typer.testing import CliRunner

from latc.analysis import ANALYSIS_COLUMNS, AnalysisInputError, AnalysisOptions, load_derived, run_analysis
from latc.cli import app
from latc.derive.datasets import derive_datasets
from latc.dictionary import load_dictionary
from latc.io import write_datasets
from latc.synth import synthesize

OPTS = AnalysisOptions(imputations=2, imputation_iterations=2, prognostic_bootstrap=5)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    s = synthesize(n_patients=500, n_centers=4, seed=11)
    elig = pd.DataFrame({"patient_id": s.latent["patient_id"].astype("str"), "eligible": s.latent["eligible"].astype(bool)})
    ds = derive_datasets(s.tables, s.truth["data_cut"], eligibility=elig)
    out = tmp_path_factory.mktemp("run")
    write_datasets(ds, out / "derived")
    return out


@pytest.fixture(scope="module")
def results(folder):
    return run_analysis(folder, OPTS)


def test_inputs_are_allow_listed_pseudonymous_and_free_of_free_text(folder):
    data = load_derived(folder)
    d = load_derived(folder)
    flagged = {f.name for form in load_dictionary().forms.values() for f in form.fields if f.identifier or f.type == "notes"}
    on_disk = set(pd.read_parquet(folder / "derived" / "subject.parquet").columns)
    for name, t in data.tables().items():
        assert set(t.columns) <= set(ANALYSIS_COLUMNS[name]), name
        assert not set(t.columns) & flagged, name
    # generated explanations (free text) in the derived subject are not read
    for text in ("failed_criteria", "ata_risk_reasons", "response_to_therapy_reason", "restratified_risk_statement"):
        assert text in on_disk and text not in d.subject.columns
    assert d.subject["patient_id"].str.fullmatch(r"[A-Z][A-Z0-9]{1,5}-[0-9]{3,6}").all()


def test_identifiable_data_is_refused_without_echoing_it(folder, tmp_path):
    sub = pd.read_parquet(folder / "derived" / "subject.parquet")
    tte = pd.read_parquet(folder / "derived" / "tte.parquet")
    bad = sub.copy()
    bad.loc[0, "patient_id"] = "Jane Doe"
    with pytest.raises(AnalysisInputError) as e:
        load_derived({"subject": bad, "tte": tte})
    assert "not pseudonymous" in str(e.value) and "Jane" not in str(e.value)
    phone = sub.copy()
    phone["agents"] = phone["agents"].astype("str")
    phone.loc[1, "agents"] = "call +41 79 123 45 67"
    with pytest.raises(AnalysisInputError, match="look like a direct identifier"):
        load_derived({"subject": phone, "tte": tte})
    # on the command line: exit code 2 and one line, no identifier echoed
    (tmp_path / "derived").mkdir()
    bad.to_parquet(tmp_path / "derived" / "subject.parquet")
    tte.to_parquet(tmp_path / "derived" / "tte.parquet")
    r = CliRunner().invoke(app, ["analyze", str(tmp_path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "Jane" not in r.output and "identifiable" in r.output


def test_every_table_names_method_parameters_population_n(results):
    for key, t in results.tables().items():
        assert len(t.method) > 20, key
        assert isinstance(t.parameters, dict) and t.parameters, key
        assert t.population and t.n is not None and t.n > 0, key
    p = results.sections["comparative"].tables["hazard_ratios"].parameters
    assert p["caliper"] == 0.2 and p["ties"] == "efron" and p["estimands"]["iptw_ate"].startswith("ATE")
    assert p["center"].startswith("stratified")
    assert results.sections["comparative"].tables["matching"].parameters["caliper_scale"] == "SD of the logit propensity score"
    assert results.sections["comparative"].tables["km_landmarks"].parameters["conf_type"] == "log"
    assert results.sections["survival"].tables["km_landmarks"].parameters["conf_type"] == "log"
    assert results.sections["sensitivity"].tables["hazard_ratios"].parameters["imputations"] == 2


def test_rates_equal_hand_counts(folder, results):
    s = pd.read_parquet(folder / "derived" / "subject.parquet")
    rs = s[s["response_set"].fillna(False).astype(bool)]
    orr = results.table("response", "objective_response")
    row = orr[(orr["outcome"] == "objective_response") & (orr["by"] == "overall")].iloc[0]
    assert row["n"] == len(rs) and row["responders"] == int(rs["objective_response"].fillna(False).astype(bool).sum())
    t1 = results.table("baseline", "table1")
    a = s[s["analysis_set"].fillna(False).astype(bool)]
    n_row = t1[t1["variable"] == "n"].iloc[0]
    assert int(n_row["neoadjuvant"]) == int((a["cohort"] == "neoadjuvant").sum())
    op = a[a["operated_set"].fillna(False).astype(bool)]
    out = results.table("surgery", "outcomes")
    r0 = out[(out["outcome"] == "r0_resection") & (out["cohort"] == "upfront_surgery")].iloc[0]
    up = op[op["cohort"] == "upfront_surgery"]
    assert r0["n"] == len(up) and r0["responders"] == int((up["resection_status"] == "R0").sum())


def test_cli_writes_tables_and_index(folder, tmp_path):
    r = CliRunner().invoke(app, ["analyze", str(folder), "--out", str(tmp_path), "-m", "2", "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    assert "primary: recurrence HR" in r.output
    index = json.loads((tmp_path / "analysis" / "results.json").read_text())
    # the primary estimate is written by the analysis (results.json "primary"), equal to the table's
    # primary row; the CLI prints that object, the report reads it back (ReportInputs.primary)
    hr = pd.read_csv(tmp_path / "analysis" / "comparative" / "hazard_ratios.csv")
    row = hr[hr["primary"].astype(str).str.lower() == "true"].iloc[0]
    prim = index["primary"]
    assert (prim["endpoint"], prim["analysis"], prim["estimand"]) == ("recurrence", "iptw_ate", row["estimand"])
    np.testing.assert_allclose([prim["estimate"], prim["lower"], prim["upper"], prim["p"]],
                               row[["hr", "lower", "upper", "p"]].to_numpy(float), rtol=1e-12)
    assert f"{prim['estimate']:.2f} (95% CI {prim['lower']:.2f}–{prim['upper']:.2f})" in r.output
    from latc.report._inputs import find_inputs

    back = find_inputs(tmp_path).primary()
    assert back.estimable and back.estimate == prim["estimate"] and back.p == prim["p"]
    assert str(back) in r.output  # the CLI line and the report's read-back are one formatting
    assert index["parameters"]["imputations"] == 2 and index["parameters"]["caliper"] == 0.2
    n = 0
    for name, sec in index["sections"].items():
        for t in sec["tables"]:
            n += 1
            csv = tmp_path / "analysis" / t["file"]
            assert csv.exists() and len(pd.read_csv(csv)) == t["rows"]
            assert t["method"] and t["population"] and "parameters" in t
    assert n >= 25
    hr = pd.read_csv(tmp_path / "analysis" / "comparative" / "hazard_ratios.csv")
    assert set(hr["analysis"]) == {"naive", "adjusted", "ps_matched", "iptw_ate", "overlap_ato"}


def test_not_a_derived_folder(tmp_path):
    r = CliRunner().invoke(app, ["analyze", str(tmp_path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "subject.parquet" in r.output


def test_patient_data_reproduces_the_weighted_and_matched_hrs(results):
    """``comparative/patient_data`` carries the analysis's own PS, weights and matched pairs: refitting
    the IPTW and matched Cox models from it gives the reported HRs exactly; it holds only
    pseudonymous ids; matched counts agree with the matching table."""
    from latc.stats import cox

    pdat = results.table("comparative", "patient_data")
    hr = results.table("comparative", "hazard_ratios").query("endpoint == 'recurrence'").set_index("analysis")
    assert pdat["patient_id"].str.fullmatch(r"[A-Z][A-Z0-9]{1,5}-[0-9]{3,6}").all() and pdat["patient_id"].is_unique
    assert len(pdat) == hr.loc["iptw_ate", "n"]
    assert ((pdat["ps"] > 0) & (pdat["ps"] < 1)).all()
    d = pdat.assign(center=pdat["center"].astype("category"))
    fit = cox(d, "rec_time", "rec_event", ["neoadjuvant"], weights="w_ate", robust=True, strata="center")
    assert float(fit.summary.loc["neoadjuvant", "exp_coef"]) == pytest.approx(hr.loc["iptw_ate", "hr"], rel=1e-10)
    m = d[d["matched"] == 1]
    fit_m = cox(m, "rec_time", "rec_event", ["neoadjuvant"], weights="match_weight", robust=True, strata="center",
                cluster="subclass")
    assert float(fit_m.summary.loc["neoadjuvant", "exp_coef"]) == pytest.approx(hr.loc["ps_matched", "hr"], rel=1e-10)
    assert float(fit_m.summary.loc["neoadjuvant", "robust_se"]) == pytest.approx(hr.loc["ps_matched", "se"], rel=1e-8)
    matching = results.table("comparative", "matching").set_index("sample")
    assert m["neoadjuvant"].sum() == matching.loc["Matched", "treated"]
    assert (m.groupby("subclass")["neoadjuvant"].agg(["size", "sum"]).to_numpy() == [2, 1]).all()
    # event codes agree: rec_event is rec_type == 1
    assert (pdat["rec_event"] == (pdat["rec_type"] == 1)).all()


def test_weight_diagnostics_and_truncation_sensitivity(results):
    """weights_summary agrees with the Kish ESS table and the per-patient weights; the truncation /
    trimming rows refit the primary model with weights from latc.stats.weights (WeightIt trim rule)."""
    from latc.stats import cox, weights

    pdat = results.table("comparative", "patient_data")
    ws = results.table("comparative", "weight_sensitivity").set_index("analysis")
    hr = results.table("comparative", "hazard_ratios").query("endpoint == 'recurrence'").set_index("analysis")
    primary = ws.loc["primary (stabilized IPTW)"]
    assert primary["hr"] == pytest.approx(hr.loc["iptw_ate", "hr"], rel=1e-12) and primary["excluded"] == 0
    assert primary["max_weight"] == pytest.approx(pdat["w_ate"].max())
    d = pdat.assign(center=pdat["center"].astype("category"))
    for q in OPTS.truncate_quantiles:
        row = ws.loc[f"truncated at the {q:g} quantile"]
        w = weights(d, "neoadjuvant", ps=d["ps"], estimand="ATE", stabilize=True, truncate=q)
        # the cap is an observed weight at the q quantile (R type 3) and nobody is excluded
        assert row["max_weight"] == pytest.approx(w.max()) and w.max() in set(pdat["w_ate"]) and row["n"] == len(d)
        assert row["max_weight"] <= primary["max_weight"]
        fit = cox(d.assign(w=w), "rec_time", "rec_event", ["neoadjuvant"], weights="w", robust=True, strata="center")
        assert row["hr"] == pytest.approx(float(fit.summary.loc["neoadjuvant", "exp_coef"]), rel=1e-10)
    lo, hi = OPTS.trim_bounds
    crump = ws.loc[f"PS trimmed to [{lo:g}, {hi:g}] (Crump)"]
    assert crump["n"] == int(pdat["ps"].between(lo, hi).sum()) and crump["excluded"] == len(pdat) - crump["n"]
    summ = results.table("comparative", "weights_summary").set_index(["weights", "cohort"])
    ess = results.table("comparative", "effective_sample_size")
    ess = ess[(ess["sample"] == "iptw_ate") & (ess["index"] == "Adjusted")].iloc[0]
    assert summ.loc[("iptw_ate", "neoadjuvant"), "ess"] == pytest.approx(ess["treated"], rel=1e-12)
    assert summ.loc[("iptw_ate", "upfront_surgery"), "ess"] == pytest.approx(ess["control"], rel=1e-12)
    up = pdat.loc[pdat["cohort"] == "upfront_surgery", "w_ate"]
    assert summ.loc[("iptw_ate", "upfront_surgery"), "max"] == pytest.approx(up.max())
    assert summ.loc[("iptw_ate", "upfront_surgery"), "n_above_10"] == int((up > 10).sum())
