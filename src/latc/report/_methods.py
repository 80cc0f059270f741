"""Summary, methods (generated from what actually ran), biomarkers (optional), not-computed list.

The methods text is assembled from ``manifest.json`` (the run record every stage updates: software
versions, the input's SHA-256, each stage's command, parameters and timing), ``derived/parameters.json``
(endpoint definitions) and ``results.json`` (every analysis table's method, parameters, coding,
population and n) — nothing is written that did not run, and a stage the record marks stale (or
analysis parameters that differ from the record's) is said so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ._common import add_table
from ._inputs import ReportInputs, _read_csv
from ._model import Section
from ._outcomes import weight_dependence

__all__ = ["biomarkers_section", "methods_section", "not_computed", "summary_section"]


def _pick(df: pd.DataFrame | None, **where: Any) -> pd.Series | None:
    if df is None or not len(df):
        return None
    m = pd.Series(True, index=df.index)
    for k, v in where.items():
        if k not in df:
            return None
        m &= df[k].astype("str").eq(str(v))
    r = df[m]
    return r.iloc[0] if len(r) else None


def _rate(r: pd.Series | None) -> str | None:
    if r is None or pd.isna(r.get("rate")):
        return None
    return (f"{int(r['responders'])}/{int(r['n'])} ({100 * r['rate']:.1f} %, 95 % CI "
            f"{100 * r['lower']:.1f}–{100 * r['upper']:.1f})")


def summary_section(inp: ReportInputs) -> Section:
    sec = Section("summary", "Summary")
    ins = inp.results.get("inputs", {})
    items: list[tuple[str, str]] = []
    if ins.get("analysis_set") is not None:
        by = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in (ins.get("analysis_set_by_cohort") or {}).items())
        items.append(("Analysis set", f"{ins['analysis_set']:,} eligible patients ({by})"))
    orr = inp.table("response", "objective_response")
    for label, outcome in (("Objective response (RECIST 1.1)", "objective_response"),
                           ("Confirmed objective response", "confirmed_objective_response")):
        v = _rate(_pick(orr, outcome=outcome, by="overall"))
        if v:
            items.append((label, v))
    pr = inp.table("response", "pathological_response")
    for label, outcome in (("Pathological complete response", "pcr"), ("Major pathological response (≤ 10 % viable)", "mpr")):
        v = _rate(_pick(pr, outcome=outcome, by="overall"))
        if v:
            items.append((label, v))
    so = inp.table("surgery", "outcomes")
    for cohort in ("neoadjuvant", "upfront_surgery"):
        v = _rate(_pick(so, outcome="r0_resection", cohort=cohort))
        if v:
            items.append((f"R0 resection, {cohort.replace('_', ' ')}", v))
    prim = inp.primary()  # the number the analysis wrote (results.json "primary"), not re-picked here
    if prim is not None:
        if prim.estimable:
            items.append((f"Primary comparison: {prim.label}",
                          f"{prim.estimate:.2f} (95 % CI {prim.lower:.2f}–{prim.upper:.2f}), p = {prim.p:.3g}"))
            dep = weight_dependence(inp.table("comparative", "weight_sensitivity"))
            if dep is not None and dep["moved"]:
                t = dep["truncated"]
                items.append((f"Primary comparison with weights {dep['truncation']}",
                              f"{t['hr']:.2f} (95 % CI {t['lower']:.2f}–{t['upper']:.2f}) — the primary estimate "
                              f"rests on a few heavily weighted patients (largest weight "
                              f"{dep['primary']['max_weight']:.1f}); see the comparison section"))
        else:
            items.append(("Primary comparison", f"not estimable — {prim.note}"))
    elif "primary" not in inp.results and inp.table("comparative", "hazard_ratios") is not None:
        items.append(("Primary comparison", "not in this analysis folder (written by a latc before December 2026): "
                                            "run `latc analyze` again"))
    elif inp.section("comparative").get("reason"):
        items.append(("Comparison with upfront surgery", f"not computed — {inp.section('comparative')['reason']}"))
    sec.extra["items"] = items
    if not items:
        sec.paragraphs.append("No analysis results: the headline estimates are not available.")
    return sec


def _software(inp: ReportInputs) -> dict[str, str]:
    sw = inp.manifest.get("software")
    if sw:
        return sw
    from latc.manifest import software_versions

    return software_versions()


def _flat(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _flat(v, f"{prefix}{k}." if not isinstance(v, dict) else f"{prefix}{k}.")
        return out
    return [(prefix.rstrip("."), json.dumps(d, ensure_ascii=False) if isinstance(d, (list, dict)) else str(d))]


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Keys whose values differ between two parameter dicts (JSON-normalised), for a staleness note."""
    na, nb = json.loads(json.dumps(a, default=str)), json.loads(json.dumps(b, default=str))
    return sorted(k for k in set(na) | set(nb) if na.get(k) != nb.get(k))


