"""Publication figures (``latc.plot``): one module per figure, one journal style (``_style``).

Every function takes tidy DataFrames or ``latc.stats`` result objects and returns a
:class:`matplotlib.figure.Figure` on the Agg canvas (never shown); awkward input (no rows, no
events, a single group) gives a figure that says why instead of an exception. :func:`save`
writes SVG (deterministic) + 300-dpi PNG. See docs/plots.md for each figure's input columns.

- :func:`waterfall_plot` — best % change of the target sum per patient, coloured by BOR.
- :func:`spider_plot` — % change from baseline over time per patient.
- :func:`swimmer_plot` (+ :func:`swimmer_data`) — each patient's course.
- :func:`km_plot` — Kaplan–Meier curves with numbers at risk, log-rank p, HR.
- :func:`forest_plot` — subgroup effects with interaction p.
- :func:`love_plot` — covariate balance before/after adjustment.
- :func:`ps_plot` — propensity-score distributions by cohort.
- :func:`cif_plot` — cumulative incidence with competing risks, Gray's p.
- :func:`flow_diagram` — STROBE participant flow.
- :func:`sankey_plot` (+ :func:`shift_table`) — cT → ypT downstaging.
- :func:`trajectory_plot` — Tg / calcitonin trajectories on a log axis.
- :func:`stacked_bar`, :func:`grouped_bar` — categorical outcomes by cohort.
"""

from ._style import (AGENT_CLASS_COLOURS, COHORT_COLOURS, DOUBLE_COLUMN, OKABE_ITO, RESPONSE_COLOURS,
                     SINGLE_COLUMN, no_data_figure, save, save_and_close, style_context)
from .bars import grouped_bar, stacked_bar
from .cif import cif_plot
from .flow import flow_diagram
from .forest import forest_plot
from .km import km_plot
from .love import love_plot
from .ps import ps_plot
from .sankey import T_ORDER, sankey_plot, shift_table
from .spider import spider_plot
from .swimmer import swimmer_data, swimmer_plot
from .trajectories import trajectory_plot
from .waterfall import waterfall_plot

__all__ = [
    "AGENT_CLASS_COLOURS",
    "COHORT_COLOURS",
    "DOUBLE_COLUMN",
    "OKABE_ITO",
    "RESPONSE_COLOURS",
    "SINGLE_COLUMN",
    "T_ORDER",
    "cif_plot",
    "flow_diagram",
    "forest_plot",
    "grouped_bar",
    "km_plot",
    "love_plot",
    "no_data_figure",
    "ps_plot",
    "sankey_plot",
    "save",
    "save_and_close",
    "shift_table",
    "spider_plot",
    "stacked_bar",
    "style_context",
    "swimmer_data",
    "swimmer_plot",
    "trajectory_plot",
    "waterfall_plot",
]
