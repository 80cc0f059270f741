"""Publication figures (``latc.plot``)."""
from ._style import save, no_data_figure
from .waterfall import waterfall_plot
from .spider import spider_plot
from .km import km_plot
