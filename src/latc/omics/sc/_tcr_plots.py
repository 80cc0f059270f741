"""TCR figures (matplotlib, return Figures; written by :func:`latc.omics.sc._tcr.write_tcr_outputs`
with the project's deterministic SVG + 300-dpi PNG saver). They draw the numbers of the TCR tables
(``tcr_expansion``, ``tcr_overlap``, ``tcr_tracking_summary``) and compute nothing new.

Colours: the single-cell palette (Okabe & Ito 2008, colour-blind safe) — responders blue,
non-responders vermillion, as in :data:`latc.omics.sc._plots.OUTCOME_COLOURS`.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from latc.omics.sc._plots import OUTCOME_COLOURS  # noqa: E402

__all__ = ["expansion_bars", "tumour_blood_overlap", "tracking_plot"]

#: clone-size classes (cells of the clone in the sample) from light (singletons) to dark: Paul Tol's
#: "muted" cyan, teal, green, indigo — distinct from the response colours of the tick labels
SIZE_COLOURS = {"1": "#DDDDDD", "2": "#88CCEE", "3-5": "#44AA99", "6-10": "#117733", ">10": "#332288"}
_TP_ORDER = {"baseline": 0, "on_treatment": 1, "surgery": 2, "follow_up": 3}
_TP_SHORT = {"baseline": "BL", "on_treatment": "OT", "surgery": "SX", "follow_up": "FU"}
_TISSUES = ["tumour", "lymph_node", "blood"]


def _response_of(responders: pd.Series | None):
    lab = {True: "responder", False: "non_responder"}
    r = {} if responders is None else {str(k): lab.get(bool(v)) for k, v in responders.dropna().items()}
    return lambda pid: r.get(str(pid), "unknown")


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="#555555")
    ax.set_xticks([]), ax.set_yticks([])


def expansion_bars(expansion: pd.DataFrame, *, responders: pd.Series | None = None, max_samples: int = 80) -> Figure:
    """Share of each sample's T cells by the size of their clone in the sample (1, 2, 3-5, 6-10,
    >10 cells), one stacked bar per sample, a panel per tissue, samples ordered by timepoint then
    patient; tick labels coloured by response. Input: ``tcr_expansion``."""
    e = expansion.copy()
    e["size_class"] = e["size_class"].astype(str)
    tissues = [t for t in _TISSUES if t in set(e["tissue"])] + sorted(set(e["tissue"]) - set(_TISSUES))
    resp = _response_of(responders)
    widths = []
    for t in tissues:
        widths.append(max(3, min(max_samples, e.loc[e["tissue"] == t, "sample_id"].nunique())))
    fig, axes = plt.subplots(1, max(1, len(tissues)), figsize=(max(6.5, 0.2 * sum(widths) + 2.5), 4.4), squeeze=False,
                             gridspec_kw={"width_ratios": widths or [1]}, sharey=True)
    if not tissues:
        _no_data(axes[0, 0], "no TCR data")
        return fig
    for ax, t in zip(axes[0], tissues):
        d = e[e["tissue"] == t]
        wide = d.pivot_table(index=["sample_id", "patient_id", "timepoint"], columns="size_class", values="fraction",
                             fill_value=0.0, observed=True)
        order = sorted(wide.index, key=lambda i: (_TP_ORDER.get(i[2], 9), i[1], i[0]))[:max_samples]
        wide = wide.loc[order]
        x = np.arange(len(wide))
        bottom = np.zeros(len(wide))
        for cls, col in SIZE_COLOURS.items():
            v = wide[cls].to_numpy() if cls in wide else np.zeros(len(wide))
            ax.bar(x, v, bottom=bottom, color=col, width=0.85, label=f"{cls} cell{'s' if cls != '1' else ''}",
                   edgecolor="none")
            bottom += v
        ax.set_xticks(x, [f"{p} {_TP_SHORT.get(tp, tp)}" for _, p, tp in wide.index], rotation=90, fontsize=5.5)
        for lab, (_, p, _tp) in zip(ax.get_xticklabels(), wide.index):
            lab.set_color(OUTCOME_COLOURS.get(resp(p), "#555555") if resp(p) != "unknown" else "#555555")
        bounds = [i for i in range(1, len(wide)) if wide.index[i][2] != wide.index[i - 1][2]]
        for b in bounds:
            ax.axvline(b - 0.5, color="#555555", lw=0.6)
        ax.set_xlim(-0.6, len(wide) - 0.4)
        ax.set_ylim(0, 1)
        ax.set_title(t.replace("_", " "), fontsize=10)
    axes[0, 0].set_ylabel("share of the sample's T cells")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], ls="", marker="s", color=OUTCOME_COLOURS[k]) for k in ("responder", "non_responder")]
    labels += ["responder (tick label)", "non-responder (tick label)"]
    fig.legend(handles, labels, title="clone size in sample", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7,
               title_fontsize=7, frameon=False)
    fig.suptitle("T-cell clonal expansion per sample and timepoint (BL baseline, OT on treatment, SX surgery)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _tumour_blood_pairs(overlap: pd.DataFrame) -> pd.DataFrame:
    o = overlap
    tb = (((o["tissue_a"] == "tumour") & (o["tissue_b"] == "blood")) | ((o["tissue_a"] == "blood") & (o["tissue_b"] == "tumour")))
    return o[tb & (o["timepoint_a"] == o["timepoint_b"])].rename(columns={"timepoint_a": "timepoint"})


def tumour_blood_overlap(overlap: pd.DataFrame, *, responders: pd.Series | None = None) -> Figure:
    """Tumour ↔ blood clone sharing of each patient at each timepoint with both samples: Morisita–Horn
    index (left) and shared clonotypes (right), one line per patient, coloured by response. Input:
    ``tcr_overlap``."""
    d = _tumour_blood_pairs(overlap)
    fig, axes = plt.subplots(1, 2, figsize=(8.2, 3.8))
    if d.empty:
        for ax in axes:
            _no_data(ax, "no patient with tumour and blood\nat the same timepoint")
        return fig
    resp = _response_of(responders)
    tps = sorted(d["timepoint"].unique(), key=lambda t: _TP_ORDER.get(t, 9))
    xpos = {t: i for i, t in enumerate(tps)}
    rng = np.random.default_rng(0)
    seen: set[str] = set()
    for ax, col, lab in ((axes[0], "morisita_horn", "Morisita–Horn index (tumour vs blood)"),
                         (axes[1], "n_shared_clones", "clonotypes shared tumour ↔ blood")):
        for pid, g in d.groupby("patient_id", sort=True):
            g = g.sort_values("timepoint", key=lambda s: s.map(_TP_ORDER))
            k = resp(pid)
            jit = rng.uniform(-0.06, 0.06)
            ax.plot([xpos[t] + jit for t in g["timepoint"]], g[col], "-o", ms=3.5, lw=0.9, alpha=0.75,
                    color=OUTCOME_COLOURS.get(k, "#999999"), label=None if (k in seen or ax is axes[1]) else k.replace("_", "-"))
            if ax is axes[0]:
                seen.add(k)
        ax.set_xticks(range(len(tps)), [t.replace("_", " ") for t in tps])
        ax.set_xlim(-0.4, len(tps) - 0.6)
        ax.set_ylabel(lab, fontsize=9)
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(frameon=False, fontsize=7)
    fig.suptitle(f"Tumour–blood T-cell clone sharing ({d['patient_id'].nunique()} patients)", fontsize=10)
    fig.tight_layout()
    return fig


def tracking_plot(summary: pd.DataFrame, *, responders: pd.Series | None = None) -> Figure:
    """Clone tracking pre → post by response: per comparison (tissue, post − pre) the number of
    pre-existing clones that expanded (top) and the share of post-treatment cells in expanding or
    newly expanded clones (bottom), one point per patient, median bars. Input:
    ``tcr_tracking_summary``."""
    s = summary.copy()
    order = {t: i for i, t in enumerate(_TISSUES)}
    comps = sorted(dict.fromkeys(zip(s["tissue"], s["timepoint"])), key=lambda c: (order.get(c[0], 9), c[0], c[1]))
    fig, axes = plt.subplots(2, max(1, len(comps)), figsize=(max(4.5, 2.6 * len(comps)), 5.6), squeeze=False)
    if not comps:
        for ax in axes.ravel():
            _no_data(ax, "no paired samples")
        return fig
    resp = _response_of(responders)
    s["group"] = s["patient_id"].map(resp)
    groups = [g for g in ("non_responder", "responder", "unknown") if g in set(s["group"])]
    rng = np.random.default_rng(1)
    for j, (tissue, tp) in enumerate(comps):
        d = s[(s["tissue"] == tissue) & (s["timepoint"] == tp)]
        for i, (col, lab) in enumerate((("n_expanded", "pre-existing clones expanded"),
                                        ("expanding_cell_fraction_post", "post cells in expanding clones"))):
            ax = axes[i, j]
            for x, g in enumerate(groups):
                v = d.loc[d["group"] == g, col].dropna().to_numpy(dtype=float)
                ax.scatter(x + rng.uniform(-0.15, 0.15, len(v)), v, s=14, color=OUTCOME_COLOURS.get(g, "#999999"),
                           alpha=0.8, linewidths=0)
                if len(v):
                    ax.plot([x - 0.28, x + 0.28], [np.median(v)] * 2, color="#000000", lw=1.2)
            ax.set_xticks(range(len(groups)), [f"{g.replace('_', '-')}\n(n={int((d['group'] == g).sum())})"
                                               for g in groups], fontsize=7)
            ax.set_xlim(-0.6, len(groups) - 0.4)
            if i == 0:
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            if j == 0:
                ax.set_ylabel(lab, fontsize=8)
            if i == 0:
                ax.set_title(f"{tissue.replace('_', ' ')}: {tp.replace('_', ' ')}", fontsize=8)
    fig.suptitle("Clone tracking pre → post treatment by response", fontsize=10)
    fig.tight_layout()
    return fig
