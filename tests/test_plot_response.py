"""Waterfall, spider and swimmer plots on the synthetic study run through the real derivations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.collections import LineCollection

from latc.plot import RESPONSE_COLOURS, spider_plot, swimmer_data, swimmer_plot, waterfall_plot
from test_plot_data import all_text, cohort, overlapping_texts, render, small_cohort, texts_outside

COHORTS = {"default": cohort, "10 patients": small_cohort}


def _neoadjuvant(c):
    ep = c["endpoints"]
    return ep[ep["cohort"] == "neoadjuvant"]


def _bars(ax):
    """(x centre, height, colour) of each waterfall bar, left to right."""
    coll = next(c for c in ax.collections if c.get_gid() == "waterfall:bars")
    verts = [p.vertices for p in coll.get_paths()]
    x = np.array([v[:, 0].mean() for v in verts])
    h = np.array([v[1, 1] for v in verts])
    cols = [to_hex(c) for c in coll.get_facecolors()]
    order = np.argsort(x)
    return x[order], h[order], [cols[i] for i in order]


def _horizontal_lines(ax) -> set[float]:
    out = set()
    for ln in ax.get_lines():
        y = np.asarray(ln.get_ydata(), dtype=float)
        x = np.asarray(ln.get_xdata(), dtype=float)
        if len(y) == 2 and y[0] == y[1] and tuple(x) == (0.0, 1.0):   # axhline (axes-fraction x)
            out.add(float(y[0]))
    return out


# ------------------------------------------------------------------------------------------------
# waterfall


@pytest.mark.parametrize("which", list(COHORTS))
def test_waterfall_one_bar_per_patient_sorted_and_coloured_by_bor(which):
    ep = _neoadjuvant(COHORTS[which]())
    fig = waterfall_plot(ep, annotate="histology")
    ax = fig.axes[0]
    x, heights, colours = _bars(ax)
    measured = ep[ep["best_percent_change_from_baseline"].notna()]
    assert len(heights) == len(measured) > 0
    assert np.all(np.diff(x) > 0)
    # expected order: largest increase first, ties by patient id (independent sort)
    exp = measured.sort_values(["best_percent_change_from_baseline", "patient_id"], ascending=[False, True])
    np.testing.assert_allclose(heights, exp["best_percent_change_from_baseline"].to_numpy(dtype=float))
    bor = exp["best_overall_response"].fillna("MISSING").astype(str)
    assert colours == [RESPONSE_COLOURS[r].lower() for r in bor]
    # RECIST 1.1 §4.3.1 thresholds: +20 % (PD) and −30 % (PR)
    assert {20.0, -30.0} <= _horizontal_lines(ax)
    assert "Best change in sum of" in ax.get_ylabel() and "(%)" in ax.get_ylabel()
    n_missing = int(ep["best_percent_change_from_baseline"].isna().sum())
    if n_missing:
        assert f"{n_missing} without a post-baseline measurement" in all_text(fig)
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, f"waterfall_{which.replace(' ', '_')}")


def test_waterfall_legend_counts_patients_per_response():
    ep = _neoadjuvant(cohort())
    fig = waterfall_plot(ep)
    measured = ep[ep["best_percent_change_from_baseline"].notna()]
    counts = measured["best_overall_response"].value_counts()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for resp, n in counts.items():
        label = {"MISSING": "Not assessed"}.get(resp, resp)
        assert f"{label} ({n})" in legend


def test_waterfall_without_measurements_says_why():
    ep = _neoadjuvant(small_cohort()).assign(best_percent_change_from_baseline=np.nan)
    fig = waterfall_plot(ep)
    assert "No data: none of" in all_text(fig)
    assert "No data" in all_text(waterfall_plot(ep.iloc[:0]))
    assert "lacks column" in all_text(waterfall_plot(ep.drop(columns=["best_overall_response"])))


def test_waterfall_single_patient():
    ep = _neoadjuvant(cohort()).dropna(subset=["best_percent_change_from_baseline"]).iloc[:1]
    fig = waterfall_plot(ep)
    assert len(_bars(fig.axes[0])[1]) == 1
    assert overlapping_texts(fig) == []


def test_waterfall_bars_are_one_image_in_the_svg_above_2000_patients(tmp_path):
    """Issue 17: at 100,000 patients the vector bars made a 15.9 MB SVG written in 4 s; above
    RASTER_ABOVE patients they are one 300-dpi image inside the SVG (axes and text stay vector)."""
    from latc.plot import save
    from latc.plot._style import RASTER_ABOVE

    ep = _neoadjuvant(cohort()).dropna(subset=["best_percent_change_from_baseline"])
    reps = -(-(RASTER_ABOVE + 500) // len(ep))
    big = pd.concat([ep.assign(patient_id=ep["patient_id"] + f"-{k}") for k in range(reps)], ignore_index=True)
    for frame, name in ((ep, "small"), (big, "big")):
        fig = waterfall_plot(frame)
        assert len(_bars(fig.axes[0])[1]) == len(frame)  # every patient still has a bar
        svg, png = save(fig, tmp_path / name)
        text = svg.read_text(encoding="utf-8")
        assert ("<image" in text) == (len(frame) > RASTER_ABOVE), name
        assert "Best change in sum of" in text or "Best change" in text  # the axis label is text, not pixels
    assert (tmp_path / "big.svg").stat().st_size < 1_000_000


# ------------------------------------------------------------------------------------------------
# spider


@pytest.mark.parametrize("which", list(COHORTS))
def test_spider_lines_follow_the_tumour_table(which):
    c = COHORTS[which]()
    tum, ep = c["tumour"], c["endpoints"]
    fig = spider_plot(tum, ep)
    ax = fig.axes[0]
    segs = [s for lc in ax.collections if isinstance(lc, LineCollection) for s in lc.get_segments()]
    ok = tum[tum["percent_change_from_baseline"].notna()]
    assert len(segs) == ok["patient_id"].nunique()
    # every line starts at the baseline (0, 0) and its points are the patient's assessments
    assert all(np.allclose(s[0], [0.0, 0.0]) for s in segs)
    pid = ok["patient_id"].iloc[0]
    one = ok[ok["patient_id"] == pid].sort_values("assessment_date")
    weeks = (one["assessment_date"] - one["baseline_date"]).dt.days.to_numpy() / 7.0
    expected = np.c_[np.r_[0.0, weeks], np.r_[0.0, one["percent_change_from_baseline"].to_numpy(dtype=float)]]
    assert any(s.shape == expected.shape and np.allclose(s, expected) for s in segs)
    assert {20.0, -30.0} <= _horizontal_lines(ax)
    assert "Weeks since baseline" in ax.get_xlabel()
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, f"spider_{which.replace(' ', '_')}")


def test_spider_colours_by_bor_and_handles_no_assessment():
    c = cohort()
    fig = spider_plot(c["tumour"], c["endpoints"])
    ax = fig.axes[0]
    bor = c["endpoints"].set_index("patient_id")["best_overall_response"]
    pd_colour = RESPONSE_COLOURS["PD"]
    pd_lines = [lc for lc in ax.collections if isinstance(lc, LineCollection)
                and to_hex(lc.get_colors()[0]) == pd_colour.lower()]
    assert len(pd_lines) == 1
    n_pd = len(pd_lines[0].get_segments())
    measured = c["tumour"].loc[c["tumour"]["percent_change_from_baseline"].notna(), "patient_id"].unique()
    assert n_pd == int((bor.reindex(measured) == "PD").sum())
    empty = c["tumour"].iloc[:0]
    assert "No data" in all_text(spider_plot(empty, c["endpoints"]))


# ------------------------------------------------------------------------------------------------
# swimmer


@pytest.mark.parametrize("which", list(COHORTS))
def test_swimmer_lanes_sorted_capped_and_events_drawn(which):
    c = COHORTS[which]()
    subj = c["subject"]
    neo = subj.loc[subj["cohort"] == "neoadjuvant", "patient_id"]
    lanes, courses, events = swimmer_data(c["tables"], c["tte"], c["tumour"], patients=neo)
    assert set(lanes["patient_id"]) == set(neo)
    fig = swimmer_plot(lanes, courses, events, max_lanes=40)
    shown = fig.lanes
    assert len(shown) == min(len(lanes), 40)
    assert shown["end"].is_monotonic_decreasing
    assert shown["end"].iloc[0] == pytest.approx(lanes["end"].max())
    more = len(lanes) - len(shown)
    text = all_text(fig)
    assert (f"… {more} more patients not shown" in text) == (more > 0)
    ax = fig.axes[0]
    # one surgery marker per operation of a shown patient (surgery table, independent count)
    sx = c["tables"]["surgery"]
    n_sx = int(sx["patient_id"].isin(shown["patient_id"]).sum())
    marks = [ln for ln in ax.get_lines() if ln.get_gid() == "event:surgery"]
    assert (len(marks[0].get_xdata()) if marks else 0) == n_sx
    # death markers sit at the end of the dead patients' lanes
    dead = shown[shown["status"] == "dead"]
    deaths = [ln for ln in ax.get_lines() if ln.get_gid() == "event:death"]
    if len(dead):
        np.testing.assert_allclose(np.sort(deaths[0].get_xdata()), np.sort(dead["end"].to_numpy()))
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, f"swimmer_{which.replace(' ', '_')}")


def test_swimmer_data_times_are_months_from_decision():
    c = small_cohort()
    lanes, courses, events = swimmer_data(c["tables"], c["tte"], c["tumour"])
    pts = c["tables"]["patients"].set_index("patient_id")
    tr = c["tables"]["treatments"].iloc[0]
    row = courses[(courses["patient_id"] == tr["patient_id"])].sort_values("start").iloc[0]
    first_start = c["tables"]["treatments"].query("patient_id == @tr.patient_id")["start_date"].min()
    expected = (first_start - pts.loc[tr["patient_id"], "treatment_decision_date"]).days / 30.4375
    assert row["start"] == pytest.approx(expected)


def test_swimmer_empty_input_says_why():
    fig = swimmer_plot(pd.DataFrame(columns=["patient_id", "end", "status"]))
    assert "No data" in all_text(fig)