def _stages_text(m: dict[str, Any]) -> str | None:
    stages = m.get("stages") or {}
    if not stages:
        return None
    parts = []
    for name, st in stages.items():
        if name == "report":  # its entry is the previous build; this report is being built now
            continue
        how = f"`{st['command']}`" if st.get("command") else "the Python API"
        where = f", recorded in {st['recorded_in']}" if st.get("recorded_in") else ""
        parts.append(f"{name} by {how} at {st.get('finished_utc', '?')} (latc {st.get('latc_version', '?')}{where})")
    return ("Run record (manifest.json, updated by every stage): " + "; ".join(parts)
            + "; this report built from them." if parts else None)


def methods_section(inp: ReportInputs) -> Section:
    sec = Section("methods", "Methods (generated from what ran)")
    m = inp.manifest
    dp = inp.derive_parameters or (inp.results.get("inputs", {}) or {}).get("derive_parameters", {})
    ap = inp.results.get("parameters", {})
    stages = m.get("stages") or {}
    if m:
        inp_ = m.get("input", {})
        sec.paragraphs.append(
            f"Data: {len(inp_.get('files', {}))} input file(s) read from {Path(str(inp_.get('path', '?'))).name} "
            f"(SHA-256 of the input, combined: {inp_.get('combined', '?')}); data dictionary "
            f"{m.get('dictionary', {}).get('study', '')} version {m.get('dictionary', {}).get('version', '?')}. "
            f"Pipeline latc {m.get('latc_version', '?')}, run record updated {m.get('updated_utc') or m.get('created_utc', '?')}"
            + (f" by `{m['command']}`" if m.get("command") else "") + ".")
        text = _stages_text(m)
        if text:
            sec.paragraphs.append(text)
        # the report stage is this report being built: its earlier entry being stale is why it runs
        warnings = [f"the {name} stage is stale: {st['stale']}" for name, st in stages.items()
                    if st.get("stale") and name != "report"]
        rec_ap = (m.get("parameters") or {}).get("analyze")
        if ap and rec_ap is not None:
            diff = _differences(rec_ap, ap)
            if diff:
                warnings.append("the run record's analyze parameters differ from analysis/results.json in "
                                + ", ".join(diff) + " (the tables use results.json)")
        if warnings:
            sec.paragraphs.append("Warning — " + "; ".join(warnings) + ".")
    elif (inp.results.get("inputs") or {}).get("federated"):
        sec.paragraphs.append("Federated analysis: the coordinator holds no patient data, so there is no input checksum; "
                              "each site's release log records the SHA-256 of every message it sent (section "
                              "'Federated analysis').")
    else:
        sec.paragraphs.append("No manifest.json in the results folder: the input checksum and run parameters are not "
                              "recorded here (run `latc run` to get them).")
    if dp:
        sec.paragraphs.append(
            f"Endpoints (latc derive): data cut {dp.get('data_cut', '?')}; imaging response per RECIST 1.1 from "
            f"{dp.get('response_source', 'computed')} responses, CR/PR confirmed ≥ {dp.get('confirm_days', '?')} days later, "
            f"SD at least {dp.get('sd_min_days', '?')} days from the first dose; time zero of OS/DSS/EFS = "
            f"{dp.get('time_zero', '?')}; MPR = ≤ {dp.get('mpr_threshold', '?')} % viable tumour; complications permanent "
            f"after {dp.get('permanence_months', '?')} months; treatment-emergent AEs up to {dp.get('days_after_last_dose', '?')} "
            "days after the last dose. Adverse events by CTCAE v5, complications by Clavien–Dindo, staging by AJCC 8th "
            "edition, recurrence risk by ATA 2015.")
    if ap and ap.get("federated"):
        sec.paragraphs.append(
            f"Statistics (federated, latc.federated): {int(100 * ap.get('conf_level', 0.95))} % confidence intervals; "
            f"Kaplan–Meier CIs with the {ap.get('conf_type', 'log')} transform; propensity score by logistic regression "
            f"(GLORE: summed per-site gradients and Hessians, {ap.get('ps_iterations', '?')} Newton rounds) on "
            f"{', '.join(ap.get('ps_covariates', []))}; {'stabilized ' if ap.get('stabilize') else ''}IPTW (ATE) and "
            "overlap weights computed at the sites; Cox models stratified by center (= site), Efron ties, robust "
            "sandwich SE for the weighted models; engine "
            f"{ap.get('engine', '?')}. Each table equals `latc analyze` on the pooled rows to rounding "
            "(docs/federated.md).")
    elif ap:
        sec.paragraphs.append(
            f"Statistics (latc analyze): {int(100 * ap.get('conf_level', 0.95))} % confidence intervals; Kaplan–Meier CIs "
            f"with the {ap.get('conf_type', 'log')} transform; landmarks at "
            f"{', '.join(f'{h:g}' for h in ap.get('landmarks_months', []))} months; Cox models with "
            f"{ap.get('ties', 'efron')} ties; propensity "
            f"score by logistic regression, 1:{ap.get('match_ratio', 1)} nearest-neighbour matching with a caliper of "
            f"{ap.get('caliper', '?')} SD of the logit PS{' (exact on center)' if ap.get('match_exact_center') else ''}, "
            f"{'stabilized ' if ap.get('stabilize') else ''}IPTW (ATE) and overlap weights; centers smaller than "
            f"{ap.get('min_center_size', '?')} patients pooled; models need ≥ {ap.get('min_events', '?')} events; multiple "
            f"imputation {_imputation_text(inp, ap)} ({ap.get('imputation_iterations', '?')} iterations, seed "
            f"{ap.get('seed', '?')}); landmark {ap.get('landmark_months', '?')} months; prognostic horizons "
            f"{', '.join(f'{h:g}' for h in ap.get('prognostic_horizons_months', []))} months with "
            f"{ap.get('prognostic_bootstrap', '?')} bootstrap replicates. Every estimate agrees with R's reference "
            "packages (survival, MatchIt, WeightIt, cobalt, cmprsk, mice, EValue, riskRegression) as documented in docs/stats.")
        coding = inp.results.get("coding") or {}
        if coding.get("contrasts"):
            sec.paragraphs.append(
                "Covariate coding (analysis/results.json \"coding\" and <table>_coding.csv beside each model table): "
                "categorical covariates use " + coding["contrasts"] + "; the comparison's reference is upfront surgery "
                "(neoadjuvant = 1); age is centered at 55 years and scaled per 10 years; the other numbers are not "
                "centered. Each model table's caption names its terms, reference levels and event definition.")
    rows = []
    for s, info in inp.results.get("sections", {}).items():
        for t in info.get("tables", []):
            # the section's title: its key would be shown through the code labels ("baseline" = ATA risk model)
            rows.append({"section": info.get("title") or s, "table": t.get("title") or t.get("name"), "method": t.get("method", ""),
                         "population": t.get("population", ""), "n": t.get("n"),
                         "parameters": json.dumps(t.get("parameters", {}), ensure_ascii=False)[:2000],
                         "file": f"analysis/{t.get('file', '')}"})
    if rows:
        add_table(sec, "methods_analyses", "Analyses that ran: method, population and n per table", pd.DataFrame(rows),
                  columns=["section", "table", "method", "population", "n"],
                  caption="Parameters of every table are in tables.xlsx (sheet methods_analyses) and analysis/results.json.")
    sw = _software(inp)
    add_table(sec, "software", "Software versions", pd.DataFrame(sorted(sw.items()), columns=["software", "version"]),
              caption="From manifest.json" if m.get("software") else "Of the process that built the report (no manifest.json).")
    # one source per stage: derive from derived/parameters.json and analyze from results.json (what the
    # tables were computed with); validate and report from the run record
    rec_params = m.get("parameters") or {}
    stage_params = {"validate": rec_params.get("validate"), "derive": dp or rec_params.get("derive"),
                    "analyze": ap or rec_params.get("analyze")}
    if not stages:  # a record written before stages existed: its flat parameters
        stage_params["run"] = {k: v for k, v in rec_params.items() if k not in ("derive", "analyze")} or None
    params = _flat({k: v for k, v in stage_params.items() if v})
    if params:
        add_table(sec, "parameters", "Parameters", pd.DataFrame(params, columns=["parameter", "value"]),
                  caption="derive: derived/parameters.json; analyze: analysis/results.json; validate: manifest.json.")
    if m.get("timings_seconds"):
        add_table(sec, "timings", "Pipeline stage timings (seconds)",
                  pd.DataFrame(list(m["timings_seconds"].items()), columns=["stage", "seconds"]))
    return sec


