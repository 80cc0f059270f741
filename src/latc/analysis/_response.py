"""SAP section "Response to neoadjuvant therapy": imaging, biochemical and pathological response.

Rates with exact Clopper–Pearson CIs (95 % unless ``conf_level``) (R ``binom.test``) by ``latc.stats.response_rates``:

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

#: outcomes and row blocks (``None`` = overall) of each rate table; shared with ``latc.federated._rates``
IMAGING_OUTCOMES = ["objective_response", "confirmed_objective_response", "disease_control",
                    "confirmed_disease_control"]
IMAGING_BY: list[str | None] = [None, "histology_group", "agent_class"]
BIOCHEMICAL_OUTCOMES = ["biochemical_response", "biochemical_progression"]
BIOCHEMICAL_BY: list[str | None] = [None, "histology_group", "marker"]
PATHOLOGICAL_OUTCOMES = ["pcr", "mpr"]
PATHOLOGICAL_BY: list[str | None] = [None, "histology_group", "agent_class"]
#: the ``by`` column's words for a block (others keep the column name)
BY_LABELS: dict[str | None, str] = {None: "overall", "agent_class": "regimen (agent class)"}


def _rates(df: pd.DataFrame, outcomes: list[str], by_list: list[str | None], conf_level: float = 0.95) -> pd.DataFrame:
    parts = []
    for by in by_list:
        t = response_rates(df, outcomes, by=by, conf_level=conf_level)
        if by is not None:
            t = t.rename(columns={by: "level"})
            t.insert(1, "by", by)
        else:
            t.insert(1, "by", "overall")
            t.insert(2, "level", "All")
        parts.append(t)
    out = concat(parts)
    return out[~((out["by"] != "overall") & (out["level"].astype("str") == "All"))].reset_index(drop=True)


def rate_table(d: pd.DataFrame, outcomes: list[str], by_list: list[str | None], *,
               conf_level: float = 0.95) -> pd.DataFrame:
    """Rates of ``outcomes`` overall and per level of each ``by_list`` column (blocks in that order,
    outcomes in order, levels sorted), ``by`` worded by :data:`BY_LABELS`; ``conf_level`` of the CIs."""
    t = _rates(d, outcomes, by_list, conf_level)
    t["by"] = t["by"].replace({"agent_class": BY_LABELS["agent_class"]})
    return t


def response_populations(s: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(neoadjuvant patients, response set) of the analysis set ``s``."""
    need(s, ["cohort", "response_set"])
    neo = s[s["cohort"].eq("neoadjuvant").fillna(False).to_numpy(bool)]
    return neo, s[_flag(s["response_set"])].copy()


def imaging_frame(rs: pd.DataFrame) -> pd.DataFrame:
    """The response set's imaging outcomes, intention to treat (no evaluable response = non-responder)."""
    need(rs, IMAGING_OUTCOMES + ["histology_group", "agent_class"])
    d = rs[["histology_group", "agent_class"]].astype("str").fillna("unknown")
    for o in IMAGING_OUTCOMES:
        d[o] = rs[o].astype("boolean").fillna(False).astype(bool)
    return d


