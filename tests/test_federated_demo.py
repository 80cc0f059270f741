"""`latc federated demo` with the in-process engine: the whole journey on the synthetic cohort.

Synthesise → validate → derive once (pooled, for the reference only) → every center its own derived
folder → federated comparison → results in `latc analyze`'s format → pooled `latc analyze` →
comparison.json → federated report. Checks agreement (< 1e-8 on every value of every federated
table), the release logs, that nothing per patient is in the federated outputs, and the report.
(The Flower engine carrying the same rounds is tested in tests/test_federated_flower.py.)
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from latc.federated._demo import DEMO_POLICY, federated_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return federated_demo(tmp_path_factory.mktemp("fed_demo"), engine="local", n_patients=2000)


def test_every_federated_value_equals_the_pooled_analysis(demo):
    comp = json.loads((demo.out / "comparison.json").read_text(encoding="utf-8"))
    assert comp["max_abs_diff"] < 1e-8
    expected = {"baseline/table1", "comparative/hazard_ratios", "comparative/km_curves", "comparative/logrank", "comparative/balance",
                "comparative/effective_sample_size", "competing/cif_curves", "competing/gray_test",
                "response/objective_response", "response/best_overall_response", "response/biochemical_response",
                "response/pathological_response", "surgery/outcomes", "surgery/organ_preservation",
                "safety/ae_by_term", "safety/ae_overview"}
    assert set(comp["tables"]) == expected
    for key, t in comp["tables"].items():
        assert t["rows_compared"] > 0 and t["only_federated"] == 0, key
    rows = pd.read_csv(demo.out / "comparison.csv")
    assert len(rows) > 10_000 and rows["abs_diff"].max() < 1e-8
    hr = rows[rows["table"].eq("comparative/hazard_ratios") & rows["key"].eq("recurrence | iptw_ate") & rows["column"].eq("hr")]
    assert len(hr) == 1 and abs(hr["federated"].iloc[0] - demo.primary["hr"]) < 1e-12


def test_federated_results_have_the_analysis_format(demo):
    idx = json.loads((demo.out / "federated" / "analysis" / "results.json").read_text(encoding="utf-8"))
    assert idx["latc_analysis"] == 2 and idx["inputs"]["federated"] is True
    assert idx["primary"]["analysis"] == "iptw_ate" and idx["primary"]["estimate"] == pytest.approx(demo.primary["hr"])
    assert idx["parameters"]["disclosure_opt_ins"] == dict(DEMO_POLICY.min_cell_by_analysis)
    assert {"cox_webdisco", "km_weighted"} <= set(idx["parameters"]["disclosure_opt_ins"])
    nc = {f"{s}/{t['table']}": t["reason"] for s, sec in idx["sections"].items() for t in sec["not_computed"]}
    assert any("matching" in k for k in nc)


def test_release_logs_record_every_message(demo):
    for s in demo.sites:
        lines = (demo.out / "sites" / s / "release_log.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == demo.rounds
        recs = [json.loads(x) for x in lines]
        assert sum(r["n_bytes"] for r in recs) == demo.bytes_sent[s]
        assert all(re.fullmatch(r"[0-9a-f]{64}", r["sha256"]) for r in recs)


def test_no_patient_identifier_leaves_a_site(demo):
    ids = set(pd.read_parquet(demo.out / "pooled" / "derived" / "subject.parquet")["patient_id"].astype(str))
    sample = sorted(ids)[:50]
    for path in (demo.out / "federated").rglob("*"):
        if path.is_file() and path.suffix in {".csv", ".json"}:
            text = path.read_text(encoding="utf-8")
            assert not any(i in text for i in sample), path
    for s in demo.sites:
        text = (demo.out / "sites" / s / "release_log.jsonl").read_text(encoding="utf-8")
        assert not any(i in text for i in sample)


def test_the_federated_report_shows_the_run_and_the_agreement(demo):
    from latc.report import build_report

    res = build_report(demo.out / "federated", demo.out / "federated" / "report", pdf=False)
    html = (res.out_dir / "report.html").read_text(encoding="utf-8")
    assert "federated analysis" in html and "Release logs" in html and "Federated vs pooled" in html
    for fig in ("km_recurrence_iptw", "cif_recurrence"):
        assert (res.out_dir / "figures" / f"{fig}.svg").is_file()
    assert "Participant flow" not in html          # the pooled-only sections are not padded with notes


def test_table_one_is_the_pooled_table_cell_for_cell(demo):
    fed = pd.read_csv(demo.out / "federated" / "analysis" / "baseline" / "table1.csv", dtype=str, keep_default_na=False)
    pooled = pd.read_csv(demo.out / "pooled" / "analysis" / "baseline" / "table1.csv", dtype=str, keep_default_na=False)
    assert len(fed) == len(pooled) > 40
    for c in ("variable", "level", "statistic", "neoadjuvant", "upfront_surgery", "test", "missing"):
        assert fed[c].tolist() == pooled[c].tolist(), c
    for c in ("p", "smd"):
        a = pd.to_numeric(fed[c], errors="coerce")
        b = pd.to_numeric(pooled[c], errors="coerce")
        assert ((a - b).abs().fillna(0) < 1e-10).all() and (a.isna() == b.isna()).all(), c


def test_default_cell_rule_withholds_rare_table_one_variables(demo):
    """Without the demo's opt-ins a site's rare level withholds that variable only, with the reason."""
    from latc.federated import LocalChannel, run_comparison, site_runtime

    sites = {s: site_runtime(s, demo.out / "sites" / s / "derived") for s in demo.sites}
    fed = run_comparison(LocalChannel(sites), baseline=True)
    t1 = fed.tables["baseline/table1"]
    withheld = {k.split(" ", 1)[1] for k in fed.not_computed if k.startswith("baseline/table1 ")}
    assert withheld and "age_at_diagnosis" not in withheld and "age_at_diagnosis" in set(t1["variable"])
    assert not withheld & set(t1["variable"])
    reason = next(v for k, v in fed.not_computed.items() if k.startswith("baseline/table1 "))
    assert "site 'C" in reason and "minimum cell size 3" in reason


def test_the_command_runs_the_demo_and_says_where_everything_is(tmp_path):
    from typer.testing import CliRunner

    from latc.cli import app

    res = CliRunner().invoke(app, ["federated", "demo", "--out", str(tmp_path / "d"), "--engine", "local",
                                   "--patients", "600", "--no-pdf"])
    assert res.exit_code == 0, res.output
    assert "rounds over local" in res.output and "comparison.json" in res.output
    assert (tmp_path / "d" / "federated" / "report" / "report.html").is_file()
    comp = json.loads((tmp_path / "d" / "comparison.json").read_text(encoding="utf-8"))
    assert comp["max_abs_diff"] < 1e-8
    # at 600 patients small sites withhold tables even with the demo's opt-ins; each is named
    assert all(isinstance(v, str) and v for v in comp["not_computed_federated"].values())


def test_the_command_refuses_an_unknown_engine(tmp_path):
    from typer.testing import CliRunner

    from latc.cli import app

    res = CliRunner().invoke(app, ["federated", "demo", "--out", str(tmp_path / "d"), "--engine", "carrier-pigeon"])
    assert res.exit_code != 0 and "--engine must be 'flower' or 'local'" in res.output


def test_a_center_id_that_is_a_path_is_refused_before_anything_is_written(tmp_path):
    from latc.federated import FederatedInputError
    from latc.federated._demo import split_derived

    subject = pd.DataFrame({"patient_id": ["C01-0001", "X-0001"], "center_id": ["C01", "../../evil"]})
    with pytest.raises(FederatedInputError, match="cannot name a site folder"):
        split_derived({"subject": subject}, tmp_path / "sites")
    assert not (tmp_path / "sites").exists() and not list(tmp_path.parent.glob("evil*"))
