"""Response, surgical-outcome and adverse-event rates, federated: `latc analyze`'s rate tables from per-site counts.

Every rate in the pooled ``response``, ``surgery`` and ``safety`` sections is a proportion x / n with
an exact Clopper–Pearson interval (Clopper & Pearson, Biometrika 1934;26:404; R ``binom.test``),
which depends on the patients only through (x, n). Each site therefore runs the analysis's own row
selection and coding (``latc.analysis._response`` / ``_surgery`` / ``_safety``: the response set,
intention-to-treat flags, the operated set, the safety set and its treatment-emergent AEs, a patient
once per CTCAE term) on its own `latc derive` output and sends the **counts only**; the coordinator
sums them per cell and rebuilds each table with the analysis's own functions (``add_rate_columns``,
``bor_table``, ``term_table``, ``overview_table``) — the pooled table, exactly, in its row order:

* rates by outcome × block × level (``response/objective_response``, ``biochemical_response``,
  ``pathological_response``, ``surgery/outcomes``, ``surgery/organ_preservation``): responders, n
  (evaluable) and not evaluable per row; rows in the pooled order (blocks and outcomes as the
  analysis lists them, levels sorted, a missing level last);
* ``response/best_overall_response``: patients per best overall response and per confirmed best
  overall response, and the response set; most frequent first — ties in order of first appearance,
  as pandas ``value_counts``: each site lists its categories in its own patients' order, the
  coordinator in site order, which is the pooled order when the pooled table lists patients by
  center (as `latc derive` does);
* ``safety/ae_by_term``: patients with the term (any grade, grade ≥ 3) per term, the term's
  kinase-inhibitor toxicity group (a label of the term) and the safety set; most frequent term first;
* ``safety/ae_overview``: patients per overview category and the safety set.

Disclosure (analysis ``"response_rates"``; DataSHIELD ``nfilter.tab``): every released count cell —
x, n − x and n of each rate, not-evaluable counts, the set sizes — in 1..min−1 withholds the site's
whole table (empty payload, the reasons listed); the coordinator lists the table in ``not_computed``
with the site and cell, and computes the other tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._disclosure import FederatedDisclosureError, FederatedInputError, check_messages
from ._messages import Message
from ._protocol import SiteRuntime, site_step

__all__ = ["RATE_TABLES", "rate_tables", "site_rate_counts"]

ANALYSIS = "response_rates"
STEP = "rate_counts"
#: the count columns of a rate row (``latc.stats.response_rates``)
COUNTS = ["responders", "n", "not_evaluable"]
#: key columns of the rate tables built by ``latc.analysis._response.rate_table``
BLOCK_KEYS = ["outcome", "by", "level"]


def _plain(v: Any) -> Any:
    return None if pd.isna(v) else v


# ---------------------------------------------------------------------------------------- site
def _rate_payload(t: pd.DataFrame, keys: list[str]) -> tuple[dict, dict[str, int]]:
    """Key values and (responders, n, not evaluable) of each row of a rate table, and its count cells
    (x, n − x, n, not evaluable of every row)."""
    rows = [[_plain(v) for v in r] for r in t[keys].itertuples(index=False, name=None)]
    counts = t[COUNTS].astype(np.int64).to_numpy().tolist()
    cells: dict[str, int] = {}
    for key, (x, n, ne) in zip(rows, counts):
        label = " | ".join(f"{k}={v}" for k, v in zip(keys, key))
        cells.update({f"{label}: responders": x, f"{label}: non-responders": n - x, f"{label}: evaluable": n,
                      f"{label}: not evaluable": ne})
    return {"columns": keys, "keys": rows, "counts": counts}, cells


def _with_set(payload: dict, cells: dict[str, int], name: str, n: int) -> tuple[dict, dict[str, int]]:
    return {**payload, "set": name, "n_set": n}, {**cells, name: n}


def _site_blocks(data: Any, table: str) -> tuple[dict, dict[str, int]]:
    """``response/objective_response``, ``biochemical_response``, ``pathological_response`` at a site."""
    from latc.analysis import _response as R

    neo, rs = R.response_populations(data.analysis_set)
    if table == "response/objective_response":
        d, outcomes, by, name = R.imaging_frame(rs), R.IMAGING_OUTCOMES, R.IMAGING_BY, "response set"
    elif table == "response/biochemical_response":
        d, outcomes, by = R.biochemical_frame(neo), R.BIOCHEMICAL_OUTCOMES, R.BIOCHEMICAL_BY
        name = "neoadjuvant patients with an evaluable marker"
    else:
        d, outcomes, by = R.pathological_frame(neo), R.PATHOLOGICAL_OUTCOMES, R.PATHOLOGICAL_BY
        name = "neoadjuvant patients with a graded specimen"
    payload, cells = _with_set(*_rate_payload(R.rate_table(d, outcomes, by), BLOCK_KEYS), name, len(d))
    return {**payload, "neoadjuvant": bool(len(neo))}, cells


def _site_bor(data: Any, table: str) -> tuple[dict, dict[str, int]]:
    """Patients per best overall response and confirmed best overall response (first-appearance order)."""
    from latc.analysis import _response as R
    from latc.analysis._data import need

    neo, rs = R.response_populations(data.analysis_set)
    need(rs, ["best_overall_response", "confirmed_best_overall_response"])
    bor, cbor = R.bor_counts(rs)
    n = len(rs)
    cells = {f"best_overall_response={k}: {w}": v for k, c in bor.items() for w, v in (("patients", c), ("others", n - c))}
    cells.update({f"confirmed_best_overall_response={k}: {w}": v for k, c in cbor.items()
                  for w, v in (("patients", c), ("others", n - c))})
    payload = {"categories": bor.index.tolist(), "n": bor.astype(np.int64).tolist(),
               "confirmed_categories": cbor.index.tolist(), "confirmed_n": cbor.astype(np.int64).tolist(),
               "neoadjuvant": bool(len(neo))}
    return _with_set(payload, cells, "response set", n)


def _site_surgery(data: Any, table: str) -> tuple[dict, dict[str, int]]:
    """``surgery/outcomes`` (by cohort) or ``surgery/organ_preservation`` (per plan block) at a site."""
    from latc.analysis import _surgery as S
    from latc.analysis._context import concat
    from latc.stats import response_rates

    op = S.operated_set(data.analysis_set)
    if table == "surgery/outcomes":
        d, outs = S.outcome_frame(op)
        t, keys = response_rates(d, outs, by="cohort"), ["outcome", "cohort"]
    else:
        parts = [S.denominate(response_rates(d, [o], by="cohort"), plan) for o, plan, d in S.preservation_frames(op)]
        keys = ["outcome", "denominator", "cohort"]
        t = concat(parts) if parts else pd.DataFrame(columns=keys + COUNTS)
    return _with_set(*_rate_payload(t, keys), "operated set", len(op))


def _site_ae(data: Any, table: str) -> tuple[dict, dict[str, int]]:
    """``safety/ae_by_term`` or ``safety/ae_overview`` counts at a site (patients once per term)."""
    from latc.analysis import _safety as A

    n, a = A.safety_events(data.subject, data.ae)
    cells: dict[str, int] = {}
    if table == "safety/ae_overview":
        t = A.overview_counts(a)
        payload: dict[str, Any] = {"categories": t["category"].tolist(), "n_patients": t["n_patients"].tolist()}
        for c, x in zip(payload["categories"], payload["n_patients"]):
            cells.update({f"{c}: patients": x, f"{c}: others": n - x})
        return _with_set(payload, cells, "safety set", n)
    has_group = "ki_toxicity_group" in a.columns
    t = A.term_counts(a) if len(a) else pd.DataFrame(columns=["ctcae_term", "n_any_grade", "n_grade_3_plus"])
    payload = {"terms": t["ctcae_term"].tolist(), "n_any_grade": t["n_any_grade"].astype(np.int64).tolist(),
               "n_grade_3_plus": t["n_grade_3_plus"].astype(np.int64).tolist(),
               "ki_toxicity_group": [_plain(v) for v in t["ki_toxicity_group"]] if has_group and len(a) else None,
               "has_ki_toxicity_group": has_group}
    for term, x_any, x_hi in zip(payload["terms"], payload["n_any_grade"], payload["n_grade_3_plus"]):
        cells.update({f"{term} any grade: patients": x_any, f"{term} any grade: others": n - x_any,
                      f"{term} grade >= 3: patients": x_hi, f"{term} grade >= 3: others": n - x_hi})
    return _with_set(payload, cells, "safety set", n)


_SITE: dict[str, Callable[[Any, str], tuple[dict, dict[str, int]]]] = {
    "response/objective_response": _site_blocks, "response/best_overall_response": _site_bor,
    "response/biochemical_response": _site_blocks, "response/pathological_response": _site_blocks,
    "surgery/outcomes": _site_surgery, "surgery/organ_preservation": _site_surgery,
    "safety/ae_by_term": _site_ae, "safety/ae_overview": _site_ae,
}
#: the tables :func:`rate_tables` fills, in the pooled analysis's order
RATE_TABLES: tuple[str, ...] = tuple(_SITE)


def _site_data(rt: SiteRuntime) -> Any:
    """The site's own derived datasets (never sent), as :func:`~latc.federated.site_runtime` keeps them."""
    from ._comparison import site_derived

    return site_derived(rt)


