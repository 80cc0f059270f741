"""Swimmer plot: one lane per patient from time zero to death or last contact, with treatment
bars by agent class and markers for first response (PR/CR), progression (PD), surgery, recurrence
and death; an arrow marks a patient alive at last contact. Lanes are sorted by duration (longest
on top); at most ``max_lanes`` are drawn and the rest are counted ("… N more").

:func:`swimmer_data` builds the three input tables from the clean study tables, the ``tte``
dataset (time zero and last contact from the OS rows) and the ``tumour`` table.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from latc._compat import positional_deprecated

from ._style import (AGENT_CLASS_COLOURS, DOUBLE_COLUMN, MONTH_STEPS, OKABE_ITO, SMALL_SIZE, colour_map,
                     new_figure, nice_ticks, no_data_figure, pretty, styled)

__all__ = ["EVENT_MARKERS", "swimmer_data", "swimmer_plot"]

DAYS_PER_MONTH = 30.4375

#: event → (marker, colour, label)
EVENT_MARKERS: dict[str, tuple[str, str, str]] = {
    "response": ("^", OKABE_ITO["blue"], "First response (PR/CR)"),
    "pd": ("X", OKABE_ITO["vermillion"], "Progression (PD)"),
    "surgery": ("D", "#222222", "Surgery"),
    "recurrence": ("*", OKABE_ITO["reddish_purple"], "Recurrence"),
    "death": ("s", "#000000", "Death"),
}


def _months(dates: pd.Series, zero: pd.Series) -> np.ndarray:
    return ((pd.to_datetime(dates) - pd.to_datetime(zero)).dt.days.to_numpy(dtype=float)) / DAYS_PER_MONTH


@positional_deprecated
def swimmer_data(tables: Mapping[str, pd.DataFrame], tte: pd.DataFrame, tumour: pd.DataFrame | None = None, *,
                 patients: pd.Series | list | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(lanes, courses, events)`` for :func:`swimmer_plot`, in months since the OS time zero.

    * lanes — ``patient_id, end, status`` ("dead"/"alive"), ``cohort`` — from ``tte`` rows with
      ``paramcd == "OS"`` (``start_date`` = time zero, ``adt`` = death or last known alive).
    * courses — ``patient_id, start, stop, agent_class`` from ``tables["treatments"]`` (a course
      without a stop date runs to the lane end).
    * events — ``patient_id, time, event``: first PR/CR and first PD (``tumour.overall_response``),
      each operation (``tables["surgery"]``), the first recurrence (``follow_up.recurrence_date``),
      and death (OS event).
    ``patients`` restricts the lanes (e.g. the neoadjuvant cohort).
    """
    os_ = tte[tte["paramcd"] == "OS"]
    if patients is not None:
        os_ = os_[os_["patient_id"].isin(list(patients))]
    os_ = os_[os_["start_date"].notna() & os_["adt"].notna()]
    zero = pd.to_datetime(os_.set_index("patient_id")["start_date"])

    def since(dates: pd.Series, pids: pd.Series) -> np.ndarray:
        """Months from each patient's time zero to ``dates``."""
        z = zero.reindex(pids.to_numpy()).to_numpy()
        delta = pd.to_datetime(dates).to_numpy() - z
        return delta / np.timedelta64(1, "D") / DAYS_PER_MONTH
    lanes = pd.DataFrame({"patient_id": os_["patient_id"].to_numpy(),
                          "end": _months(os_["adt"], os_["start_date"]),
                          "status": np.where(os_["event"].to_numpy(dtype=float) == 1, "dead", "alive"),
                          "cohort": os_["cohort"].to_numpy() if "cohort" in os_ else "all"})
    end = lanes.set_index("patient_id")["end"]
    tr = tables.get("treatments")
    courses = pd.DataFrame(columns=["patient_id", "start", "stop", "agent_class"])
    if tr is not None and len(tr):
        tr = tr[tr["patient_id"].isin(lanes["patient_id"])]
        start = since(tr["start_date"], tr["patient_id"])
        stop = since(tr["stop_date"], tr["patient_id"])
        stop = np.where(np.isnan(stop), end.reindex(tr["patient_id"]).to_numpy(), stop)
        courses = pd.DataFrame({"patient_id": tr["patient_id"].to_numpy(), "start": start, "stop": stop,
                                "agent_class": tr["agent_class"].astype(str).to_numpy()})
    ev = []
    if tumour is not None and len(tumour):
        tu = tumour[tumour["patient_id"].isin(lanes["patient_id"])]
        for code, mask in (("response", tu["overall_response"].isin(["CR", "PR"])),
                           ("pd", tu["overall_response"].eq("PD"))):
            first = tu[mask.fillna(False)].groupby("patient_id", as_index=False)["assessment_date"].min()
            ev.append(pd.DataFrame({"patient_id": first["patient_id"],
                                    "time": since(first["assessment_date"], first["patient_id"]),
                                    "event": code}))
    sx = tables.get("surgery")
    if sx is not None and len(sx):
        sx = sx[sx["patient_id"].isin(lanes["patient_id"])]
        ev.append(pd.DataFrame({"patient_id": sx["patient_id"].to_numpy(),
                                "time": since(sx["surgery_date"], sx["patient_id"]),
                                "event": "surgery"}))
    fu = tables.get("follow_up")
    if fu is not None and len(fu) and "recurrence_date" in fu:
        rec = fu[fu["patient_id"].isin(lanes["patient_id"]) & fu["recurrence_date"].notna()]
        rec = rec.groupby("patient_id", as_index=False)["recurrence_date"].min()
        ev.append(pd.DataFrame({"patient_id": rec["patient_id"],
                                "time": since(rec["recurrence_date"], rec["patient_id"]),
                                "event": "recurrence"}))
    dead = lanes[lanes["status"] == "dead"]
    ev.append(pd.DataFrame({"patient_id": dead["patient_id"], "time": dead["end"], "event": "death"}))
    events = pd.concat(ev, ignore_index=True) if ev else pd.DataFrame(columns=["patient_id", "time", "event"])
    events = events[events["time"].notna()].reset_index(drop=True)
    return lanes, courses, events


