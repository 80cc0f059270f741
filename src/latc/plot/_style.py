"""One journal style for every ``latc.plot`` figure, and the helpers they share.

* Font: DejaVu Sans (shipped inside matplotlib, so a figure renders the same on every machine);
  8 pt text, 7 pt tick labels and table cells, 9 pt panel titles — inside the 6–9 pt range most
  journals ask for at final size.
* Lines 1 pt (axes 0.8 pt); no top/right spines; no grid.
* Colours: the Okabe–Ito palette (Okabe & Ito, *Color Universal Design*, 2008), distinguishable
  with the common colour-vision deficiencies; fixed colours per response category, cohort and
  agent class so the same thing has the same colour in every figure.
* Sizes: single column 89 mm (3.5 in), double column 183 mm (7.2 in) — Nature / Lancet / JCO widths.
* :func:`save` writes SVG (text as paths, no date, fixed id salt: byte-identical across runs) and a
  300-dpi PNG.

Every public plotting function builds a :class:`matplotlib.figure.Figure` on the Agg canvas
(never ``pyplot``; nothing is shown, no global figure registry) inside :func:`style_context`.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import matplotlib

matplotlib.use("Agg", force=False)  # headless; a no-op once a backend is already in use

import matplotlib.colors as mcolors  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from latc._compat import positional_deprecated  # noqa: E402

__all__ = [
    "AGENT_CLASS_COLOURS",
    "COHORT_COLOURS",
    "DOUBLE_COLUMN",
    "OKABE_ITO",
    "PALETTE",
    "RESPONSE_COLOURS",
    "RESPONSE_ORDER",
    "SINGLE_COLUMN",
    "colour_map",
    "format_ci",
    "format_p",
    "new_figure",
    "no_data_figure",
    "pretty",
    "save",
    "style_context",
    "wrap",
]

MM = 1 / 25.4
#: Figure widths × default heights in inches (89 mm / 183 mm wide).
SINGLE_COLUMN: tuple[float, float] = (89 * MM, 70 * MM)
DOUBLE_COLUMN: tuple[float, float] = (183 * MM, 110 * MM)

FONT_FAMILY = "DejaVu Sans"
FONT_SIZE = 8.0
SMALL_SIZE = 7.0
TITLE_SIZE = 9.0
LINE_WIDTH = 1.0
DPI = 300
#: Above this many patients the waterfall's bars are one 300-dpi image inside the SVG
#: (``set_rasterized``; axes and text stay vector): at 100,000 patients 0.1 MB written in 1.1 s instead
#: of 15.9 MB in 4.1 s. (Rasterizing the spider and trajectory lines made their SVGs small but slower
#: to write, 2.3 -> 5.9 s and 5.4 -> 9.1 s, so they stay vector.)
RASTER_ABOVE = 2000
#: Seed of the random sample of patients whose individual lines a spider or trajectory plot draws
#: when it is given ``max_lines`` (the report: :data:`latc.report._clinical.MAX_LINES`).
LINE_SAMPLE_SEED = 20261206


def line_sample(ids: Any, max_lines: int | None) -> np.ndarray | None:
    """The patients whose individual lines are drawn: all (None) when ``max_lines`` is None or not
    exceeded, else a seeded random sample of ``max_lines`` of the distinct ``ids`` (in their order),
    the same on every run. Summary lines (medians) and counts still use every patient."""
    arr = np.asarray(ids)
    first = np.unique(arr, return_index=True)[1]
    uniq = arr[np.sort(first)]
    if max_lines is None or len(uniq) <= max_lines:
        return None
    pick = np.random.default_rng(LINE_SAMPLE_SEED).choice(len(uniq), size=max_lines, replace=False)
    return uniq[np.sort(pick)]


def legend_sample_label(label: str, shown: Any, total: int) -> str:
    """``label``, plus "(a random N of M)" when only a sample of the lines is drawn."""
    return label if shown is None else f"{label} (a random {len(shown):,} of {total:,})"

#: Okabe–Ito colour-blind-safe palette.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}
#: Order used for groups without a fixed colour.
PALETTE: list[str] = [OKABE_ITO[k] for k in ("blue", "vermillion", "bluish_green", "orange",
                                              "reddish_purple", "sky_blue", "black", "yellow")]

#: Paul Tol's "muted" colour-blind-safe palette, for annotation strips that sit next to
#: Okabe–Ito-coloured data (so a category colour never looks like a response colour).
TOL_MUTED: list[str] = ["#332288", "#DDCC77", "#117733", "#CC6677", "#88CCEE", "#882255", "#44AA99",
                        "#999933", "#AA4499"]

#: RECIST 1.1 best overall response categories, best first (as ``latc.derive.bor``).
RESPONSE_ORDER: tuple[str, ...] = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "ND", "MISSING")
RESPONSE_COLOURS: dict[str, str] = {
    "CR": OKABE_ITO["blue"],
    "PR": OKABE_ITO["sky_blue"],
    "SD": OKABE_ITO["bluish_green"],
    "NON-CR/NON-PD": OKABE_ITO["reddish_purple"],
    "PD": OKABE_ITO["vermillion"],
    "NE": OKABE_ITO["grey"],
    "ND": "#BBBBBB",
    "MISSING": "#DDDDDD",
}
COHORT_COLOURS: dict[str, str] = {
    "neoadjuvant": OKABE_ITO["blue"],
    "upfront_surgery": OKABE_ITO["vermillion"],
}
#: Agent classes of the treatments form (dictionary value set ``agent_class``).
AGENT_CLASS_COLOURS: dict[str, str] = {
    "mki": OKABE_ITO["orange"],
    "braf_mek": OKABE_ITO["reddish_purple"],
    "ret_selective": OKABE_ITO["bluish_green"],
    "ntrk": OKABE_ITO["sky_blue"],
    "ici": OKABE_ITO["blue"],
    "chemo": "#555555",
}

#: Readable labels for codes used across the study (anything else: :func:`pretty`).
LABELS: dict[str, str] = {
    "neoadjuvant": "Neoadjuvant",
    "upfront_surgery": "Upfront surgery",
    "mki": "Multikinase inhibitor",
    "braf_mek": "BRAF/MEK inhibitor",
    "ret_selective": "Selective RET inhibitor",
    "ntrk": "TRK inhibitor",
    "ici": "Checkpoint inhibitor",
    "chemo": "Chemotherapy",
    "MISSING": "Not assessed",
    "NON-CR/NON-PD": "Non-CR/non-PD",
    "ptc": "PTC", "ftc": "FTC", "oncocytic": "Oncocytic", "pdtc": "PDTC", "atc": "ATC", "mtc": "MTC",
    "dtc": "DTC",
}

#: Words written in capitals inside readable labels ("braf_v600e_positive" → "BRAF V600E positive").
_WORDS: dict[str, str] = {w: w.upper() for w in ("ptc", "ftc", "pdtc", "atc", "mtc", "dtc", "ecog", "braf",
                                                 "v600e", "tert", "ret", "ras", "ntrk", "alk", "tsh", "tg",
                                                 "cea", "rai", "ebrt", "mki", "ici", "ata", "ajcc", "r0",
                                                 "r1", "r2", "os", "efs", "rfs", "dss")}

RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT_FAMILY],
    "font.size": FONT_SIZE,
    "axes.titlesize": TITLE_SIZE,
    "axes.titleweight": "bold",
    "axes.labelsize": FONT_SIZE,
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#222222",
    "axes.labelcolor": "#222222",
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "xtick.labelsize": SMALL_SIZE,
    "ytick.labelsize": SMALL_SIZE,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "xtick.color": "#222222",
    "ytick.color": "#222222",
    "legend.fontsize": SMALL_SIZE,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "legend.columnspacing": 1.2,
    "lines.linewidth": LINE_WIDTH,
    "patch.linewidth": 0.5,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "svg.fonttype": "path",       # glyphs as paths: the SVG looks the same without the font
    "svg.hashsalt": "latc",       # fixed clip-path / glyph ids: deterministic SVG
    "pdf.fonttype": 42,
    "axes.unicode_minus": True,
}

F = TypeVar("F", bound=Callable[..., Any])


def style_context():
    """``matplotlib.rc_context`` with the journal style (does not change global rcParams)."""
    return matplotlib.rc_context(RC)


def styled(func: F) -> F:
    """Decorator: run a plotting function inside :func:`style_context`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with style_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(size: tuple[float, float] = SINGLE_COLUMN) -> Figure:
    """A Figure on the Agg canvas (no pyplot state), white background."""
    fig = Figure(figsize=size, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


@positional_deprecated
@styled
def no_data_figure(reason: str, *, size: tuple[float, float] = SINGLE_COLUMN, title: str | None = None) -> Figure:
    """A figure that says why it is empty: ``"No data: <reason>"`` centred (never an exception)."""
    fig = new_figure(size)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    msg = wrap(f"No data: {reason}", 48)
    if title:
        msg = f"{title}\n\n{msg}"
    ax.text(0.5, 0.5, msg, ha="center", va="center", fontsize=FONT_SIZE, color="#444444",
            transform=ax.transAxes)
    fig.no_data_reason = reason  # type: ignore[attr-defined]
    return fig


def text_size_in(fig: Figure, text: str, fontsize: float, **kw) -> tuple[float, float]:
    """Width and height (inches) ``text`` takes when drawn at ``fontsize`` on ``fig``."""
    t = fig.text(0, 0, text, fontsize=fontsize, **kw)
    bb = t.get_window_extent(fig.canvas.get_renderer())
    t.remove()
    return bb.width / fig.dpi, bb.height / fig.dpi


@positional_deprecated
def save(fig: Figure, path_stem: str | Path, *, formats: Iterable[str] = ("svg", "png")) -> list[Path]:
    """Write ``<path_stem>.svg`` and ``<path_stem>.png`` (300 dpi); returns the paths written.

    Deterministic: the SVG has no date (``metadata={"Date": None}``) and fixed element ids
    (``svg.hashsalt``), so two saves of the same figure are byte-identical; the PNG carries no
    software/date chunk beyond matplotlib's fixed one. Saved with a tight bounding box (nothing clipped).
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with style_context():
        for fmt in formats:
            path = stem.with_name(stem.name + f".{fmt}")
            if fmt == "svg":
                fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight",
                            pad_inches=0.04)
            elif fmt == "png":
                fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None},
                            bbox_inches="tight", pad_inches=0.04)
            elif fmt == "pdf":
                fig.savefig(path, format="pdf", metadata={"CreationDate": None, "ModDate": None},
                            bbox_inches="tight", pad_inches=0.04)
            else:
                raise ValueError(f"save: unknown format {fmt!r} (svg, png or pdf)")
            written.append(path)
    return written


# ------------------------------------------------------------------------------------------------
# text helpers


def pretty(value: Any) -> str:
    """A readable label for a code: known study codes from :data:`LABELS`, else ``snake_case`` →
    ``Snake case``; numbers and mixed-case text unchanged."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "Missing"
    s = str(value)
    if s in LABELS:
        return LABELS[s]
    if s == s.lower() and s[:1].isalpha():
        words = [_WORDS.get(w, w) for w in s.replace("_", " ").split(" ")]
        s = " ".join(words)
        return s[:1].upper() + s[1:]
    return s


def wrap(text: str, width: int = 28, max_lines: int = 3) -> str:
    """Wrap a long label onto at most ``max_lines`` lines (ellipsis when it still does not fit)."""
    lines = textwrap.wrap(str(text), width=width, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(width - 1, 1)].rstrip() + "…"
    return "\n".join(lines)


def format_p(p: float | None, prefix: str = "p") -> str:
    """``p = 0.034`` / ``p < 0.001`` (2 significant digits above 0.01, 3 decimals below)."""
    if p is None or not np.isfinite(p):
        return f"{prefix} = NA"
    if p < 0.001:
        return f"{prefix} < 0.001"
    if p < 0.01:
        return f"{prefix} = {p:.3f}"
    return f"{prefix} = {p:.2f}"


def format_ci(estimate: float, lower: float, upper: float, digits: int = 2) -> str:
    """``0.72 (0.51–1.02)``; ``NA`` when the estimate is missing."""
    if estimate is None or not np.isfinite(estimate):
        return "NA"
    return f"{estimate:.{digits}f} ({lower:.{digits}f}–{upper:.{digits}f})"


def colour_map(levels: Iterable[Any], fixed: Mapping[str, str] | None = None,
               colours: Mapping[Any, str] | None = None) -> dict[Any, str]:
    """Colours for ``levels``: explicit ``colours`` first, then the ``fixed`` study colours (by
    code), then the palette in order."""
    levels = list(levels)
    out: dict[Any, str] = {}
    taken = {colours[lv] for lv in levels if colours and lv in colours}
    taken |= {fixed[str(lv)] for lv in levels if fixed and str(lv) in fixed}
    spare = iter(c for c in PALETTE if c not in taken)
    for lv in levels:
        if colours and lv in colours:
            out[lv] = colours[lv]
        elif fixed and str(lv) in fixed:
            out[lv] = fixed[str(lv)]
        else:
            out[lv] = next(spare, "#777777")
    return out


def legible(colour: str) -> str:
    """The colour darkened enough to read as text on white (yellow, sky blue); others unchanged."""
    r, g, b = mcolors.to_rgb(colour)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    if luminance <= 0.5:
        return mcolors.to_hex((r, g, b))
    k = 0.5 / luminance
    return mcolors.to_hex((r * k, g * k, b * k))


def lighten(colour: str, amount: float = 0.6) -> str:
    """Blend a colour with white (``amount`` 0 = unchanged, 1 = white)."""
    r, g, b = mcolors.to_rgb(colour)
    return mcolors.to_hex((r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount))


MONTH_STEPS = (1, 2, 3, 6, 12, 24, 36, 48, 60, 120, 240)
DEFAULT_STEPS = (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000)


def nice_ticks(upper: float, max_ticks: int = 7, lower: float = 0.0,
               steps: Iterable[float] = DEFAULT_STEPS) -> np.ndarray:
    """Round tick positions from ``lower`` covering ``upper`` with at most ``max_ticks`` ticks
    (``steps``: allowed spacings, e.g. :data:`MONTH_STEPS` for months)."""
    span = max(float(upper) - lower, 1e-9)
    for step in steps:
        if span / step <= max_ticks - 1:
            break
    else:
        step = 10 ** math.ceil(math.log10(span / (max_ticks - 1)))
    top = lower + math.ceil(span / step - 1e-9) * step
    return np.round(np.arange(lower, top + step / 2, step), 10)


def check_columns(df: Any, columns: Iterable[str], what: str) -> str | None:
    """``None`` when ``df`` is a DataFrame with ``columns``; else a "No data" reason naming them."""
    import pandas as pd

    if df is None:
        return f"no {what} given"
    if not isinstance(df, pd.DataFrame):
        return f"{what} is a {type(df).__name__}, not a table"
    missing = [c for c in columns if c not in df.columns]
    if missing:
        return f"{what} lacks column(s) {', '.join(missing)}"
    if len(df) == 0:
        return f"{what} has no rows"
    return None


def save_and_close(fig: Figure, path_stem: str | Path) -> list[Path]:
    """:func:`save` (SVG + 300-dpi PNG, deterministic), then close the figure to free its memory.

    A suffix on ``path_stem`` (``x.png``) is dropped, so callers may pass either form.
    """
    import matplotlib.pyplot as plt

    stem = Path(path_stem)
    if stem.suffix.lower() in (".svg", ".png", ".pdf"):
        stem = stem.with_suffix("")
    try:
        return save(fig, stem)
    finally:
        plt.close(fig)