@site_step(STEP)
def site_rate_counts(rt: SiteRuntime, table: str) -> Message:
    """The counts of one rate table (:data:`RATE_TABLES`) from the site's own derived data (module
    docstring); a table the site's data cannot give (a derived column missing) is answered with the
    reason under ``skipped``, a table with a cell in 1..min−1 with an empty payload and the reasons."""
    from latc.analysis._results import SectionSkipped

    rt.policy.require_allowed(ANALYSIS, rt.site)
    if table not in _SITE:
        raise FederatedInputError(f"rate counts: unknown table {table!r} (tables: {list(_SITE)})")
    try:
        payload, cells = _SITE[table](_site_data(rt), table)
    except SectionSkipped as exc:
        return Message(ANALYSIS, rt.site, STEP, {"table": table, "skipped": str(exc)})
    bad = rt.policy.small_cells(ANALYSIS, {f"{table}: {k}": v for k, v in cells.items()})
    if bad:
        return Message(ANALYSIS, rt.site, STEP, {"table": table}, bad)
    return Message(ANALYSIS, rt.site, STEP, {"table": table, **payload})


# ---------------------------------------------------------------------------------------- coordinator
class _NotComputed(Exception):
    """A table the pooled analysis would not compute either (its reason), or one a site withheld."""