def bor_counts(rs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Patients per best overall response and per confirmed best overall response ("MISSING" when
    none), each in order of first appearance (``value_counts(sort=False)``)."""
    bor = rs["best_overall_response"].astype("str").fillna("MISSING").value_counts(sort=False)
    cbor = rs["confirmed_best_overall_response"].astype("str").fillna("MISSING").value_counts(sort=False)
    return bor, cbor


def bor_table(bor: pd.Series, cbor: pd.Series, n: int, *, conf_level: float = 0.95) -> pd.DataFrame:
    """The best-overall-response distribution from :func:`bor_counts`: most frequent first (ties in
    order of first appearance, as ``value_counts``), exact CI of n / response set, confirmed_n."""
    from latc.stats import proportion_ci

    bor = (bor.sort_values(ascending=False, kind="stable").rename_axis("best_overall_response").rename("n")
           .reset_index())
    ci = proportion_ci(bor["n"].to_numpy(), n, conf_level=conf_level)
    bor = pd.concat([bor, ci[["proportion", "lower", "upper"]]], axis=1)
    bor["confirmed_n"] = bor["best_overall_response"].map(cbor).fillna(0).astype(int)
    return bor


def biochemical_frame(neo: pd.DataFrame) -> pd.DataFrame:
    """Neoadjuvant patients with an evaluable tumour marker: response and progression flags."""
    need(neo, ["biochemical_response", "biochemical_marker", "histology_group"])
    ev = neo[neo["biochemical_response"].notna()]
    return pd.DataFrame({"histology_group": ev["histology_group"].astype("str"),
                         "marker": ev["biochemical_marker"].astype("str").fillna("unknown"),
                         "biochemical_response": ev["biochemical_response"].eq("biochemical_response").to_numpy(bool),
                         "biochemical_progression": ev["biochemical_response"].eq("biochemical_progression").to_numpy(bool)})


def pathological_frame(neo: pd.DataFrame) -> pd.DataFrame:
    """Neoadjuvant patients with a graded resection specimen: pCR and MPR flags."""
    need(neo, ["pcr", "mpr", "pathological_response", "histology_group", "agent_class"])
    g = neo[neo["pathological_response"].notna()]
    return pd.DataFrame({"histology_group": g["histology_group"].astype("str"),
                         "agent_class": g["agent_class"].astype("str").fillna("unknown"),
                         "pcr": g["pcr"].astype("boolean").fillna(False).to_numpy(bool),
                         "mpr": g["mpr"].astype("boolean").fillna(False).to_numpy(bool)})


def run(ctx: Context, sec: SectionResult) -> None:
    neo, rs = response_populations(ctx.data.analysis_set)
    if not len(neo):
        raise SectionSkipped("no neoadjuvant patient in the analysis set")
    conf = ctx.options.conf_level
    par = {"conf_level": conf, "method": "clopper-pearson"}

    def imaging():
        if not len(rs):
            raise SectionSkipped("the response set is empty (no treated patient in the analysis set)")
        t = rate_table(imaging_frame(rs), IMAGING_OUTCOMES, IMAGING_BY, conf_level=conf)
        bor = bor_table(*bor_counts(rs), len(rs), conf_level=conf)
        pop = "response set (analysis set, neoadjuvant, at least one dose); intention to treat"
        return [ResultTable("objective_response", "Objective response and disease control (RECIST 1.1)", t, METHOD,
                            {**par, "denominator": "response set (non-evaluable counted as non-responders)",
                             "confirmation": "confirmed = CR/PR confirmed >= 4 weeks later (RECIST 1.1 section 4.4)"},
                            pop, len(rs)),
                ResultTable("best_overall_response", "Best overall response (RECIST 1.1)", bor, METHOD, par, pop, len(rs))]

    attempt(sec, "objective_response", imaging)

    def biochemical():
        d = biochemical_frame(neo)
        if not len(d):
            raise SectionSkipped("no neoadjuvant patient with an evaluable biochemical response")
        t = rate_table(d, BIOCHEMICAL_OUTCOMES, BIOCHEMICAL_BY, conf_level=conf)
        return ResultTable("biochemical_response", "Biochemical response to neoadjuvant therapy", t, METHOD,
                           {**par, "categories": "latc.derive.biochem (Tg only when TgAb negative; calcitonin/CEA for MTC)"},
                           "neoadjuvant patients (analysis set) with an evaluable tumour marker", len(d))

    attempt(sec, "biochemical_response", biochemical)

    def pathological():
        d = pathological_frame(neo)
        if not len(d):
            raise SectionSkipped("no neoadjuvant patient with a graded resection specimen")
        t = rate_table(d, PATHOLOGICAL_OUTCOMES, PATHOLOGICAL_BY, conf_level=conf)
        return ResultTable("pathological_response", "Pathological complete and major response", t, METHOD,
                           {**par, "pcr": "no viable tumour", "mpr": "<= 10 % viable tumour (pCR included)"},
                           "neoadjuvant patients (analysis set) with a graded resection specimen", len(d))

    attempt(sec, "pathological_response", pathological)
