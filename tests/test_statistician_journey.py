"""The statistician's day, end to end (issue 19): a 300-patient synthetic study (``latc synth
--patients 300 --seed 11``, with 20 planted data errors) taken through ``latc run`` with analysis
options, re-analysed into a new folder and in place, reported, and read back in R.

Three pipeline runs are shared through module fixtures (each ~20–40 s on 2 cores):

* ``run_dir`` — ``latc run`` with ``--caliper 0.25 -m 2 --bootstrap 0 --seed 7 --no-pdf``;
* ``staged`` — one command at a time: ``latc validate`` → ``latc derive`` → ``latc analyze`` into a
  *new* folder → ``latc report``;
* ``in_place`` — a copy of ``run_dir`` re-analysed in place with ``--caliper 0.1`` and re-reported.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _rlive import requires_r
from latc.cli import app

runner = CliRunner()
FAST = ["-m", "2", "--bootstrap", "0"]


def invoke(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, (args, r.output, r.exception)
    return r.output


def record(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("synth")
    invoke("synth", "--patients", "300", "--seed", "11", "--inject-errors", "20", "--out", str(out))
    return out / "study", json.loads((out / "truth.json").read_text())["data_cut"]


@pytest.fixture(scope="module")
def run_dir(study, tmp_path_factory) -> Path:
    path, cut = study
    out = tmp_path_factory.mktemp("run")
    invoke("run", str(path), "--out", str(out), "--data-cut", cut, "--caliper", "0.25", "-m", "2", "--bootstrap", "0",
           "--seed", "7", "--no-pdf")
    return out


@pytest.fixture(scope="module")
def staged(study, tmp_path_factory) -> dict[str, Path]:
    """validate → derive → analyze into a new folder → report, one command at a time."""
    path, cut = study
    work, new = tmp_path_factory.mktemp("work"), tmp_path_factory.mktemp("elsewhere") / "analysis_v2"
    invoke("validate", str(path), "--out", str(work / "validation"), "--data-cut", cut)
    invoke("derive", str(work / "validation"), "--out", str(work))
    invoke("analyze", str(work), "--out", str(new), *FAST)
    invoke("report", str(new), "--out", str(new / "report"), "--no-pdf")
    return {"work": work, "new": new}


@pytest.fixture(scope="module")
def in_place(run_dir, tmp_path_factory) -> dict:
    """A copy of ``run_dir`` re-analysed in place with another caliper, then re-reported."""
    out = tmp_path_factory.mktemp("inplace") / "run"
    shutil.copytree(run_dir, out)
    invoke("analyze", str(out), "--out", str(out), "--caliper", "0.1", *FAST, "--seed", "7")
    between = record(out)
    invoke("report", str(out), "--out", str(out / "report"), "--no-pdf")
    return {"out": out, "between": between}


# --- 1. `latc run` / `latc demo` take the analysis options ----------------------------------------

def test_version_prints_latc_and_python():
    import platform

    import latc

    out = invoke("--version")
    assert f"latc {latc.__version__}" in out and f"Python {platform.python_version()}" in out


def test_run_and_demo_offer_the_analysis_options_with_the_same_names_and_defaults():
    import typer.main

    cmds = typer.main.get_command(app).commands

    def opts(name):
        return {p.name: (tuple(sorted(p.opts + p.secondary_opts)), p.default) for p in cmds[name].params}

    analyze, report, run, demo = opts("analyze"), opts("report"), opts("run"), opts("demo")
    for name in ("imputations", "caliper", "bootstrap", "seed"):
        assert run[name] == analyze[name], name
    assert run["pdf"] == report["pdf"] == demo["pdf"]
    for name in ("imputations", "caliper", "bootstrap"):
        assert demo[name] == analyze[name], name
    # demo's --seed seeds the synthetic cohort; the analysis seed has its own name and analyze's default
    assert demo["analysis_seed"][1] == analyze["seed"][1] and "--analysis-seed" in demo["analysis_seed"][0]


def test_run_passes_the_options_to_the_analysis_report_and_run_record(run_dir):
    res = json.loads((run_dir / "analysis" / "results.json").read_text())
    p = res["parameters"]
    assert (p["caliper"], p["imputations"], p["prognostic_bootstrap"], p["seed"]) == (0.25, 2, 0, 7)
    m = record(run_dir)
    assert m["parameters"]["analyze"]["caliper"] == 0.25 and m["stages"]["report"]["parameters"] == {"pdf": False, "png": False}
    assert (run_dir / "report" / "report.html").is_file() and not (run_dir / "report" / "report.pdf").exists()
    assert list(m["stages"]) == ["validate", "derive", "analyze", "report"]
    for name, stage in m["stages"].items():
        assert re.fullmatch(r"[0-9a-f]{64}", stage["input"]["combined"]) and stage["seconds"] >= 0, name
        assert "stale" not in stage, name
    # the study input's checksum covers every study file
    assert len(m["input"]["files"]) == sum(1 for p in Path(m["input"]["path"]).rglob("*") if p.is_file()) > 10
    # the matching used the caliper: its width is 0.25 SD of the logit PS
    match = next(t for t in res["sections"]["comparative"]["tables"] if t["name"] == "matching")
    assert match["parameters"]["caliper"] == 0.25


# --- 2. the analysis records where its inputs are; one run record, always current --------------------

def test_report_of_an_analysis_written_elsewhere_finds_validation_and_derived(staged):
    new, work = staged["new"], staged["work"]
    loc = json.loads((new / "analysis" / "results.json").read_text())["inputs"]["locations"]
    assert Path(loc["derived"]["path"]) == (work / "derived").resolve()
    assert (new / "analysis" / loc["validation"]["relative"]).resolve() == (work / "validation").resolve()
    html = (new / "report" / "report.html").read_text(encoding="utf-8")
    assert 'id="tab-completeness"' in html and 'data-figure="swimmer"' in html
    assert "no validation folder" not in html and "Swimmer plot: not shown" not in html


def test_each_stage_run_alone_updates_its_folders_record(staged):
    work, new = staged["work"], staged["new"]
    v = record(work / "validation")
    assert list(v["stages"]) == ["validate"] and v["input"]["combined"] == v["stages"]["validate"]["input"]["combined"]
    w = record(work)
    assert list(w["stages"]) == ["validate", "derive"]
    assert w["stages"]["validate"]["recorded_in"] == str((work / "validation" / "manifest.json").resolve())
    assert w["input"]["combined"] == v["input"]["combined"]  # the study's checksum reaches the derive folder
    n = record(new)
    assert list(n["stages"]) == ["validate", "derive", "analyze", "report"]
    assert n["input"]["combined"] == v["input"]["combined"]
    assert n["stages"]["analyze"]["input"]["path"] == str((work / "derived").resolve())
    assert n["parameters"]["analyze"]["imputations"] == 2 and n["parameters"]["derive"]["time_zero"] == "decision"
    html = (new / "report" / "report.html").read_text(encoding="utf-8")
    assert v["input"]["combined"] in html  # the methods cite the study input, not the derived folder


def test_reanalysing_in_place_updates_the_record_and_the_methods(run_dir, in_place):
    out, between = in_place["out"], in_place["between"]
    assert record(run_dir)["parameters"]["analyze"]["caliper"] == 0.25
    # after `latc analyze`: the new caliper, and the earlier report marked stale until it re-runs
    assert between["parameters"]["analyze"]["caliper"] == 0.1
    assert "stale" in between["stages"]["report"] and "stale" not in between["stages"]["derive"]
    m = record(out)
    assert m["parameters"]["analyze"]["caliper"] == 0.1 and m["stages"]["analyze"]["parameters"]["caliper"] == 0.1
    assert not any("stale" in s for s in m["stages"].values())
    assert m["stages"]["report"]["finished_utc"] >= m["stages"]["analyze"]["finished_utc"]
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    methods = html[html.index('id="methods"'):html.index('id="strobe"')]
    assert "caliper of 0.1 SD of the logit PS" in methods
    params = dict(_table_rows(methods, "tab-parameters"))
    assert params["analyze.caliper"] == "0.1" and params["analyze.imputations"] == "2"
    assert "0.25" not in " ".join(params.values()) and "Warning" not in methods


def _table_rows(html: str, key: str) -> list[list[str]]:
    """The body rows (cell texts) of the report table ``key``."""
    import html as H

    start = html.index(f'id="{key}"')
    body = html[html.index("<tbody", start):html.index("</tbody>", start)]
    return [[H.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_a_stale_analysis_csv_is_neither_left_nor_read(run_dir, tmp_path):
    """Re-writing an analysis into a folder removes the tables the earlier run listed and this one did
    not produce; the report reads only the tables results.json lists."""
    from latc.analysis import AnalysisOptions, run_analysis, write_results
    from latc.report import find_inputs

    out = tmp_path / "run"
    shutil.copytree(run_dir / "analysis", out / "analysis")
    assert find_inputs(out).table("survival", "cox") is not None
    res = run_analysis(run_dir / "derived", AnalysisOptions(), sections=["baseline"])
    write_results(res, out / "analysis")
    assert not (out / "analysis" / "survival" / "cox.csv").exists()
    assert not (out / "analysis" / "survival" / "cox_coding.csv").exists()
    assert (out / "analysis" / "baseline" / "table1.csv").is_file()
    (out / "analysis" / "survival" / "cox.csv").write_text("x\n1\n")  # a file latc did not list
    assert find_inputs(out).table("survival", "cox") is None


# --- 3. R: CSVs read without options; coding beside every model table ---------------------------------

BOOL_WORDS = {"TRUE", "FALSE"}


def test_derived_and_analysis_csvs_write_true_false_and_na(run_dir):
    subj_pq = pd.read_parquet(run_dir / "derived" / "subject.parquet")
    with open(run_dir / "derived" / "subject.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, cells = rows[0], rows[1:]
    for j, col in enumerate(header):
        values = {r[j] for r in cells}
        if pd.api.types.is_bool_dtype(subj_pq[col]):
            assert values <= BOOL_WORDS | {"NA"}, (col, values - BOOL_WORDS)
        n_null = int(subj_pq[col].isna().sum())
        assert sum(r[j] == "NA" for r in cells) == n_null, col
        assert not values & {"true", "false", "True", "False"}, col
    hr = (run_dir / "analysis" / "comparative" / "hazard_ratios.csv").read_text()
    assert "TRUE" in hr and "True" not in hr and "true" not in hr


MODEL_TABLES = [("comparative", "hazard_ratios"), ("comparative", "propensity_score"), ("comparative", "weight_sensitivity"),
                ("competing", "fine_gray"), ("sensitivity", "hazard_ratios"), ("sensitivity", "imputation_pooled"),
                ("survival", "cox"), ("subgroups", "forest"), ("prognostic", "discrimination")]


def test_every_model_table_states_its_coding_beside_it(run_dir):
    res = json.loads((run_dir / "analysis" / "results.json").read_text())
    assert "contrasts" in res["coding"] and res["coding"]["events"]["recurrence"].startswith("rec_event = 1")
    tables = {(s, t["name"]): t for s, sec in res["sections"].items() for t in sec["tables"]}
    for key in MODEL_TABLES:
        t = tables[key]
        cod = pd.read_csv(run_dir / "analysis" / t["coding_file"], keep_default_na=False)
        assert {"term", "type", "reference", "centering", "scale"} <= set(cod.columns), key
        assert (cod["type"] == "event").any(), key  # the event definition is stated
    terms = {c["term"]: c for c in tables[("comparative", "hazard_ratios")]["coding"]["terms"]}
    assert terms["neoadjuvant"]["reference"] == "upfront_surgery"
    assert (terms["age_per10"]["centering"], terms["age_per10"]["scale"]) == (55, 10)
    assert terms["histology_group"]["reference"] == "DTC" and terms["sex"]["reference"] == "female"
    # the stated reference is the level the model left out: its indicators are the CSV's terms
    cox = pd.read_csv(run_dir / "analysis" / "survival" / "cox.csv")
    hist = {c["term"]: c for c in tables[("survival", "cox")]["coding"]["terms"]}["histology_group"]
    fitted = set(cox.loc[cox["factor"].eq("histology_group") & cox["endpoint"].eq("OS"), "term"])
    assert fitted == set(hist["indicators"]) and f"histology_group[{hist['reference']}]" not in fitted
    assert hist["reference"] == "DTC" != sorted(hist["levels"])[0]  # R's factor() would have chosen ATC


def test_report_names_the_reference_beside_the_model_tables(run_dir):
    html = (run_dir / "report" / "report.html").read_text(encoding="utf-8")
    cox = html[html.index('id="tab-survival_cox"'):]
    cox = cox[:cox.index("</p>")]
    assert "histology_group: DTC (reference)" in cox and "1 (reference)" in cox
    for key in ("comparative_hazard_ratios", "competing_fine_gray", "sensitivity_hazard_ratios"):
        part = html[html.index(f'id="tab-{key}"'):]
        part = part[:part.index("</p>")]
        assert "upfront surgery (reference)" in part and "reference: upfront surgery" in part, key


@requires_r()
def test_r_reads_the_csvs_without_options(run_dir, tmp_path):
    import subprocess

    res = json.loads((run_dir / "analysis" / "results.json").read_text())
    derived = ["subject", "tte", "ae", "surgery", "response", "metadata"]
    files = [run_dir / "derived" / f"{n}.csv" for n in derived]
    files += [run_dir / "analysis" / x for sec in res["sections"].values() for t in sec["tables"]
              for x in (t["file"], t.get("coding_file")) if x]
    (tmp_path / "files.txt").write_text("\n".join(map(str, files)) + "\n")
    script = tmp_path / "read.R"
    script.write_text(R_READ)
    subprocess.run(["Rscript", str(script), str(tmp_path / "files.txt"), str(tmp_path / "r.csv")], check=True,
                   capture_output=True, timeout=300)
    r = pd.read_csv(tmp_path / "r.csv", keep_default_na=False)
    assert r["file"].nunique() == len(files)
    for f, g in r.groupby("file", sort=False):
        f = Path(f)
        strict = pd.read_csv(f, keep_default_na=False, na_values=["NA"])  # NA is the only missing value
        assert len(g) == strict.shape[1] and (g["nrow"] == len(strict)).all(), f
        # R reads a column holding nothing but blank cells (e.g. a `note` column without notes) as logical NA
        blank = [bool(len(strict)) and strict[c].astype("object").fillna("").astype(str).eq("").all() for c in strict.columns]
        expected = [len(strict) if b else int(k) for b, k in zip(blank, strict.isna().sum())]
        assert g["n_na"].tolist() == expected, f
        if f.parent.name == "derived" and f.stem != "metadata":
            pq = pd.read_parquet(f.with_suffix(".parquet"))
            assert g["n_na"].tolist() == pq.isna().sum().tolist(), f
            for (_, row), col in zip(g.iterrows(), pq.columns):
                if pq[col].isna().all():
                    continue
                if pd.api.types.is_bool_dtype(pq[col]):
                    assert row["class"] == "logical", (f.name, col, row["class"])
                elif pd.api.types.is_numeric_dtype(pq[col]):
                    assert row["class"] in ("numeric", "integer"), (f.name, col, row["class"])
        else:
            plain = pd.read_csv(f)
            for (_, row), col in zip(g.iterrows(), plain.columns):
                s = plain[col].dropna()
                if not len(s):
                    continue
                if pd.api.types.is_bool_dtype(plain[col]) or set(s.astype(str)) <= {"True", "False"}:
                    assert row["class"] == "logical", (f.name, col, row["class"])
                elif pd.api.types.is_numeric_dtype(plain[col]):
                    assert row["class"] in ("numeric", "integer"), (f.name, col, row["class"])


R_READ = r"""
args <- commandArgs(TRUE)
files <- readLines(args[1])
out <- do.call(rbind, lapply(files, function(f) {
  d <- read.csv(f)
  data.frame(file = f, column = names(d), class = vapply(d, function(x) class(x)[1], ""),
             n_na = vapply(d, function(x) sum(is.na(x)), 0), nrow = nrow(d))
}))
write.csv(out, args[2], row.names = FALSE)
"""

# the docs/r.md recipe: the primary IPTW model from patient_data.csv and the survival section's
# Cox model from subject.csv with the reference level taken from cox_coding.csv
R_MODELS = r"""
library(survival)
args <- commandArgs(TRUE)
run <- args[1]
pd <- read.csv(file.path(run, "analysis/comparative/patient_data.csv"))
iptw <- coxph(Surv(rec_time, rec_event) ~ neoadjuvant + strata(center), data = pd, weights = w_ate, robust = TRUE)
subject <- read.csv(file.path(run, "derived/subject.csv"))
coding <- read.csv(file.path(run, "analysis/survival/cox_coding.csv"))
neo <- subset(subject, analysis_set & cohort == "neoadjuvant")
neo$histology_group <- relevel(factor(neo$histology_group), ref = coding$reference[coding$term == "histology_group"])
os <- coxph(Surv(os_time_months, os_event) ~ histology_group, data = neo)
default <- coxph(Surv(os_time_months, os_event) ~ factor(histology_group, levels = sort(unique(histology_group))), data = neo)
write.csv(data.frame(term = c("iptw", names(coef(os)), "default_reference_terms"),
                     hr = c(exp(coef(iptw)), exp(coef(os)), NA),
                     note = c("", rep("", length(coef(os))), paste(names(coef(default)), collapse = ";"))),
          args[2], row.names = FALSE)
