"""Fixed-window rate limits shared by every server process (counters in the database).

``hit(scope, who, limit=…, window=…)`` counts one request of ``who`` (a client address, a token's
id, a user name) in the current window of ``window`` seconds and says whether it is within
``limit``. The counter lives in :class:`latc.capture.models.RateBucket` under the SHA-256 of
``scope`` + ``who`` (no address or token is stored in clear), and is incremented with one
``UPDATE … SET count = count + 1`` so that concurrent workers never lose a count. Buckets of
windows that have ended are deleted when a new window starts.

A fixed window lets a client send up to twice the limit across a window boundary; the limits
below are far from what a person or a script that waits for each answer sends, so this bound is
enough to stop password guessing and runaway loops (OWASP ASVS 4.0 V2.2.1, V11.1.4). Answers
over the limit are HTTP 429 with ``Retry-After`` (RFC 6585 §4).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

#: defaults: (requests, seconds). Overridable in Django settings as LATC_RATE_<NAME> = (n, s).
LIMITS: dict[str, tuple[int, int]] = {
    "login_addr": (20, 60),  # log-in attempts per client address per minute (axes locks per user name)
    "api_token": (600, 60),  # API requests per token per minute
    "api_addr": (1200, 60),  # API requests per client address per minute (several tokens behind one NAT)
    "api_bad_token": (20, 60),  # requests with a wrong token per client address per minute
}


@dataclass(frozen=True)
class RateResult:
    allowed: bool
    count: int
    limit: int
    retry_after: int  # seconds until the window ends

    def message(self, what: str) -> str:
        return (f"too many {what}: at most {self.limit} per window; try again in {self.retry_after} s")


def limit_of(name: str) -> tuple[int, int]:
    """The (requests, seconds) limit named ``name`` (settings ``LATC_RATE_<NAME>`` override)."""
    from django.conf import settings

    value = getattr(settings, f"LATC_RATE_{name.upper()}", None)
    return tuple(value) if value else LIMITS[name]  # type: ignore[return-value]


def _key(scope: str, who: str) -> str:
    return hashlib.sha256(f"{scope}\x1f{who}".encode()).hexdigest()


def hit(scope: str, who: str, *, now: float | None = None) -> RateResult:
    """Count one request of ``who`` under the limit ``scope`` (a key of :data:`LIMITS`)."""
    from django.db import IntegrityError, transaction
    from django.db.models import F

    from latc.capture.models import RateBucket

    limit, seconds = limit_of(scope)
    now = time.time() if now is None else now
    window = int(now // seconds)
    key = _key(scope, who)
    retry = max(1, math.ceil((window + 1) * seconds - now))
    with transaction.atomic():
        n = RateBucket.objects.filter(key=key, window=window).update(count=F("count") + 1)
        if not n:
            try:
                with transaction.atomic():
                    RateBucket.objects.create(key=key, window=window, count=1)
                RateBucket.objects.filter(key=key, window__lt=window).delete()
            except IntegrityError:  # another process created it first
                RateBucket.objects.filter(key=key, window=window).update(count=F("count") + 1)
        count = RateBucket.objects.filter(key=key, window=window).values_list("count", flat=True).first() or 1
    return RateResult(allowed=count <= limit, count=count, limit=limit, retry_after=retry)


def too_many(result: RateResult, what: str, *, json_body: bool = False):
    """The 429 answer for ``result`` (plain text or REDCap's ``{"error": …}`` JSON)."""
    import json

    from django.http import HttpResponse

    text = result.message(what)
    if json_body:
        resp = HttpResponse(json.dumps({"error": text}), status=429, content_type="application/json")
    else:
        resp = HttpResponse(text + "\n", status=429, content_type="text/plain; charset=utf-8")
    resp["Retry-After"] = str(result.retry_after)
    return resp
