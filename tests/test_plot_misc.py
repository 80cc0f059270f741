"""STROBE flow, downstaging Sankey / shift table, marker trajectories, bar charts and the shared
style: saving (SVG deterministic, PNG 300 dpi), fonts, Agg canvas, empty-input figures."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from PIL import Image

import latc.plot as P
from latc.plot._style import FONT_FAMILY, format_p, pretty, wrap
from test_plot_data import ARTIFACTS, all_text, cohort, overlapping_texts, render, small_cohort, texts_outside, tg_labs

COUNTS = {
    "screened": 650,
    "excluded": {"Not cT4 at baseline (multidisciplinary board)": 30, "Prior neck surgery": 12,
                 "Refused biopsy or surgery": 8},
    "cohorts": {
        "neoadjuvant": {"included": 300, "excluded": {"No post-baseline imaging": 4,
                                                      "Lost to follow-up before surgery": 2}},
        "upfront_surgery": {"included": 300, "analysed": 300},
    },
}


# ------------------------------------------------------------------------------------------------
# STROBE flow


def test_flow_boxes_counts_and_defaults():
    fig = P.flow_diagram(COUNTS)
    boxes = fig.boxes
    assert "(n = 650)" in boxes["flow:screened"]
    assert "Excluded (n = 50)" in boxes["flow:excluded"]
    assert "Prior neck surgery (n = 12)" in boxes["flow:excluded"]
    assert "(n = 600)" in boxes["flow:eligible"]                  # 650 − 50
    assert "(n = 294)" in boxes["flow:neoadjuvant:analysed"]      # 300 − 6
    assert "(n = 300)" in boxes["flow:upfront_surgery:analysed"]
    assert "flow:upfront_surgery:excluded" not in boxes
    patches = {p.get_gid() for p in fig.axes[0].patches if p.get_gid()}
    assert set(boxes) <= patches
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, "flow_default")


def test_flow_single_cohort_without_screening_and_empty():
    fig = P.flow_diagram({"cohorts": {"neoadjuvant": {"included": 10, "analysed": 10}}})
    assert set(fig.boxes) == {"flow:eligible", "flow:neoadjuvant:included", "flow:neoadjuvant:analysed"}
    assert overlapping_texts(fig) == []
    render(fig, "flow_10_patients")
    assert "No data" in all_text(P.flow_diagram({}))


def test_flow_boxes_do_not_overlap():
    fig = P.flow_diagram(COUNTS)
    r = [p.get_bbox() for p in fig.axes[0].patches if (p.get_gid() or "").startswith("flow:")]
    for i in range(len(r)):
        for j in range(i + 1, len(r)):
            a, b = r[i], r[j]
            assert min(a.x1, b.x1) <= max(a.x0, b.x0) or min(a.y1, b.y1) <= max(a.y0, b.y0)


# ------------------------------------------------------------------------------------------------
# downstaging


def test_shift_table_worked_example():
    # five patients: cT4a→ypT0 and cT4b→ypT4a downstaged, cT4a→ypT4a and cT4b→ypT4b unchanged,
    # cT3b→ypT4a upstaged; one without ypT (not counted)
    df = pd.DataFrame({"ct": ["T4a", "T4a", "T4b", "T4b", "T3b", "T4a"],
                       "ypt": ["T0", "T4a", "T4a", "T4b", "T4a", None]})
    tab = P.shift_table(df)
    assert list(tab.index) == ["T3b", "T4a", "T4b", "Total"]           # AJCC order, not alphabetical
    assert list(tab.columns) == ["T0", "T4a", "T4b", "Total"]
    assert tab.loc["T4a", "T0"] == 1 and tab.loc["T3b", "T4a"] == 1 and tab.loc["Total", "Total"] == 5
    assert (tab.attrs["downstaged"], tab.attrs["unchanged"], tab.attrs["upstaged"]) == (2, 2, 1)
    assert tab.attrs["n_missing"] == 1
    fig = P.sankey_plot(df)
    ribbons = [p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("flow:")]
    assert len(ribbons) == 5                                             # one per non-empty cell
    assert dict(zip(fig.flows["before"] + ">" + fig.flows["after"], fig.flows["direction"]))["T3b>T4a"] == "upstaged"
    assert overlapping_texts(fig) == []


@pytest.mark.parametrize("which", ["default", "10 patients"])
def test_sankey_on_the_cohort(which):
    c = cohort() if which == "default" else small_cohort()
    t = c["tables"]
    yp = t["pathology"][t["pathology"]["tnm_prefix"] == "yp"][["patient_id", "pt"]].rename(columns={"pt": "ypt"})
    df = t["diagnosis"][["patient_id", "ct"]].merge(yp, on="patient_id")
    fig = P.sankey_plot(df)
    if df.empty:
        assert "No data" in all_text(fig)
        return
    assert fig.flows["n"].sum() == len(df.dropna())
    expected = pd.crosstab(df["ct"], df["ypt"]).stack()
    got = fig.flows.set_index(["before", "after"])["n"]
    assert got.to_dict() == {k: v for k, v in expected.items() if v > 0}
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, f"sankey_{which.replace(' ', '_')}")


# ------------------------------------------------------------------------------------------------
# trajectories


@pytest.mark.parametrize("which", ["default", "10 patients"])
def test_trajectory_medians_and_log_axis(which):
    labs = tg_labs(cohort() if which == "default" else small_cohort())
    fig = P.trajectory_plot(labs, unit="ng_ml")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "Thyroglobulin (ng/mL)"
    pos = labs[labs["value"] > 0]
    win = pos[(pos["time_months"] >= 0) & (pos["time_months"] < 3)]
    for g, part in win.groupby("cohort"):
        m = fig.medians[(fig.medians["group"] == g) & (fig.medians["window_mid"] == 1.5)]
        if len(m):
            assert m["median"].iloc[0] == pytest.approx(float(part["value"].median()))
    ln = {x.get_gid(): x for x in ax.get_lines() if (x.get_gid() or "").startswith("median:")}
    assert set(ln) <= {f"median:{g}" for g in labs["cohort"].unique()}
    n_nonpos = int((labs["value"] <= 0).sum())
    assert (f"{n_nonpos} values ≤ 0 not drawn" in ax.get_xlabel()) == (n_nonpos > 0)
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, f"trajectory_{which.replace(' ', '_')}")


def test_trajectory_empty_says_why():
    labs = tg_labs(small_cohort()).assign(value=0.0)
    assert "No data: no positive marker values" in all_text(P.trajectory_plot(labs))


# ------------------------------------------------------------------------------------------------
# bars


@pytest.mark.parametrize("which", ["default", "10 patients"])
def test_stacked_bar_percentages_equal_crosstab(which):
    c = cohort() if which == "default" else small_cohort()
    comp = c["tables"]["complications"].merge(c["tables"]["patients"][["patient_id", "cohort"]], on="patient_id")
    fig = P.stacked_bar(comp, "clavien_dindo", legend_title="Clavien–Dindo grade", ylabel="Complications (%)")
    if comp.empty:
        assert "No data" in all_text(fig)
        return
    expected = pd.crosstab(comp["cohort"], comp["clavien_dindo"], normalize="index") * 100
    ax = fig.axes[0]
    for g in expected.index:
        for cat in expected.columns:
            bar = [p for p in ax.patches if p.get_gid() == f"bar:{g}:{cat}"]
            assert bar[0].get_height() == pytest.approx(expected.loc[g, cat])
        total = sum(p.get_height() for p in ax.patches if (p.get_gid() or "").startswith(f"bar:{g}:"))
        assert total == pytest.approx(100.0)
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, f"clavien_dindo_{which.replace(' ', '_')}")


def test_grouped_bar_heights_and_empty():
    df = pd.DataFrame({"histology": ["ptc", "ptc", "atc", "atc"], "cohort": ["neoadjuvant", "upfront_surgery"] * 2,
                       "rate": [60.0, 40.0, 20.0, 10.0], "lo": [50.0, 30, 5, 1], "hi": [70.0, 50, 40, 30]})
    fig = P.grouped_bar(df, "histology", "cohort", "rate", lower="lo", upper="hi", ylabel="Objective response (%)")
    h = {p.get_gid(): p.get_height() for p in fig.axes[0].patches if p.get_gid()}
    assert h == {"bar:ptc:neoadjuvant": 60.0, "bar:ptc:upfront_surgery": 40.0, "bar:atc:neoadjuvant": 20.0,
                 "bar:atc:upfront_surgery": 10.0}
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["PTC", "ATC"]
    assert overlapping_texts(fig) == []
    assert "No data" in all_text(P.grouped_bar(df.iloc[:0], "histology", "cohort", "rate"))


# ------------------------------------------------------------------------------------------------
# style and saving


def test_save_writes_deterministic_svg_and_300_dpi_png(tmp_path):
    fig = P.waterfall_plot(cohort()["endpoints"])
    a = P.save(fig, tmp_path / "a" / "waterfall")
    b = P.save(fig, tmp_path / "b" / "waterfall")
    assert [p.suffix for p in a] == [".svg", ".png"] and all(p.exists() and p.stat().st_size > 0 for p in a)
    assert a[0].read_bytes() == b[0].read_bytes()                    # SVG byte-identical
    svg = a[0].read_text()
    assert "<dc:date>" not in svg
    with Image.open(a[1]) as im:
        dpi = im.info["dpi"]
        assert round(dpi[0]) == 300 and round(dpi[1]) == 300
        # the figure's size in inches × 300 (tight bounding box: a little smaller or larger)
        assert im.size[0] > 5 * 300
    # a second, freshly built figure from the same data is identical too
    c = P.save(P.waterfall_plot(cohort()["endpoints"]), tmp_path / "c" / "waterfall")
    assert c[0].read_bytes() == a[0].read_bytes()


def test_every_figure_uses_the_journal_font_and_agg():
    figs = [P.waterfall_plot(cohort()["endpoints"]), P.flow_diagram(COUNTS), P.no_data_figure("nothing")]
    for fig in figs:
        assert isinstance(fig.canvas, FigureCanvasAgg)
        names = {t.get_fontname() for t in fig.findobj(Text) if t.get_text()}
        assert names == {FONT_FAMILY}


def test_no_data_figure_and_helpers():
    fig = P.no_data_figure("the cohort has no operated patients")
    assert "No data: the cohort has no operated patients" in all_text(fig).replace("\n", " ")
    assert format_p(0.0004) == "p < 0.001" and format_p(0.0123) == "p = 0.01" and format_p(0.004) == "p = 0.004"
    assert pretty("upfront_surgery") == "Upfront surgery" and pretty("braf_v600e_positive") == "BRAF V600E positive"
    assert max(len(x) for x in wrap("a " * 60, 20, max_lines=2).split("\n")) <= 20
    assert wrap("a " * 60, 20, max_lines=2).endswith("…")


def test_artifact_folder_is_git_ignored():
    # rendered figures for people to look at must not end up in commits
    import subprocess

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    probe = ARTIFACTS / "probe.txt"
    probe.write_text("x")
    out = subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=ARTIFACTS.parents[2])
    probe.unlink()
    assert out.returncode == 0