"""


@requires_r("survival")
def test_r_refits_the_models_from_the_csvs_with_the_stated_coding(run_dir, tmp_path):
    import subprocess

    script = tmp_path / "models.R"
    script.write_text(R_MODELS)
    subprocess.run(["Rscript", str(script), str(run_dir), str(tmp_path / "r.csv")], check=True, capture_output=True,
                   timeout=300)
    r = pd.read_csv(tmp_path / "r.csv", keep_default_na=False).set_index("term")
    hr = pd.read_csv(run_dir / "analysis" / "comparative" / "hazard_ratios.csv")
    iptw = hr[hr["endpoint"].eq("recurrence") & hr["analysis"].eq("iptw_ate")]["hr"].iloc[0]
    np.testing.assert_allclose(float(r.loc["iptw", "hr"]), iptw, rtol=1e-6)
    cox = pd.read_csv(run_dir / "analysis" / "survival" / "cox.csv")
    os_ = cox[cox["endpoint"].eq("OS") & cox["factor"].eq("histology_group")]
    for term, value in zip(os_["term"], os_["exp_coef"]):
        level = term.split("[")[1].rstrip("]")
        np.testing.assert_allclose(float(r.loc[f"histology_group{level}", "hr"]), value, rtol=1e-6)
    # without relevel() R takes the alphabetically first level (ATC) as the reference: other HRs
    assert "DTC" in r.loc["default_reference_terms", "note"]


# --- 4. a caption's n matches its rows or says why ------------------------------------------------------

GROUP = ("group", "cohort", "level", "best_overall_response")
KEYS = ("endpoint", "factor", "analysis", "model", "weighting", "weights", "outcome", "by", "denominator", "metric",
        "horizon", "sample")


def row_totals(df: pd.DataFrame) -> list[tuple[str, int]]:
    """Patients each block of rows covers: the ``n`` of a row, or of a block's "All" row, or the sum
    of ``n`` over a block's groups (cohorts, histology groups, levels)."""
    if "n" not in df.columns or not len(df):
        return []
    g = next((c for c in GROUP if c in df.columns), None)
    keys = [c for c in KEYS if c in df.columns and c != g]
    blocks = df.groupby([df[k].astype("str") for k in keys], sort=False) if keys else [("all rows", df)]
    out = []
    for key, sub in blocks:
        n = pd.to_numeric(sub["n"], errors="coerce").dropna()
        if g is None:
            out += [(str(key), int(v)) for v in n.unique()]
        elif len(n):
            every = sub.loc[n.index, g].astype("str").isin(["All", "overall"])
            out.append((str(key), int(n[every].iloc[0]) if every.any() else int(n.sum())))
    return out