@styled
def swimmer_plot(lanes: pd.DataFrame, courses: pd.DataFrame | None = None, events: pd.DataFrame | None = None, *,
                 max_lanes: int = 40, label_patients: bool = True, colours: Mapping[str, str] | None = None,
                 xlabel: str = "Months since treatment decision", title: str | None = None,
                 width: float = DOUBLE_COLUMN[0]) -> Figure:
    """Swimmer plot.

    Parameters
    ----------
    lanes : ``patient_id, end`` (time of death / last contact) and ``status`` ("dead"/"alive").
    courses : ``patient_id, start, stop, agent_class`` — treatment bars (same time unit).
    events : ``patient_id, time, event`` with event in :data:`EVENT_MARKERS` (response, pd,
        surgery, recurrence, death); other codes are drawn as grey dots.
    max_lanes : lanes drawn (longest first); the rest are counted in a "… N more" line.
    label_patients : the pseudonymous patient id at each lane.

    Height grows with the lanes (0.13 in each). ``fig.lanes`` is the drawn lanes top → bottom.
    """
    if lanes is None or len(lanes) == 0 or not {"patient_id", "end"} <= set(lanes.columns):
        return no_data_figure("no patient follow-up to draw", size=(width, 1.5), title="Swimmer plot")
    ln = lanes.copy()
    ln["end"] = pd.to_numeric(ln["end"], errors="coerce")
    ln = ln[ln["end"].notna()]
    if ln.empty:
        return no_data_figure("no patient has a follow-up time", size=(width, 1.5), title="Swimmer plot")
    if "status" not in ln:
        ln["status"] = "alive"
    ln = ln.sort_values(["end", "patient_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    n_all = len(ln)
    shown = ln.iloc[:max_lanes].copy()
    n_more = n_all - len(shown)
    k = len(shown)
    shown["y"] = np.arange(k)[::-1] + (1 if n_more else 0)      # top lane highest
    ypos = shown.set_index("patient_id")["y"]
    lane_h = 0.13
    H = (k + (1 if n_more else 0)) * lane_h + 1.25
    fig = new_figure((width, H))
    left = 0.75 if label_patients else 0.35
    ax = fig.add_axes((left / width, 0.55 / H, (width - left - 0.15) / width, (H - 1.2) / H))
    # follow-up lanes
    ax.barh(shown["y"], shown["end"], height=0.22, color="#D9D9D9", lw=0, zorder=1)
    classes: list[str] = []
    if courses is not None and len(courses):
        c = courses[courses["patient_id"].isin(shown["patient_id"])].copy()
        c["y"] = c["patient_id"].map(ypos)
        classes = sorted(c["agent_class"].astype(str).unique())
        cmap = colour_map(classes, AGENT_CLASS_COLOURS, colours)
        for cl in classes:
            p = c[c["agent_class"].astype(str) == cl]
            ax.barh(p["y"], (p["stop"] - p["start"]).clip(lower=0.05), left=p["start"], height=0.6,
                    color=cmap[cl], lw=0, zorder=2, gid=f"course:{cl}")
    present_events: list[str] = []
    if events is not None and len(events):
        e = events[events["patient_id"].isin(shown["patient_id"])].copy()
        e["y"] = e["patient_id"].map(ypos)
        for code in list(EVENT_MARKERS) + sorted(set(e["event"]) - set(EVENT_MARKERS)):
            p = e[e["event"] == code]
            if p.empty:
                continue
            m, col, _ = EVENT_MARKERS.get(code, ("o", "#777777", pretty(code)))
            ax.plot(p["time"], p["y"], ls="none", marker=m, ms=4.5 if m != "*" else 6, color=col, mec="white",
                    mew=0.3, zorder=4, gid=f"event:{code}")
            present_events.append(code)
    alive = shown[shown["status"].astype(str).str.lower() != "dead"]
    xmax = float(shown["end"].max())
    if len(alive):
        ax.plot(alive["end"] + xmax * 0.008, alive["y"], ls="none", marker=">", ms=3.5, color="#666666",
                zorder=3, gid="alive")
    ticks = nice_ticks(xmax, 9, steps=MONTH_STEPS) if "month" in xlabel.lower() else nice_ticks(xmax, 9)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlim(0, max(xmax, ticks[-1]) * 1.03)
    ax.set_ylim(-0.7, (k - 1 + (1 if n_more else 0)) + 0.7)
    if label_patients:
        ax.set_yticks(shown["y"])
        ax.set_yticklabels(shown["patient_id"].astype(str), fontsize=SMALL_SIZE - 1)
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    if n_more:
        ax.text(0.0, 0, f"… {n_more} more patients not shown (lanes sorted by follow-up; longest {k} drawn)",
                transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=SMALL_SIZE - 0.5,
                color="#444444")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Patients" if not label_patients else "")
    handles = [Patch(color="#D9D9D9", label="Follow-up")]
    if classes:
        handles += [Patch(color=cmap[cl], label=pretty(cl)) for cl in classes]
    handles += [Line2D([], [], ls="none", marker=EVENT_MARKERS.get(c, ("o", "#777777", ""))[0],
                       color=EVENT_MARKERS.get(c, ("o", "#777777", ""))[1], ms=5,
                       label=EVENT_MARKERS.get(c, ("o", "#777777", pretty(c)))[2]) for c in present_events]
    if len(alive):
        handles.append(Line2D([], [], ls="none", marker=">", color="#666666", ms=4, label="Alive at last contact"))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0 + 0.05 / (H - 1.2)), ncol=5)
    if title:
        fig.suptitle(title, y=1 - 0.02 / H, va="top")
    fig.lanes = shown  # type: ignore[attr-defined]
    return fig
