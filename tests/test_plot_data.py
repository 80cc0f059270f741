"""Shared inputs and checks for the ``latc.plot`` tests (no tests here; imported by test_plot_*.py).

Cohorts come from the seeded synthetic study (``latc.synth.synthesize``) run through the real
derivations (RECIST timepoint responses, response endpoints, time-to-event) — no hand-made plot
inputs except for the degenerate cases. Built once per test process (``functools.cache``).
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text

from latc.derive import derive_tte, response_endpoints, timepoint_responses
from latc.synth import synthesize

#: Rendered figures for a person to look at (``out/`` is git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[1] / "out" / "test-artifacts" / "plots"


@functools.cache
def cohort(n_patients: int = 600, seed: int = 20261125) -> dict:
    """Synthetic study + derived tables: tables, tumour, endpoints (with cohort, histology), tte."""
    s = synthesize(n_patients=n_patients, n_centers=8 if n_patients >= 100 else 2, seed=seed)
    tables = dict(s.tables)
    tumour = timepoint_responses(tables["lesions"], tables["lesion_assessments"])
    tr = tables["treatments"]
    ref = (tr.groupby("patient_id", as_index=False)["start_date"].min()
           .rename(columns={"start_date": "reference_date"}))
    endpoints = response_endpoints(tumour[["patient_id", "assessment_date", "overall_response"]], ref,
                                   tumour=tumour)
    subject = (tables["patients"][["patient_id", "center_id", "cohort", "age_at_diagnosis", "sex", "ecog"]]
               .merge(tables["diagnosis"][["patient_id", "histology", "ct", "braf_v600e"]], on="patient_id"))
    endpoints = endpoints.merge(subject, on="patient_id", how="left")
    tte, _ = derive_tte({**tables, "tumour": tumour}, s.truth["data_cut"])
    return {"study": s, "tables": tables, "tumour": tumour, "endpoints": endpoints,
            "subject": subject, "tte": tte, "data_cut": s.truth["data_cut"]}


def small_cohort() -> dict:
    """A 10-patient study (the smallest cohort the report must handle)."""
    return cohort(10, 11)


# ------------------------------------------------------------------------------------------------
# text-overlap check


def _visible_texts(fig: Figure) -> list[tuple[Text, object]]:
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        out.append((t, t.get_window_extent(renderer)))
    # drop tick labels of ticks outside the view interval (not drawn)
    keep = []
    drawn_ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.get_visible():
                continue
            for tick in axis._update_ticks():  # the ticks matplotlib draws (inside the view)
                drawn_ticks.add(id(tick.label1))
                drawn_ticks.add(id(tick.label2))
    tick_labels = {id(tk.label1) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
                   for tk in axis.get_major_ticks() + axis.get_minor_ticks()}
    tick_labels |= {id(tk.label2) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
                    for tk in axis.get_major_ticks() + axis.get_minor_ticks()}
    hidden_axes = {id(tk.label1) for ax in fig.axes if not ax.axison for axis in (ax.xaxis, ax.yaxis)
                   for tk in axis.get_major_ticks() + axis.get_minor_ticks()}
    for t, bb in out:
        if id(t) in tick_labels and (id(t) not in drawn_ticks or id(t) in hidden_axes):
            continue
        keep.append((t, bb))
    return keep


def overlapping_texts(fig: Figure, tolerance_px: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of drawn text labels (ticks, annotations, legend, titles) whose boxes overlap by more
    than ``tolerance_px`` in both directions."""
    items = _visible_texts(fig)
    bad = []
    for (t1, b1), (t2, b2) in itertools.combinations(items, 2):
        w = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
        h = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
        if w > tolerance_px and h > tolerance_px:
            bad.append((t1.get_text(), t2.get_text()))
    return bad


def texts_outside(fig: Figure, tolerance_px: float = 1.0) -> list[str]:
    """Drawn text labels that stick out of the figure canvas (would be clipped without bbox=tight)."""
    W, H = fig.canvas.get_width_height()
    return [t.get_text() for t, b in _visible_texts(fig)
            if b.x0 < -tolerance_px or b.y0 < -tolerance_px or b.x1 > W + tolerance_px or b.y1 > H + tolerance_px]


def all_text(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def render(fig: Figure, name: str) -> list[Path]:
    """Save a figure into the artefact folder (SVG + PNG) and return the paths."""
    from latc.plot import save

    return save(fig, ARTIFACTS / name)


def tg_labs(c: dict) -> pd.DataFrame:
    """The thyroglobulin rows of a :func:`cohort`'s labs with ``cohort`` and ``time_months`` (months
    since the treatment decision), as ``latc.plot.trajectory_plot`` takes them."""
    t = c["tables"]
    labs = t["labs"][t["labs"]["test"] == "tg"].merge(
        t["patients"][["patient_id", "treatment_decision_date", "cohort"]], on="patient_id")
    labs["time_months"] = (labs["lab_date"] - labs["treatment_decision_date"]).dt.days / 30.4375
    return labs
