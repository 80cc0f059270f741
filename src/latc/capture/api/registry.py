"""Imports every handler module once, so that their ``@handler`` registrations exist."""

from latc.capture.api import project  # noqa: F401
from latc.capture.api import records  # noqa: F401
from latc.capture.api import logging, metadata  # noqa: F401
from latc.capture.api import imports  # noqa: F401
