"""One log record per request on the ``latc.capture.request`` logger: method, path without the
query string (masked by :func:`latc._logging.mask_identifiers`), status and duration. waitress and
gunicorn (``accesslog`` off) write no access log of their own; this one passes latc's identifier
filter and, with ``LATC_CAPTURE_LOG_FORMAT=json``, is one JSON object per line."""

from __future__ import annotations

import time

from latc._logging import get_logger, mask_identifiers


class RequestLogMiddleware:
    def __init__(self, get_response):  # noqa: ANN001
        self.get_response = get_response
        self.log = get_logger("latc.capture.request")

    def __call__(self, request):  # noqa: ANN001
        t0 = time.perf_counter()
        response = self.get_response(request)
        ms = round((time.perf_counter() - t0) * 1000, 1)
        path = mask_identifiers(request.path)  # request.path: never the query string
        self.log.info("%s %s %s %.1f ms", request.method, path, response.status_code, ms,
                      extra={"method": request.method, "path": path, "status": response.status_code,
                             "duration_ms": ms})
        return response