def _level_key(v: Any) -> tuple:
    """Pooled order of a level: the "All" row first, then sorted (pandas ``groupby(sort=True)``), missing last."""
    return (0, "") if v == "All" else ((2, "") if v is None else (1, str(v)))


def _sum_rows(msgs: Sequence[Message]) -> dict[tuple, np.ndarray]:
    """(responders, n, not evaluable) per row key, summed over the sites."""
    acc: dict[tuple, np.ndarray] = {}
    for m in msgs:
        for key, c in zip(m.payload["keys"], m.payload["counts"]):
            k = tuple(key)
            acc[k] = acc.get(k, np.zeros(3, dtype=np.int64)) + np.asarray(c, dtype=np.int64)
    return acc


def _rate_frame(acc: dict[tuple, np.ndarray], keys: list[str], sort: Callable[[tuple], tuple], conf_level: float,
                text: Sequence[str]) -> pd.DataFrame:
    """The pooled rate table: rows in ``sort`` order, key columns (``text`` ones as str, the others as
    object, as ``response_rates`` leaves them), counts and the Clopper–Pearson columns."""
    from latc.stats._proportion import add_rate_columns

    rows = sorted(acc, key=sort)
    cols: dict[str, pd.Series] = {}
    for i, k in enumerate(keys):
        vals = [np.nan if r[i] is None else r[i] for r in rows]
        cols[k] = pd.Series(vals, dtype="str" if k in text else object)
    t = pd.DataFrame(cols)
    for j, c in enumerate(COUNTS):
        t[c] = np.array([acc[r][j] for r in rows], dtype=np.int64)
    return add_rate_columns(t, method="clopper-pearson", conf_level=conf_level)


def _n_set(msgs: Sequence[Message]) -> int:
    return int(sum(m.payload["n_set"] for m in msgs))


def _need_neoadjuvant(msgs: Sequence[Message]) -> None:
    if not any(m.payload["neoadjuvant"] for m in msgs):
        raise _NotComputed("no neoadjuvant patient in the analysis set")


