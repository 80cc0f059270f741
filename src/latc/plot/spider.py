"""Spider plot: % change of the target-lesion sum from baseline over time, one line per patient.

Each line starts at (0, 0 %) — the baseline — and joins the patient's assessments in time order.
Reference lines at +20 % and −30 % (RECIST 1.1 §4.3.1).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._style import (COHORT_COLOURS, DOUBLE_COLUMN, RESPONSE_COLOURS, RESPONSE_ORDER, SMALL_SIZE,
                     check_columns, colour_map, line_sample, new_figure, no_data_figure, pretty, styled)

__all__ = ["spider_plot"]

_TIME_UNITS = {"weeks": 7.0, "months": 30.4375, "days": 1.0}


@styled
def spider_plot(tumour: pd.DataFrame, groups: pd.DataFrame | None = None, *,
                color_by: str | None = "best_overall_response",
                change: str = "percent_change_from_baseline", time_unit: str = "weeks",
                colours: Mapping[str, str] | None = None, title: str | None = None,
                max_lines: int | None = None, size: tuple[float, float] = DOUBLE_COLUMN) -> Figure:
    """Spider plot of % change in the sum of target lesions over time.

    Parameters
    ----------
    tumour : the ``tumour`` table of :func:`latc.derive.timepoint_responses`: ``patient_id``,
        ``assessment_date``, ``baseline_date``, ``change`` (% change from baseline). Rows with a
        missing change (incomplete sum) are skipped.
    groups : optional per-patient table (``patient_id`` + ``color_by``), e.g. response endpoints;
        when None, ``color_by`` is looked up in ``tumour`` itself.
    color_by : the colouring column (BOR gets the fixed response colours, cohort the cohort
        colours); None = one colour.
    time_unit : "weeks" (default), "months" or "days" since the baseline scan.
    max_lines : draw at most this many patients' lines, a seeded random sample
        (:func:`latc.plot._style.line_sample`), the axis label saying so; the legend's counts still
        cover every patient. None (default): every patient.

    ``fig.plotted`` holds the plotted points (patient_id, time, change, group) in drawing order;
    ``fig.n_patients`` the patients with an assessment, ``fig.lines_drawn`` those whose line is drawn.
    """
    if time_unit not in _TIME_UNITS:
        raise ValueError(f"spider_plot: time_unit must be one of {list(_TIME_UNITS)}, not {time_unit!r}")
    reason = check_columns(tumour, ["patient_id", "assessment_date", "baseline_date", change], "the tumour table")
    if reason:
        return no_data_figure(reason, size=size, title="Spider plot")
    df = tumour[["patient_id", "assessment_date", "baseline_date", change]].copy()
    if color_by is not None:
        if groups is not None:
            if color_by not in groups.columns or "patient_id" not in groups.columns:
                return no_data_figure(f"the groups table lacks patient_id or {color_by}", size=size, title="Spider plot")
            df = df.merge(groups[["patient_id", color_by]].drop_duplicates("patient_id"), on="patient_id", how="left")
        elif color_by in tumour.columns:
            df[color_by] = tumour[color_by].to_numpy()
        else:
            return no_data_figure(f"column {color_by} not found", size=size, title="Spider plot")
        df["group"] = df[color_by].astype("object").where(df[color_by].notna(), "MISSING").astype(str)
    else:
        df["group"] = "all"
    df[change] = pd.to_numeric(df[change], errors="coerce")
    days = (pd.to_datetime(df["assessment_date"]) - pd.to_datetime(df["baseline_date"])).dt.days
    df["time"] = days.to_numpy(dtype=float) / _TIME_UNITS[time_unit]
    df = df[df[change].notna() & df["time"].notna() & (df["time"] >= 0)]
    if df.empty:
        return no_data_figure("no assessment with a complete target-lesion sum", size=size, title="Spider plot")
    df = df.sort_values(["patient_id", "time"], kind="mergesort").reset_index(drop=True)
    # prepend the baseline point (0, 0) of every patient
    base = df.drop_duplicates("patient_id")[["patient_id", "group"]].assign(time=0.0, **{change: 0.0})
    pts = (pd.concat([base, df[["patient_id", "group", "time", change]]], ignore_index=True)
           .sort_values(["patient_id", "time"], kind="mergesort").reset_index(drop=True))
    pts = pts.rename(columns={change: "change"})
    n_pat = pts["patient_id"].nunique()
    counts = pts.drop_duplicates("patient_id")["group"].value_counts()
    shown = line_sample(pts["patient_id"].to_numpy(), max_lines)
    if shown is not None:
        pts = pts[pts["patient_id"].isin(shown)].reset_index(drop=True)

    if color_by == "best_overall_response":
        present = set(counts.index)
        levels = [r for r in RESPONSE_ORDER if r in present] + sorted(present - set(RESPONSE_ORDER))
        cmap = colour_map(levels, RESPONSE_COLOURS, colours)
    else:
        levels = sorted(set(counts.index))
        cmap = colour_map(levels, COHORT_COLOURS, colours)

    fig = new_figure(size)
    ax = fig.add_axes((0.1, 0.13, 0.84, 0.7))
    pid = pts["patient_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])
    xy = pts[["time", "change"]].to_numpy(dtype=float)
    segs = np.split(xy, starts[1:])
    seg_group = pts["group"].to_numpy()[starts]
    lw = 1.0 if n_pat <= 30 else 0.7
    alpha = 1.0 if n_pat <= 30 else 0.75
    for lv in levels:
        sel = np.flatnonzero(seg_group == lv)
        if len(sel) == 0:
            continue
        lc = LineCollection([segs[i] for i in sel], colors=cmap[lv], linewidths=lw, alpha=alpha,
                            label=lv)
        ax.add_collection(lc)
        if n_pat <= 30:
            m = pts["group"].to_numpy() == lv
            ax.plot(xy[m, 0], xy[m, 1], ls="none", marker="o", ms=2.5, color=cmap[lv])
    ax.axhline(20, color="#444444", lw=0.8, ls="--", zorder=0)
    ax.axhline(-30, color="#444444", lw=0.8, ls="--", zorder=0)
    ax.axhline(0, color="#222222", lw=0.5, zorder=0)
    xmax = float(pts["time"].max())
    ax.set_xlim(0, xmax * 1.03 if xmax > 0 else 1)
    ax.set_ylim(min(-100.0, float(pts["change"].min()) - 5), max(40.0, float(pts["change"].max()) + 5))
    ax.text(1.0, 20, "+20%", transform=ax.get_yaxis_transform(), ha="left", va="center",
            fontsize=SMALL_SIZE - 1, color="#444444", clip_on=False)
    ax.text(1.0, -30, "−30%", transform=ax.get_yaxis_transform(), ha="left", va="center",
            fontsize=SMALL_SIZE - 1, color="#444444", clip_on=False)
    n_text = f"{n_pat} patients" if shown is None else f"{n_pat:,} patients; lines: a random {len(shown):,}"
    ax.set_xlabel(f"{time_unit.capitalize()} since baseline imaging (n = {n_text})")
    ax.set_ylabel("Change in sum of target\nlesions from baseline (%)")
    if color_by is not None:
        handles = [Line2D([], [], color=cmap[lv], lw=1.5, label=f"{pretty(lv)} ({int(counts.get(lv, 0))})")
                   for lv in levels]
        legend_title = "Best overall response (RECIST 1.1)" if color_by == "best_overall_response" else pretty(color_by)
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.01), ncol=min(len(handles), 6),
                  title=legend_title, title_fontsize=SMALL_SIZE)
    if title:
        fig.suptitle(title, y=0.99)
    fig.plotted = pts  # type: ignore[attr-defined]
    fig.n_patients = n_pat  # type: ignore[attr-defined]
    fig.lines_drawn = n_pat if shown is None else len(shown)  # type: ignore[attr-defined]
    return fig
