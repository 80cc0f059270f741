"""The ``latc`` logger: log records never carry a direct identifier.

Library code logs through :func:`get_logger` (``latc`` or a child such as ``latc.capture``); the
logger has a :class:`logging.NullHandler`, so nothing is printed unless the application configures
logging (Python's convention for libraries). Every record passes :class:`IdentifierFilter`, which
masks identifier-like parts of the message and of an attached traceback (e-mail addresses, long
digit runs, phone numbers, date-of-birth labels: the patterns of :mod:`latc.validate._privacy`),
so a log line can be kept or shipped without holding a patient's phone number typed into a URL or
a field. ``latc capture`` routes Django's own loggers (``django.request`` logs each 4xx/5xx with
its path) through the same filter.
"""

from __future__ import annotations

import logging

LOGGER_NAME = "latc"


def mask_identifiers(text: str) -> str:
    """``text`` with each identifier-like part replaced by ``<masked>`` (the query log's rule)."""
    if not text:
        return text
    import pandas as pd

    from latc.validate._privacy import mask_identifier_parts

    return str(mask_identifier_parts(pd.Series([text], dtype="str")).iloc[0])


class IdentifierFilter(logging.Filter):
    """Masks identifiers in a record's message and traceback text (the record is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging's name
        record.msg, record.args = mask_identifiers(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_identifiers(record.exc_text)
            record.exc_info = None  # handlers print exc_text; the raw exception is not formatted again
        return True


_FILTER = IdentifierFilter()


def get_logger(name: str = LOGGER_NAME) -> logging.Logger:
    """The logger ``name`` (``latc`` or ``latc.<part>``) with the identifier filter attached."""
    if name != LOGGER_NAME and not name.startswith(LOGGER_NAME + "."):
        raise ValueError(f"latc loggers are named 'latc' or 'latc.<part>', not {name!r}")
    log = logging.getLogger(name)
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)
    if name == LOGGER_NAME and not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
    return log


#: attributes of a record copied into a JSON line when present (the request log's fields)
JSON_FIELDS = ("method", "path", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per line for log shipping: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, the request log's ``method`` / ``path`` / ``status`` / ``duration_ms`` when the
    record carries them, and ``exception`` (the traceback text). Use it behind
    :class:`IdentifierFilter`: the message and traceback arrive masked; ``path`` is masked here too."""

    def format(self, record: logging.LogRecord) -> str:  # noqa: A003 - logging's name
        import json
        from datetime import datetime, timezone

        out: dict = {"time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
                     "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for k in JSON_FIELDS:
            v = getattr(record, k, None)
            if v is not None:
                out[k] = mask_identifiers(v) if isinstance(v, str) else v
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_identifiers(self.formatException(record.exc_info))
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)
