"""STROBE participant flow diagram (STROBE statement item 13; von Elm et al., *Lancet*
2007;370:1453): numbers screened, excluded with reasons, included per cohort, excluded from the
analysis with reasons, analysed — boxes and arrows drawn with matplotlib patches.

Input (``counts``), all keys optional except ``cohorts``::

    {
        "screened": 650,                                    # patients assessed for eligibility
        "excluded": {"Not cT4 at baseline": 30, ...},       # reason → n (before cohort assignment)
        "eligible": 620,                                    # default: screened − Σ excluded
        "cohorts": {
            "neoadjuvant": {"included": 300,
                            "excluded": {"No post-baseline imaging": 4},   # reason → n
                            "analysed": 296},              # default: included − Σ excluded
            "upfront_surgery": {"included": 320, "analysed": 320},
        },
    }
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from ._style import (DOUBLE_COLUMN, SMALL_SIZE, new_figure, no_data_figure, pretty, styled, text_size_in,
                     wrap)

__all__ = ["flow_diagram"]

_PAD = 0.07          # inches of padding inside a box
_CHAR_IN = 0.056     # approximate width of one 7-pt character (inches), for wrapping


def _n(v) -> str:
    return f"{int(v):,}".replace(",", " ")


def _reasons(d: Mapping | None) -> list[str]:
    return [f"• {k} (n = {_n(v)})" for k, v in (d or {}).items() if v]


@styled
def flow_diagram(counts: Mapping, *, labels: Mapping[str, str] | None = None, title: str | None = None,
                 width: float = DOUBLE_COLUMN[0]) -> Figure:
    """STROBE flow diagram from a small counts structure (module docstring).

    Box texts are wrapped to the box width; the figure height follows the content. Boxes carry
    ``gid="flow:<name>"`` (screened, excluded, eligible, ``<cohort>:included``,
    ``<cohort>:excluded``, ``<cohort>:analysed``); ``fig.boxes`` maps gid → text.
    """
    if not counts or not counts.get("cohorts"):
        return no_data_figure("no cohort counts given", size=(width, 1.5), title="Participant flow")
    labels = dict(labels or {})
    cohorts = dict(counts["cohorts"])
    k = len(cohorts)
    probe = new_figure((width, 4))

    def size(text: str) -> tuple[float, float]:
        w, h = text_size_in(probe, text, SMALL_SIZE)
        return w + 2 * _PAD, h + 2 * _PAD

    def box_text(lines: list[str], max_w: float) -> str:
        chars = max(int((max_w - 2 * _PAD) / _CHAR_IN), 12)
        return "\n".join(wrap(line, chars, max_lines=4) for line in lines)

    boxes: list[dict] = []      # x (left), y_top (from the top), w, h, text, gid, align
    arrows: list[tuple] = []    # (x0, y0, x1, y1) from the top
    y = 0.1
    main_x = width * 0.36
    main_w = min(3.0, width * 0.45)
    side_x = main_x + main_w / 2 + 0.3
    side_w = width - side_x - 0.05
    top_box = None
    if counts.get("screened") is not None:
        t = box_text([f"Patients assessed for eligibility (n = {_n(counts['screened'])})"], main_w)
        w, h = size(t)
        top_box = {"x": main_x - w / 2, "y": y, "w": w, "h": h, "text": t, "gid": "flow:screened"}
        boxes.append(top_box)
        y += h
        excl = _reasons(counts.get("excluded"))
        if excl:
            n_ex = sum(int(v) for v in counts["excluded"].values())
            t = box_text([f"Excluded (n = {_n(n_ex)})"] + excl, side_w)
            sw, sh = size(t)
            y += 0.2
            boxes.append({"x": side_x, "y": y, "w": sw, "h": sh, "text": t, "gid": "flow:excluded", "align": "left"})
            arrows.append((main_x, y + sh / 2, side_x, y + sh / 2, "side"))
            y += sh + 0.2
        else:
            y += 0.3
    eligible = counts.get("eligible")
    if eligible is None and counts.get("screened") is not None:
        eligible = int(counts["screened"]) - sum(int(v) for v in (counts.get("excluded") or {}).values())
    if eligible is None:
        eligible = sum(int(c.get("included", 0)) for c in cohorts.values())
    t = box_text([f"Eligible patients (n = {_n(eligible)})"], main_w)
    w, h = size(t)
    elig = {"x": main_x - w / 2, "y": y, "w": w, "h": h, "text": t, "gid": "flow:eligible"}
    if top_box is not None:
        arrows.append((main_x, top_box["y"] + top_box["h"], main_x, y, "down"))
    boxes.append(elig)
    y += h + 0.35
    col_w = width / k
    inc_y = y
    inc_h = 0.0
    centers = []
    for i, (name, c) in enumerate(cohorts.items()):
        cx = col_w * i + col_w * (0.5 if k == 1 else 0.3)
        centers.append(cx)
        cw = min(col_w * (0.5 if k > 1 else 0.42), 2.4)
        t = box_text([labels.get(name, pretty(name)), f"Included (n = {_n(c.get('included', 0))})"], cw)
        w, h = size(t)
        boxes.append({"x": cx - w / 2, "y": inc_y, "w": w, "h": h, "text": t, "gid": f"flow:{name}:included"})
        inc_h = max(inc_h, h)
    # branch: eligible → each cohort
    branch_y = inc_y - 0.17
    arrows.append((main_x, elig["y"] + elig["h"], main_x, branch_y, "line"))
    if k > 1:
        arrows.append((min(centers), branch_y, max(centers), branch_y, "line"))
    for cx in centers:
        arrows.append((cx, branch_y, cx, inc_y, "down"))
    y = inc_y + inc_h
    side_h = 0.0
    side_boxes = []
    for i, (name, c) in enumerate(cohorts.items()):
        excl = _reasons(c.get("excluded"))
        if not excl:
            continue
        cx = centers[i]
        sx = cx + (0.35 if k > 1 else main_w / 2 + 0.3)
        sw_max = col_w * (i + 1) - sx - 0.05 if k > 1 else width - sx - 0.05
        n_ex = sum(int(v) for v in c["excluded"].values())
        t = box_text([f"Excluded from analysis (n = {_n(n_ex)})"] + excl, sw_max)
        sw, sh = size(t)
        side_boxes.append({"x": sx, "y": y + 0.2, "w": sw, "h": sh, "text": t, "gid": f"flow:{name}:excluded",
                           "align": "left", "cx": cx})
        side_h = max(side_h, sh)
    for b in side_boxes:
        boxes.append(b)
        arrows.append((b["cx"], b["y"] + b["h"] / 2, b["x"], b["y"] + b["h"] / 2, "side"))
    y += (side_h + 0.4) if side_boxes else 0.35
    for i, (name, c) in enumerate(cohorts.items()):
        analysed = c.get("analysed")
        if analysed is None:
            analysed = int(c.get("included", 0)) - sum(int(v) for v in (c.get("excluded") or {}).values())
        t = box_text([f"Analysed (n = {_n(analysed)})"], col_w * 0.5)
        w, h = size(t)
        boxes.append({"x": centers[i] - w / 2, "y": y, "w": w, "h": h, "text": t, "gid": f"flow:{name}:analysed"})
        arrows.append((centers[i], inc_y + inc_h, centers[i], y, "down"))
    H = y + max(b["h"] for b in boxes if b["y"] == y) + 0.1 + (0.3 if title else 0)
    off = 0.3 if title else 0.0
    fig = new_figure((width, H))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(H, 0)          # y downwards, in inches
    ax.set_axis_off()
    for b in boxes:
        ax.add_patch(Rectangle((b["x"], b["y"] + off), b["w"], b["h"], facecolor="white", edgecolor="#222222",
                               lw=0.8, gid=b["gid"]))
        if b.get("align") == "left":
            ax.text(b["x"] + _PAD, b["y"] + off + b["h"] / 2, b["text"], ha="left", va="center", fontsize=SMALL_SIZE)
        else:
            ax.text(b["x"] + b["w"] / 2, b["y"] + off + b["h"] / 2, b["text"], ha="center", va="center",
                    fontsize=SMALL_SIZE, multialignment="center")
    for x0, y0, x1, y1, kind in arrows:
        if kind == "line":
            ax.plot([x0, x1], [y0 + off, y1 + off], color="#222222", lw=0.8)
        else:
            ax.add_patch(FancyArrowPatch((x0, y0 + off), (x1, y1 + off), arrowstyle="-|>", mutation_scale=7,
                                         color="#222222", lw=0.8, shrinkA=0, shrinkB=0))
    if title:
        ax.text(width / 2, 0.08, title, ha="center", va="top", fontsize=SMALL_SIZE + 2, fontweight="bold")
    fig.boxes = {b["gid"]: b["text"] for b in boxes}  # type: ignore[attr-defined]
    return fig