def check_captions(results_dir: Path) -> tuple[int, list[str]]:
    from latc.report import build_sections, find_inputs

    checked, problems = 0, []
    for sec in build_sections(find_inputs(results_dir)):
        for t in sec.tables:
            m = re.search(r"\(n = ([\d,]+)\)", t.caption or "")
            if not m:
                continue
            n = int(m.group(1).replace(",", ""))
            for block, total in row_totals(t.data):
                checked += 1
                if total != n and f"n = {total:,} (" not in t.caption:
                    problems.append(f"{t.key}: caption n = {n}, rows {block} cover {total} and the caption does not say why")
    return checked, problems


def test_every_caption_n_matches_its_rows_or_explains_the_difference(run_dir):
    checked, problems = check_captions(run_dir)
    assert checked > 50 and not problems, problems
    html = (run_dir / "report" / "report.html").read_text(encoding="utf-8")
    assert html.count("Rows with a different n:") >= 6


def test_patients_left_out_of_a_survival_block_are_counted_in_the_caption(run_dir, tmp_path):
    """The shape of the reported case (caption 147, rows 146): one neoadjuvant patient without a
    histology group drops out of the by-histology rows; the caption must say so."""
    from latc.analysis import AnalysisOptions, run_analysis, write_results
    from latc.report._common import caption_of

    derived = tmp_path / "derived"
    shutil.copytree(run_dir / "derived", derived)
    s = pd.read_parquet(derived / "subject.parquet")
    neo = s.index[s["cohort"].eq("neoadjuvant") & s["analysis_set"].astype("boolean").fillna(False)]
    s.loc[neo[0], "histology_group"] = None
    s.to_parquet(derived / "subject.parquet")
    res = run_analysis(derived, AnalysisOptions(imputations=2), sections=["survival"])
    t = res.sections["survival"].tables["km_medians"]
    by_hist = t.data[t.data["factor"].eq("histology_group") & t.data["endpoint"].eq("OS")]
    assert by_hist["n"].sum() == t.n - 1
    write_results(res, tmp_path / "analysis")
    info = next(x for x in json.loads((tmp_path / "analysis" / "results.json").read_text())["sections"]["survival"]["tables"]
                if x["name"] == "km_medians")
    cap = caption_of(info)
    assert f"(n = {t.n:,})" in cap and f"OS by histology group n = {t.n - 1:,} (" in cap
    assert "1 without a histology group left out" in cap


