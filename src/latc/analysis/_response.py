"""SAP section "Response to neoadjuvant therapy": imaging, biochemical and pathological response.

Rates with exact Clopper–Pearson 95 % CIs (R ``binom.test``) by ``latc.stats.response_rates``:

* imaging (RECIST 1.1, response set = analysis set ∩ treated): ORR (CR + PR) and DCR (CR + PR + SD
  [+ NON-CR/NON-PD]), confirmed and unconfirmed, overall, by histology group and by regimen
  (agent class); best-overall-response distribution. Denominator: the whole response set (a
  patient without an evaluable assessment is a non-responder, intention to treat).
* biochemical response (Tg/TgAb, calcitonin/CEA; ``latc.derive.biochem``): among neoadjuvant
  patients with an evaluable marker.
* pathological response among neoadjuvant patients with a graded resection specimen: pCR (no viable
  tumour) and MPR (≤ 10 % viable tumour, pCR included).
"""

from __future__ import annotations

import pandas as pd

from latc.stats import response_rates

from ._context import Context, attempt, concat
from ._data import _flag, need
from ._results import ResultTable, SectionResult, SectionSkipped

METHOD = "proportion with exact Clopper-Pearson CI (R binom.test(x, n)$conf.int)"


def _rates(df: pd.DataFrame, outcomes: list[str], by_list: list[str | None]) -> pd.DataFrame:
    parts = []
    for by in by_list:
        t = response_rates(df, outcomes, by=by)
        if by is not None:
            t = t.rename(columns={by: "level"})
            t.insert(1, "by", by)
        else:
            t.insert(1, "by", "overall")
            t.insert(2, "level", "All")
        parts.append(t)
    out = concat(parts)
    return out[~((out["by"] != "overall") & (out["level"].astype("str") == "All"))].reset_index(drop=True)


def run(ctx: Context, sec: SectionResult) -> None:
    s = ctx.data.analysis_set
    need(s, ["cohort", "response_set"])
    neo = s[s["cohort"].eq("neoadjuvant").fillna(False).to_numpy(bool)]
    if not len(neo):
        raise SectionSkipped("no neoadjuvant patient in the analysis set")
    rs = s[_flag(s["response_set"])].copy()
    conf = ctx.options.conf_level
    par = {"conf_level": conf, "method": "clopper-pearson"}

    def imaging():
        if not len(rs):
            raise SectionSkipped("the response set is empty (no treated patient in the analysis set)")
        outcomes = ["objective_response", "confirmed_objective_response", "disease_control", "confirmed_disease_control"]
        need(rs, outcomes + ["histology_group", "agent_class"])
        d = rs[["histology_group", "agent_class"]].astype("str").fillna("unknown")
        for o in outcomes:  # intention to treat: no evaluable response = non-responder
            d[o] = rs[o].astype("boolean").fillna(False).astype(bool)
        t = _rates(d, outcomes, [None, "histology_group", "agent_class"])
        t["by"] = t["by"].replace({"agent_class": "regimen (agent class)"})
        bor = (rs["best_overall_response"].astype("str").fillna("MISSING").value_counts()
               .rename_axis("best_overall_response").rename("n").reset_index())
        from latc.stats import proportion_ci

        ci = proportion_ci(bor["n"].to_numpy(), len(rs))
        bor = pd.concat([bor, ci[["proportion", "lower", "upper"]]], axis=1)
        cbor = rs["confirmed_best_overall_response"].astype("str").fillna("MISSING").value_counts()
        bor["confirmed_n"] = bor["best_overall_response"].map(cbor).fillna(0).astype(int)
        pop = "response set (analysis set, neoadjuvant, at least one dose); intention to treat"
        return [ResultTable("objective_response", "Objective response and disease control (RECIST 1.1)", t, METHOD,
                            {**par, "denominator": "response set (non-evaluable counted as non-responders)",
                             "confirmation": "confirmed = CR/PR confirmed >= 4 weeks later (RECIST 1.1 section 4.4)"},
                            pop, len(rs)),
                ResultTable("best_overall_response", "Best overall response (RECIST 1.1)", bor, METHOD, par, pop, len(rs))]

    attempt(sec, "objective_response", imaging)

    def biochemical():
        need(neo, ["biochemical_response", "biochemical_marker", "histology_group"])
        ev = neo[neo["biochemical_response"].notna()]
        if not len(ev):
            raise SectionSkipped("no neoadjuvant patient with an evaluable biochemical response")
        d = pd.DataFrame({"histology_group": ev["histology_group"].astype("str"),
                          "marker": ev["biochemical_marker"].astype("str").fillna("unknown"),
                          "biochemical_response": ev["biochemical_response"].eq("biochemical_response").to_numpy(bool),
                          "biochemical_progression": ev["biochemical_response"].eq("biochemical_progression").to_numpy(bool)})
        t = _rates(d, ["biochemical_response", "biochemical_progression"], [None, "histology_group", "marker"])
        return ResultTable("biochemical_response", "Biochemical response to neoadjuvant therapy", t, METHOD,
                           {**par, "categories": "latc.derive.biochem (Tg only when TgAb negative; calcitonin/CEA for MTC)"},
                           "neoadjuvant patients (analysis set) with an evaluable tumour marker", len(ev))

    attempt(sec, "biochemical_response", biochemical)

    def pathological():
        need(neo, ["pcr", "mpr", "pathological_response", "histology_group", "agent_class"])
        g = neo[neo["pathological_response"].notna()]
        if not len(g):
            raise SectionSkipped("no neoadjuvant patient with a graded resection specimen")
        d = pd.DataFrame({"histology_group": g["histology_group"].astype("str"),
                          "agent_class": g["agent_class"].astype("str").fillna("unknown"),
                          "pcr": g["pcr"].astype("boolean").fillna(False).to_numpy(bool),
                          "mpr": g["mpr"].astype("boolean").fillna(False).to_numpy(bool)})
        t = _rates(d, ["pcr", "mpr"], [None, "histology_group", "agent_class"])
        t["by"] = t["by"].replace({"agent_class": "regimen (agent class)"})
        return ResultTable("pathological_response", "Pathological complete and major response", t, METHOD,
                           {**par, "pcr": "no viable tumour", "mpr": "<= 10 % viable tumour (pCR included)"},
                           "neoadjuvant patients (analysis set) with a graded resection specimen", len(g))

    attempt(sec, "pathological_response", pathological)
