"""The ``/api/`` view: one POST endpoint, REDCap's request and error conventions.

A request is form-encoded (``application/x-www-form-urlencoded`` or multipart): ``token``,
``content`` (what), ``action`` (``export``, ``import``, ``delete``; absent: ``import`` when the
request carries ``data``, as REDCap reads it, else ``export``), ``format``
(``json`` default, ``csv``, ``xml``) and ``returnFormat`` (format of error messages; default
``format``'s). Lists come as REDCap sends them: ``fields[0]=a&fields[1]=b`` (PyCap, REDCapR) or
``fields=a,b``.

Order of checks: method (405), rate limit per client address (429), token (403, and wrong
tokens count against a tighter per-address limit), rate limit per token (429), then the handler
registered for (``content``, ``action``) — unknown ones are a 400 naming the parameter. A
:class:`ApiError` raised by a handler becomes its status with ``{"error": message}`` (JSON), the
message as text (CSV) or ``<hash><error>…</error></hash>`` (XML), like REDCap. A data problem
is never a traceback: only a bug is a 500, and the server log then has it without the request's
values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable
from xml.sax.saxutils import escape

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

FORMATS = ("json", "csv", "xml")
ACTIONS = ("export", "import", "delete")


class ApiError(Exception):
    """A refused request: ``status`` and a one-line message naming the parameter and the rule."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class ApiRequest:
    """What a handler gets: the authenticated ``user``, the parameters, the client address."""

    request: HttpRequest
    user: object
    content: str
    action: str
    format: str
    return_format: str
    client_addr: str
    params: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        v = self.params.get(name)
        return v[-1] if v else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A REDCap boolean parameter (``true``/``false``, ``1``/``0``)."""
        v = self.get(name, "").strip().lower()
        if v == "":
            return default
        if v in {"true", "1", "yes"}:
            return True
        if v in {"false", "0", "no"}:
            return False
        raise ApiError(f"parameter {name!r}: {v[:40]!r} is not true or false")

    def list(self, name: str) -> list[str]:
        """``name[0]``, ``name[1]`` … in index order, else ``name`` split on commas; blanks dropped."""
        indexed = []
        for key, values in self.params.items():
            m = _INDEXED.match(key)
            if m and m.group(1) == name:
                indexed.append((int(m.group(2) or 0), values[-1]))
        if indexed:
            items = [v for _, v in sorted(indexed, key=lambda kv: kv[0])]
        else:
            items = [p for v in self.params.get(name, []) for p in v.split(",")]
        return [s.strip() for s in items if s.strip()]

    @property
    def file(self):
        """The uploaded file of a file import (``file``), or None."""
        return self.request.FILES.get("file")


_INDEXED = re.compile(r"^([A-Za-z_]+)\[(\d*)\]$")
Handler = Callable[[ApiRequest], HttpResponse]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def handler(content: str, action: str = "export") -> Callable[[Handler], Handler]:
    """Register a handler for ``content`` × ``action`` (decorator)."""

    def deco(fn: Handler) -> Handler:
        _HANDLERS[(content, action)] = fn
        return fn

    return deco


def handlers() -> dict[tuple[str, str], Handler]:
    """Every registered (content, action) → handler (imports the handler modules once)."""
    import latc.capture.api.registry  # noqa: F401  (side effect: the handler modules register)

    return dict(_HANDLERS)


def error_response(message: str, status: int, return_format: str) -> HttpResponse:
    if return_format == "xml":
        body = f'<?xml version="1.0" encoding="UTF-8" ?>\n<hash><error>{escape(message)}</error></hash>'
        return HttpResponse(body, status=status, content_type="application/xml; charset=utf-8")
    if return_format == "csv":
        # "ERROR: …": how REDCap's text errors begin, and what PyCap looks for in a CSV answer
        return HttpResponse(f"ERROR: {message}", status=status, content_type="text/csv; charset=utf-8")
    return HttpResponse(json.dumps({"error": message}, ensure_ascii=False), status=status,
                        content_type="application/json; charset=utf-8")


def _params(request: HttpRequest) -> dict[str, list[str]]:
    return {k: request.POST.getlist(k) for k in request.POST.keys()}


@csrf_exempt  # token-authenticated, no cookie session: CSRF does not apply (OWASP CSRF cheat sheet)
def api_view(request: HttpRequest) -> HttpResponse:
    from latc.capture import ratelimit
    from latc.capture.api.tokens import user_for_token
    from latc.capture.services import client_addr_of

    addr = client_addr_of(request)
    if request.method != "POST":
        resp = error_response("the API takes POST requests only (form-encoded, as REDCap's)", 405, "json")
        resp["Allow"] = "POST"
        return resp
    try:
        params = _params(request)
    except Exception:  # a body Django cannot parse (bad multipart boundary, too many fields …)
        return error_response("the request body is not a readable form (application/x-www-form-urlencoded "
                              "or multipart/form-data)", 400, "json")
    rf = (params.get("returnFormat") or params.get("format") or ["json"])[-1].strip().lower()
    rf = rf if rf in FORMATS else "json"
    r = ratelimit.hit("api_addr", addr)
    if not r.allowed:
        return ratelimit.too_many(r, "API requests from this address", json_body=True)
    token = (params.get("token") or [""])[-1].strip()
    user = user_for_token(token)
    if user is None:
        bad = ratelimit.hit("api_bad_token", addr)
        if not bad.allowed:
            return ratelimit.too_many(bad, "requests with an invalid token from this address", json_body=True)
        return error_response("You do not have permissions to use the API (the token is missing, unknown, "
                              "revoked or its account expired)", 403, rf)
    r = ratelimit.hit("api_token", str(getattr(user, "_latc_token_id", user.pk)))
    if not r.allowed:
        return ratelimit.too_many(r, "API requests with this token", json_body=True)
    content = (params.get("content") or [""])[-1].strip()
    # REDCap tells an import by its ``data`` parameter when ``action`` is absent (PyCap sends none)
    default_action = "import" if "data" in params else "export"
    action = (params.get("action") or [default_action])[-1].strip().lower() or default_action
    fmt = (params.get("format") or ["json"])[-1].strip().lower() or "json"
    try:
        if fmt not in FORMATS:
            raise ApiError(f"parameter 'format': {fmt[:20]!r} is not one of json, csv, xml")
        if action not in ACTIONS:
            raise ApiError(f"parameter 'action': {action[:20]!r} is not one of export, import, delete")
        fn = handlers().get((content, action))
        if fn is None:
            known = sorted({c for c, _ in handlers()})
            if content not in known:
                raise ApiError(f"parameter 'content': {content[:40]!r} is not one of {', '.join(known)}")
            raise ApiError(f"content {content!r} cannot be used with action {action!r}")
        req = ApiRequest(request=request, user=user, content=content, action=action, format=fmt,
                         return_format=rf, client_addr=addr, params=params)
        return fn(req)
    except ApiError as e:
        return error_response(str(e), e.status, rf)
    except Exception as e:  # capture's own refusals (Forbidden, Locked …) are user errors, not bugs
        from latc.capture.errors import CaptureError, Forbidden

        if isinstance(e, Forbidden):
            return error_response(str(e), 403, rf)
        if isinstance(e, CaptureError):
            return error_response(str(e), 400, rf)
        raise


# for the web access matrix: public at the HTTP layer (no session grants anything here); every
# request is authorised by its token inside the view
from latc.capture.web.access import Rule  # noqa: E402

api_view.access = Rule(methods=("POST",), public=True)  # type: ignore[attr-defined]