def test_survival_by_histology_is_labelled_neoadjuvant_only_with_5_year_values(run_dir):
    lm = pd.read_csv(run_dir / "analysis" / "survival" / "km_landmarks.csv")
    hist = lm[lm["factor"].eq("histology_group") & lm["endpoint"].eq("OS")]
    assert {12, 24, 36, 60} <= set(hist["time"].astype(float))
    at60 = hist[hist["time"].eq(60)]
    assert (at60["survival"].notna() | at60["note"].astype(str).str.contains("no patient")).all()
    assert at60["survival"].notna().any()
    html = (run_dir / "report" / "report.html").read_text(encoding="utf-8")
    for key in ("survival_km_landmarks", "survival_km_medians", "survival_cox"):
        title = re.search(rf'id="tab-{key}"><b>Table \d+\.</b>([^<]*)', html).group(1)
        assert "neoadjuvant cohort only" in title and "histology" in title, (key, title)
    assert "5-year = 60 months" in re.search(r'id="tab-survival_km_landmarks"><b>Table \d+\.</b>([^<]*)', html).group(1)


def test_an_earlier_data_cut_adds_up_in_the_flow_and_is_not_a_derivation_problem(study, tmp_path):
    """``--data-cut 2024-12-31`` leaves ~40 later-enrolled patients out of derive: the STROBE flow
    must count them (screened − excluded = eligible) and the quality section must list the rows
    left out by form, not as 'derivation problems' (it showed 'Data cut / After data cut / 30')."""
    from latc.report._inputs import find_inputs
    from latc.report._quality import quality_section
    from latc.report._strobe import flow_counts

    path, _ = study
    invoke("validate", str(path), "--out", str(tmp_path / "validation"), "--data-cut", "2024-12-31")
    invoke("derive", str(tmp_path / "validation"), "--out", str(tmp_path))
    inp = find_inputs(tmp_path)
    counts = flow_counts(inp)
    left = counts["excluded"].get("Enrolled after the data cut (2024-12-31)", 0)
    subj = pd.read_parquet(tmp_path / "derived" / "subject.parquet")
    elig = pd.read_csv(tmp_path / "validation" / "eligibility.csv")
    clean = pd.read_parquet(tmp_path / "validation" / "clean" / "patients.parquet")
    assert left == (~elig["patient_id"].isin(subj["patient_id"]) & elig["patient_id"].isin(clean["patient_id"])).sum() > 0
    assert counts["screened"] - sum(counts["excluded"].values()) == counts["eligible"]
    sec = quality_section(inp)
    tables = {t.key: t for t in sec.tables}
    assert "data_cut_rows" in tables
    cut = tables["data_cut_rows"].data
    assert int(cut.loc[cut["form"].eq("patients"), "rows"].sum()) == left
    if "derivation_problems" in tables:
        assert not tables["derivation_problems"].data["derivation"].eq("data_cut").any()


