"""The access rule every view declares (``@rule(...)``), enforced before the view runs.

A view is reachable only through this decorator: it records the rule on the view
(``view.access``) so ``tests/test_capture_web_access.py`` can refuse a route without one, and it
enforces, in this order:

1. the HTTP method is one the rule lists (else 405);
2. ``public`` views (login, static files) stop here;
3. a signed-in user with an active membership (anonymous → the login page; expired or no
   membership → signed out, login page with a message);
4. the second factor: a user with a confirmed TOTP device must have passed it this session
   (else the OTP page);
5. the action of the method, through :func:`latc.capture.scoping.can`: ``patient=True`` rules
   load the patient through :func:`latc.capture.scoping.patients_for` (another center's patient is
   404: it does not exist for this user) and check the action on it (403 when the role may not).

Every response also gets the Content-Security-Policy header when the settings' CSP middleware has
not set one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from urllib.parse import quote

from django.contrib.auth import logout
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect

from latc.capture import scoping

#: the policy (script-src 'self': capture.js only; no inline script or style anywhere)
CSP_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


@dataclass(frozen=True)
class Rule:
    """``get`` / ``post``: the scoping action each method needs (None: any active member;
    ``"*"``: the view checks a finer action itself, e.g. answer vs close on a query)."""

    get: str | None = None
    post: str | None = None
    methods: tuple[str, ...] = ("GET",)
    patient: bool = False
    public: bool = False
    otp_exempt: bool = False  # the OTP pages themselves
    any_of: tuple[str, ...] = field(default=())  # GET allowed when the user can any of these

    def action(self, method: str) -> str | None:
        return self.post if method == "POST" else self.get


def with_csp(response):
    if "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = CSP_POLICY
    return response


def needs_otp(request) -> bool:
    """A user with a confirmed TOTP device who has not entered a code this session."""
    user = request.user
    if getattr(user, "is_verified", None) and user.is_verified():
        return False
    try:
        from django_otp import user_has_device
    except ImportError:  # pragma: no cover
        return False
    return user_has_device(user, confirmed=True)


def forbidden(request, message: str | None = None):
    from latc.capture.web.i18n import msg
    from latc.capture.web.views import render_page

    return render_page(request, "capture/error.html", {"title": msg("Not allowed"),
                                                       "message": message or msg("Your role does not allow this.")},
                       status=403)


def rule(*, get: str | None = None, post: str | None = None, methods: tuple[str, ...] = ("GET",),
         patient: bool = False, public: bool = False, otp_exempt: bool = False, any_of: tuple[str, ...] = ()):
    r = Rule(get=get, post=post, methods=tuple(m.upper() for m in methods), patient=patient, public=public,
             otp_exempt=otp_exempt, any_of=tuple(any_of))

    def deco(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            return with_csp(_enforce(r, view, request, *args, **kwargs))

        wrapped.access = r
        return wrapped

    return deco


def _login_redirect(request):
    if request.method == "POST":
        # the session ended while a form was open: say that what was sent is not saved
        from django.contrib import messages

        from latc.capture.web.i18n import tr

        messages.warning(request, tr("Your session had ended (30 minutes without activity, or the browser was "
                                     "closed): what you just sent was not saved. Log in and enter it again."))
    return redirect(f"/login/?next={quote(request.get_full_path())}")


def _enforce(r: Rule, view, request, *args, **kwargs):
    method = "GET" if request.method == "HEAD" else request.method
    if method not in r.methods:
        return HttpResponseNotAllowed(r.methods)
    if r.public:
        return view(request, *args, **kwargs)
    user = request.user
    if not user.is_authenticated:
        return _login_redirect(request)
    if scoping.membership(user) is None:
        logout(request)
        from django.contrib import messages

        from latc.capture.web.i18n import tr

        messages.error(request, tr("Your account has expired or has no role in this study; ask the administrator."))
        return redirect("/login/")
    if not r.otp_exempt and needs_otp(request):
        return redirect(f"/otp/?next={quote(request.get_full_path())}")
    action = r.action(method)
    if r.patient:
        pid = kwargs.pop("pid")
        p = scoping.patients_for(user).select_related("center").filter(patient_id=pid).first()
        if p is None:
            raise Http404("No such patient in your centers.")
        if action not in (None, "*") and not scoping.can(user, action, p):
            return forbidden(request)
        kwargs["patient"] = p
    elif action not in (None, "*") and not scoping.can(user, action):
        return forbidden(request)
    if method == "GET" and r.any_of and not any(scoping.can(user, a) for a in r.any_of):
        return forbidden(request)
    return view(request, *args, **kwargs)
