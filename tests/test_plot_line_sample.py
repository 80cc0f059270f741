"""Spider and trajectory plots of large cohorts (issue 17 item 2): with ``max_lines`` they draw a
seeded random sample of the patients' lines and say so; medians, legend counts and n still cover
every patient. The report draws at most ``MAX_LINES`` and its caption gives the numbers the figure
drew."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection

import latc.plot as P
from test_plot_data import all_text, cohort, tg_labs


def _segments(fig) -> list[np.ndarray]:
    return [s for lc in fig.axes[0].collections if isinstance(lc, LineCollection) for s in lc.get_segments()]


def test_spider_draws_a_seeded_sample_and_counts_everyone():
    c = cohort()
    tum, ep = c["tumour"], c["endpoints"]
    full = P.spider_plot(tum, ep)
    n = full.n_patients
    assert n > 40 and full.lines_drawn == n == len(_segments(full))
    part = P.spider_plot(tum, ep, max_lines=25)
    again = P.spider_plot(tum, ep, max_lines=25)
    assert part.n_patients == n and part.lines_drawn == 25 == len(_segments(part))
    assert part.plotted["patient_id"].nunique() == 25
    assert part.plotted.equals(again.plotted)  # the same sample on every run
    # the drawn lines are the patients' own, unchanged
    whole = full.plotted.set_index(["patient_id", "time"])["change"]
    assert np.allclose(part.plotted.set_index(["patient_id", "time"])["change"], whole.loc[part.plotted.set_index(["patient_id", "time"]).index])
    # the legend counts every patient; the axis label says what was drawn
    legend = [t.get_text() for t in part.axes[0].get_legend().get_texts()]
    assert legend == [t.get_text() for t in full.axes[0].get_legend().get_texts()]
    assert f"n = {n:,} patients; lines: a random 25" in part.axes[0].get_xlabel()
    assert "lines: a random" not in full.axes[0].get_xlabel()
    assert P.spider_plot(tum, ep, max_lines=n).lines_drawn == n  # not exceeded: every line


def test_trajectory_sample_keeps_the_medians_of_everyone():
    labs = tg_labs(cohort())
    full = P.trajectory_plot(labs, unit="ng_ml")
    part = P.trajectory_plot(labs, unit="ng_ml", max_lines=15)
    assert full.n_patients > 15 and part.n_patients == full.n_patients
    assert len(_segments(full)) == full.n_patients and len(_segments(part)) == part.lines_drawn == 15
    pd.testing.assert_frame_equal(part.medians, full.medians)
    assert f"Individual patients (a random 15 of {full.n_patients:,})" in all_text(part)
    assert "a random" not in all_text(full)


def test_report_caption_names_the_sample_the_figure_drew(monkeypatch, tmp_path):
    from latc.report import _clinical
    from latc.report._inputs import find_inputs
    from test_report_data import pipeline_run

    run = pipeline_run(tmp_path / "run", 80, seed=31, n_centers=2, pdf=False)
    monkeypatch.setattr(_clinical, "MAX_LINES", 10)
    inp = find_inputs(run)
    for sec in (_clinical.imaging_section(inp), _clinical.biochemical_section(inp)):
        for f in sec.figures:
            if f.key in ("spider", "trajectory_tg"):
                n = f.figure.n_patients
                assert n > 10 and f.figure.lines_drawn == 10
                assert f"(drawn for a random 10 of the {n:,} patients, seeded: the same on every run" in f.caption, f.key
                assert ("the medians use every patient" in f.caption) == f.key.startswith("trajectory")
    monkeypatch.setattr(_clinical, "MAX_LINES", 10_000)
    assert "random" not in next(f for f in _clinical.imaging_section(find_inputs(run)).figures if f.key == "spider").caption