def _combine_blocks(msgs: Sequence[Message], table: str, conf_level: float) -> pd.DataFrame:
    """A ``rate_table`` layout: blocks (overall, then each ``by``), outcomes, levels in the pooled order."""
    from latc.analysis import _response as R

    _need_neoadjuvant(msgs)
    outcomes, by, empty = {
        "response/objective_response": (R.IMAGING_OUTCOMES, R.IMAGING_BY,
                                        "the response set is empty (no treated patient in the analysis set)"),
        "response/biochemical_response": (R.BIOCHEMICAL_OUTCOMES, R.BIOCHEMICAL_BY,
                                          "no neoadjuvant patient with an evaluable biochemical response"),
        "response/pathological_response": (R.PATHOLOGICAL_OUTCOMES, R.PATHOLOGICAL_BY,
                                           "no neoadjuvant patient with a graded resection specimen"),
    }[table]
    if not _n_set(msgs):
        raise _NotComputed(empty)
    blocks = [R.BY_LABELS.get(b, b) for b in by]

    def sort(k: tuple) -> tuple:
        return (blocks.index(k[1]), outcomes.index(k[0]), _level_key(k[2]))

    return _rate_frame(_sum_rows(msgs), BLOCK_KEYS, sort, conf_level, ["outcome", "by"])


def _combine_bor(msgs: Sequence[Message], table: str, conf_level: float) -> pd.DataFrame:
    """``response/best_overall_response`` by :func:`latc.analysis._response.bor_table` on the pooled counts."""
    from latc.analysis._response import bor_table

    _need_neoadjuvant(msgs)
    if not _n_set(msgs):
        raise _NotComputed("the response set is empty (no treated patient in the analysis set)")
    bor: dict[str, int] = {}
    cbor: dict[str, int] = {}
    for m in msgs:                      # site order, then each site's first-appearance order
        for acc, cats, ns in ((bor, m.payload["categories"], m.payload["n"]),
                              (cbor, m.payload["confirmed_categories"], m.payload["confirmed_n"])):
            for c, k in zip(cats, ns):
                acc[c] = acc.get(c, 0) + int(k)

    def series(d: dict[str, int]) -> pd.Series:
        return pd.Series(list(d.values()), index=pd.Index(list(d), dtype="str", name="best_overall_response"),
                         dtype=np.int64, name="count")

    return bor_table(series(bor), series(cbor), _n_set(msgs), conf_level=conf_level)


def _combine_surgery(msgs: Sequence[Message], table: str, conf_level: float) -> pd.DataFrame:
    """``surgery/outcomes`` and ``surgery/organ_preservation`` in the analysis's layout."""
    from latc.analysis import _surgery as S

    if not _n_set(msgs):
        raise _NotComputed("no operated patient (curative operation) in the analysis set")
    acc = _sum_rows(msgs)
    if table == "surgery/outcomes":
        order = list(S.OUTCOMES)
        t = _rate_frame(acc, ["outcome", "cohort"], lambda k: (order.index(k[0]), _level_key(k[1])), conf_level,
                        ["outcome"])
        return S.label_outcomes(t)
    kept = {k[0] for k, c in acc.items() if k[2] == "All" and c[1] > 0}      # blocks with a planned patient
    if not kept:
        raise _NotComputed("no operated patient had an organ resection in the baseline plan")
    order = list(S.PRESERVATION)
    return _rate_frame({k: c for k, c in acc.items() if k[0] in kept}, ["outcome", "denominator", "cohort"],
                       lambda k: (order.index(k[0]), _level_key(k[2])), conf_level, ["outcome", "denominator"])


def _ki_groups(msgs: Sequence[Message]) -> dict[str, str]:
    """Each term's kinase-inhibitor toxicity group: the first a site names, in site order (the
    analysis takes the first non-missing one; derive maps it from the term)."""
    out: dict[str, str] = {}
    for m in msgs:
        for term, g in zip(m.payload["terms"], m.payload["ki_toxicity_group"] or []):
            if g is not None:
                out.setdefault(term, g)
    return out


