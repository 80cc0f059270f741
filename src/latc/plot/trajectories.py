"""Biochemical marker trajectories (thyroglobulin, calcitonin, CEA) per patient on a log axis,
with the group median per time window drawn thick.

Values at or below the assay's detection limit are drawn at the limit (flagged values keep their
reported number); non-positive values cannot be drawn on a log axis and are counted in a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._style import (COHORT_COLOURS, DOUBLE_COLUMN, MONTH_STEPS, check_columns, colour_map,
                     legend_sample_label, lighten, line_sample, new_figure, nice_ticks, no_data_figure, pretty,
                     styled)

__all__ = ["trajectory_plot"]

MARKER_LABELS = {"tg": "Thyroglobulin", "calcitonin": "Calcitonin", "cea": "CEA", "tgab": "Tg antibodies",
                 "tsh": "TSH"}

_UNITS = {"ng_ml": "ng/mL", "ug_l": "µg/L", "pg_ml": "pg/mL", "ng_l": "ng/L", "miu_l": "mIU/L",
          "iu_ml": "IU/mL", "ku_l": "kU/L"}


def _log_label(v: float, _pos=None) -> str:
    """Plain numbers on a log axis (0.01 … 10 000); powers of ten beyond."""
    if v <= 0:
        return ""
    if 1e-2 <= v < 1e5:
        return f"{v:,.{max(0, -int(np.floor(np.log10(v))))}f}".replace(",", " ")
    return f"$10^{{{int(round(np.log10(v)))}}}$"


@styled
def trajectory_plot(labs: pd.DataFrame, *, time: str = "time_months", value: str = "value",
                    group: str | None = "cohort", unit: str | None = None, marker: str | None = None,
                    bins: Sequence[float] | None = None, colours: Mapping | None = None,
                    xlabel: str = "Months since treatment decision", title: str | None = None,
                    max_lines: int | None = None,
                    size: tuple[float, float] = (DOUBLE_COLUMN[0] * 0.75, DOUBLE_COLUMN[1] * 0.8)) -> Figure:
    """Per-patient marker trajectories on a log axis with group medians.

    Parameters
    ----------
    labs : long table, one row per patient × sample of ONE marker: ``patient_id``, ``time``
        (e.g. months since time zero), ``value`` (> 0), optional ``group`` and ``unit``.
    unit : axis unit (default: the table's ``unit`` column when it has one value; harmonise
        units first, e.g. with :func:`latc.derive.harmonise_labs`).
    marker : marker code for the axis label (``tg``, ``calcitonin``, …; default: ``test`` column).
    bins : time-window edges for the medians (default: 3-month windows up to the last sample).
    max_lines : draw the individual lines of at most this many patients, a seeded random sample
        (:func:`latc.plot._style.line_sample`), the legend saying so; the medians and counts still use
        every patient. None (default): every patient's line.

    ``fig.medians`` holds the median per group and window (group, window_mid, median, n);
    ``fig.n_patients`` the patients with a drawable value, ``fig.lines_drawn`` those whose line is drawn.
    """
    reason = check_columns(labs, ["patient_id", time, value], "the lab table")
    if reason:
        return no_data_figure(reason, size=size, title=title)
    d = labs.copy()
    d["_v"] = pd.to_numeric(d[value], errors="coerce")
    d["_t"] = pd.to_numeric(d[time], errors="coerce")
    d = d[d["_v"].notna() & d["_t"].notna()]
    n_nonpos = int((d["_v"] <= 0).sum())
    d = d[d["_v"] > 0]
    if d.empty:
        return no_data_figure("no positive marker values to draw on a log axis", size=size, title=title)
    if marker is None and "test" in d and d["test"].nunique() == 1:
        marker = str(d["test"].iloc[0])
    if unit is None and "unit" in d and d["unit"].nunique() == 1:
        unit = str(d["unit"].iloc[0])
    d["_g"] = d[group].astype("object").where(d[group].notna(), "missing").astype(str) if group and group in d else "all"
    groups = sorted(d["_g"].unique())
    cmap = colour_map(groups, COHORT_COLOURS, colours)
    d = d.sort_values(["_g", "patient_id", "_t"], kind="mergesort")
    fig = new_figure(size)
    ax = fig.add_axes((0.12, 0.15, 0.84, 0.7))
    ax.set_yscale("log")
    n_pat = d["patient_id"].nunique()
    thin_alpha = 0.9 if n_pat <= 30 else 0.45 if n_pat <= 100 else 0.25
    shown = line_sample(d["patient_id"].to_numpy(), max_lines)
    lines = d if shown is None else d[d["patient_id"].isin(shown)]
    for g in groups:
        part = lines[lines["_g"] == g]
        if part.empty:
            continue
        pid = part["patient_id"].to_numpy()
        starts = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])
        segs = np.split(part[["_t", "_v"]].to_numpy(dtype=float), starts[1:])
        ax.add_collection(LineCollection(segs, colors=lighten(cmap[g], 0.45), linewidths=0.5, alpha=thin_alpha,
                                         zorder=1))
    tmax = float(d["_t"].max())
    edges = np.asarray(bins, dtype=float) if bins is not None else np.arange(0, max(tmax, 3) + 3, 3.0)
    d["_w"] = pd.cut(d["_t"], edges, include_lowest=True, right=False)
    med = (d.groupby(["_g", "_w"], observed=True)["_v"].agg(["median", "size"]).reset_index())
    med["window_mid"] = [iv.mid for iv in med["_w"]]
    med = med[med["size"] >= (5 if n_pat > 30 else 1)]      # no median from a handful of samples
    for g in groups:
        m = med[med["_g"] == g]
        ax.plot(m["window_mid"], m["median"], color=cmap[g], lw=2.0, marker="o", ms=2.5, zorder=3, gid=f"median:{g}")
    ax.set_xlim(min(0.0, float(d["_t"].min())), tmax * 1.02 if tmax > 0 else 1)
    ticks = nice_ticks(tmax, 8, steps=MONTH_STEPS) if "month" in xlabel.lower() else nice_ticks(tmax, 8)
    ticks = ticks[ticks <= tmax * 1.02]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlim(min(0.0, float(d["_t"].min())), tmax * 1.02 if tmax > 0 else 1)
    name = MARKER_LABELS.get(str(marker).lower(), pretty(marker)) if marker else "Marker"
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(_log_label))
    ax.yaxis.set_minor_formatter(NullFormatter())
    unit = _UNITS.get(str(unit), unit) if unit else None
    ax.set_ylabel(f"{name} ({unit})" if unit else name)
    note = f" ({n_nonpos} values ≤ 0 not drawn)" if n_nonpos else ""
    ax.set_xlabel(xlabel + note)
    handles = [Line2D([], [], color=cmap[g], lw=2, label=f"{pretty(g)} median (n = {d.loc[d['_g'] == g, 'patient_id'].nunique()})")
               for g in groups]
    handles.append(Line2D([], [], color="#999999", lw=0.6, label=legend_sample_label("Individual patients", shown, n_pat)))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    if title:
        fig.suptitle(title, y=0.995)
    fig.n_patients = n_pat  # type: ignore[attr-defined]
    fig.lines_drawn = n_pat if shown is None else len(shown)  # type: ignore[attr-defined]
    fig.medians = med.rename(columns={"_g": "group", "size": "n"})[["group", "window_mid", "median", "n"]]  # type: ignore[attr-defined]
    return fig