def not_computed(inp: ReportInputs) -> Section:
    sec = Section("not_computed", "Analyses not computed, and why")
    rows = []
    for s, info in inp.results.get("sections", {}).items():
        if info.get("reason"):
            rows.append({"section": s, "table": "(whole section)", "reason": info["reason"]})
        for nc in info.get("not_computed", []):
            rows.append({"section": s, "table": nc.get("table"), "reason": nc.get("reason")})
    if not inp.results:
        rows.append({"section": "analysis", "table": "(all)", "reason": "no analysis/results.json in the results folder"})
    if rows:
        add_table(sec, "not_computed", "Not computed (from analysis/results.json)", pd.DataFrame(rows))
    else:
        sec.paragraphs.append("Every planned analysis was computed.")
    return sec


def biomarkers_section(inp: ReportInputs, max_tables: int = 6) -> Section | None:
    """Short "Biomarkers" section listing the omics outputs (only when ``omics/`` exists)."""
    if inp.omics_dir is None:
        return None
    sec = Section("biomarkers", "Biomarkers (omics)")
    files = sorted(inp.omics_dir.rglob("*.csv"))
    rows = []
    for p in files:
        try:
            head = pd.read_csv(p, nrows=5000)
        except Exception:
            continue
        rows.append({"file": str(p.relative_to(inp.omics_dir.parent)), "rows (up to 5,000 read)": len(head),
                     "columns": len(head.columns)})
    sec.paragraphs.append("Outputs of the `latc omics` commands found in the results folder; the full tables and "
                          "figures are in omics/.")
    add_table(sec, "omics_files", "Omics outputs", pd.DataFrame(rows))
    shown = 0
    for p in files:
        if shown >= max_tables or not any(k in p.stem for k in ("performance", "association", "permutation")):
            continue
        try:
            df = _read_csv(p)
        except Exception:
            continue
        if 0 < len(df) <= 40:
            add_table(sec, f"omics_{p.stem}"[:28], f"{p.stem.replace('_', ' ').capitalize()} ({p.parent.name})", df,
                      source=str(p.relative_to(inp.omics_dir.parent)), digits=3)
            shown += 1
    return sec


def _imputation_text(inp, ap: dict) -> str:
    """"m = 20", or, when von Hippel's rule chose another number than the one asked for, the number
    used and why (the sensitivity table's ``imputation_choice``, written by the analysis)."""
    asked = ap.get("imputations", "?")
    par = (inp.table_info("sensitivity", "hazard_ratios") or {}).get("parameters") or {}
    used, choice = par.get("imputations_used"), par.get("imputation_choice") or {}
    if used is None or used == asked:
        return f"m = {asked}"
    reason = choice.get("reason") if isinstance(choice, dict) else None
    return f"m = {used} (asked for {asked}{'; ' + reason if reason else ''})"