def _combine_ae(msgs: Sequence[Message], table: str, conf_level: float) -> pd.DataFrame:
    """``safety/ae_by_term`` / ``safety/ae_overview`` by the analysis's own table functions."""
    from latc.analysis import _safety as A

    n = _n_set(msgs)
    if not n:
        raise _NotComputed("the safety set is empty (no neoadjuvant patient received a dose)")
    if table == "safety/ae_overview":
        cats = msgs[0].payload["categories"]
        if any(m.payload["categories"] != cats for m in msgs):
            raise FederatedInputError("ae_overview: sites list different categories (different derived columns)")
        x = np.sum([np.asarray(m.payload["n_patients"], dtype=np.int64) for m in msgs], axis=0)
        return A.overview_table(pd.DataFrame({"category": cats, "n_patients": x.astype(np.int64)}), n,
                                conf_level=conf_level)
    terms = sorted({t for m in msgs for t in m.payload["terms"]})
    if not terms:
        return A.empty_term_table()
    count = {c: dict.fromkeys(terms, 0) for c in ("n_any_grade", "n_grade_3_plus")}
    for m in msgs:
        for c in count:
            for term, k in zip(m.payload["terms"], m.payload[c]):
                count[c][term] += int(k)
    t = pd.DataFrame({"ctcae_term": pd.Series(terms, dtype="str")})
    if msgs[0].payload["has_ki_toxicity_group"]:
        groups = _ki_groups(msgs)
        t["ki_toxicity_group"] = pd.Series([groups.get(term) for term in terms], dtype=object).astype("str")
    for c in count:
        t[c] = np.array([count[c][term] for term in terms], dtype=np.int64)
    return A.term_table(t, n, conf_level=conf_level)


_COMBINE: dict[str, Callable[[Sequence[Message], str, float], pd.DataFrame]] = {
    "response/objective_response": _combine_blocks, "response/best_overall_response": _combine_bor,
    "response/biochemical_response": _combine_blocks, "response/pathological_response": _combine_blocks,
    "surgery/outcomes": _combine_surgery, "surgery/organ_preservation": _combine_surgery,
    "safety/ae_by_term": _combine_ae, "safety/ae_overview": _combine_ae,
}


def _withheld(msgs: Sequence[Message]) -> str | None:
    """Why a table is not computed when sites withheld it: each such site with its first cell (the
    full list is in the site's message and release log)."""
    parts = []
    for m in msgs:
        if m.suppressed:
            first = m.suppressed[0]
            k = len(m.suppressed) - 1
            more = f" (and {k} more cell{'s' if k > 1 else ''})" if k else ""
            parts.append(f"site {m.site!r}, analysis {first.get('analysis', m.analysis)!r}, cell "
                         f"{first.get('cell')!r}: {first.get('reason')}{more}")
    return ("suppressed by site disclosure control — no result computed: " + "; ".join(parts)) if parts else None


def _one_table(msgs: list[Message], table: str, conf_level: float) -> pd.DataFrame:
    why = _withheld(msgs)
    if why:
        raise _NotComputed(why)
    ok = check_messages(msgs, ANALYSIS)
    skipped: dict[str, list[str]] = {}
    for m in ok:
        if "skipped" in m.payload:
            skipped.setdefault(m.payload["skipped"], []).append(repr(m.site))
    if skipped:
        raise _NotComputed("; ".join(f"site{'s' if len(s) > 1 else ''} {', '.join(s)}: {why}"
                                     for why, s in skipped.items()))
    return _COMBINE[table](ok, table, conf_level)


def rate_tables(r: Any, tables: dict[str, pd.DataFrame], not_computed: dict[str, str], conf_level: float = 0.95,
                *, which: Sequence[str] = RATE_TABLES) -> None:
    """The pooled analysis's rate tables (:data:`RATE_TABLES`) from the sites' counts, all in one
    round (``r.lockstep``: the requests batched; ``r`` is ``_comparison._Rounds``). Each table goes into ``tables`` under its key, or its reason into
    ``not_computed`` (a site's withheld cell, named with the site; or the pooled analysis's own reason
    for not computing it)."""
    fits = [lambda ask, t=table: _one_table(list(ask(STEP, table=t)), t, conf_level) for table in which]
    for table, res in zip(which, r.lockstep(fits), strict=True):     # one round: the requests batched
        if isinstance(res, (_NotComputed, FederatedDisclosureError)):  # the latter: a site refuses the analysis
            not_computed[table] = str(res)
        elif isinstance(res, Exception):
            raise res
        else:
            tables[table] = res
