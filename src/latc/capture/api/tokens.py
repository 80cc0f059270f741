"""API tokens: 32 upper-case hexadecimal characters, as REDCap's (so clients that check the
format accept them). Only the SHA-256 is stored; the token is shown once when made."""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_RE = re.compile(r"^[0-9A-F]{32}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def create_token(actor, user, *, label: str = "", client_addr: str = "") -> str:
    """Make a token for ``user`` (``actor``: an admin, the user itself, or None = the command
    line); audited as a permission change. Returns the token (shown once)."""
    from django.db import transaction

    from latc.capture import services
    from latc.capture.errors import Forbidden
    from latc.capture.models import ApiToken
    from latc.capture.scoping import can

    if actor is not None and actor.pk != user.pk and not can(actor, "manage_users"):
        raise Forbidden("only an administrator may make an API token for another user")
    token = secrets.token_hex(16).upper()
    with transaction.atomic():
        t = ApiToken.objects.create(user=user, key_hash=token_hash(token), label=label[:100])
        services.record_permission_change(actor, user, "api_token", "", f"token #{t.pk} made",
                                          client_addr=client_addr)
    return token


def revoke_tokens(actor, user, *, client_addr: str = "") -> int:
    """Revoke every live token of ``user``; audited. Returns how many were revoked."""
    from django.db import transaction
    from django.utils import timezone

    from latc.capture import services
    from latc.capture.errors import Forbidden
    from latc.capture.models import ApiToken
    from latc.capture.scoping import can

    if actor is not None and actor.pk != user.pk and not can(actor, "manage_users"):
        raise Forbidden("only an administrator may revoke another user's API token")
    with transaction.atomic():
        live = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        ids = list(live.values_list("pk", flat=True))
        live.update(revoked_at=timezone.now())
        if ids:
            services.record_permission_change(actor, user, "api_token", f"tokens {ids}", "revoked",
                                              client_addr=client_addr)
    return len(ids)


def user_for_token(token: str):
    """The active user whose live token this is, or None (malformed, unknown, revoked, the user
    inactive, without membership or expired: :func:`latc.capture.scoping.membership`)."""
    from django.utils import timezone

    from latc.capture.models import ApiToken
    from latc.capture.scoping import membership

    if not TOKEN_RE.match(token or ""):
        return None
    t = (ApiToken.objects.select_related("user").filter(key_hash=token_hash(token), revoked_at__isnull=True)
         .first())
    if t is None or membership(t.user) is None:
        return None
    ApiToken.objects.filter(pk=t.pk).update(last_used_at=timezone.now())
    t.user._latc_token_id = t.pk
    return t.user