def test_swimmer_lanes_show_nothing_after_the_data_cut():
    """The swimmer plot draws from the validated (uncut) tables: with ``--data-cut 2024-12-31`` it
    showed recurrences years after the lane's end (the data cut). The report cuts them first."""
    import latc.plot as P
    from latc.report._clinical import _at_data_cut

    tte = pd.DataFrame({"patient_id": ["P1"], "paramcd": ["OS"], "start_date": pd.to_datetime(["2024-01-01"]),
                        "adt": pd.to_datetime(["2024-12-31"]), "event": [0], "cohort": ["neoadjuvant"]})
    tables = {
        "treatments": pd.DataFrame({"patient_id": ["P1", "P1"], "start_date": pd.to_datetime(["2024-01-10", "2025-02-01"]),
                                    "stop_date": pd.to_datetime(["2025-03-01", "2025-04-01"]), "agent_class": ["mki", "mki"]}),
        "surgery": pd.DataFrame({"patient_id": ["P1", "P1"], "surgery_date": pd.to_datetime(["2024-06-01", "2025-06-01"])}),
        "follow_up": pd.DataFrame({"patient_id": ["P1", "P1"], "visit_date": pd.to_datetime(["2024-12-01", "2025-08-01"]),
                                   "recurrence_date": pd.to_datetime([None, "2025-07-15"])}),
    }
    lanes, courses, events = P.swimmer_data(_at_data_cut(tables, "2024-12-31"), tte)
    end = float(lanes["end"].max())
    assert len(courses) == 1 and float(courses["stop"].max()) <= end + 1e-9
    assert (events["time"] <= end + 1e-9).all() and "recurrence" not in set(events["event"])
    assert list(events.loc[events["event"].eq("surgery"), "time"].round(1)) == [5.0]
    assert _at_data_cut(tables, None) is tables
