"""Who sees and does what: roles × centers, in ONE place.

Every view, API call and service goes through these functions; templates never decide access.
The rules (issue #12, item 4):

============================  ===========================================================
role                          may
============================  ===========================================================
site_entry                    own centers: view, create patients, edit records, answer queries
site_investigator             as site_entry, and sign casebooks
monitor                       assigned centers: view, source-verify forms, open queries
data_manager                  all centers: view, open/close/re-open queries, lock/unlock,
                              identified and de-identified export, import; the audit trail (read)
statistician                  de-identified export only (no patient pages at all)
admin                         users, centers, roles; the audit trail (no patient pages)
============================  ===========================================================

A user without a :class:`~latc.capture.models.Membership`, inactive, or past ``expires_at``
sees nothing and may do nothing.
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.db.models import QuerySet
from django.utils import timezone

from latc.capture.models import AuditEntry, Center, Membership, Patient, Query, Record, Role

#: every action :func:`can` knows
ACTIONS = (
    "view", "create_patient", "edit", "sign", "verify", "open_query", "answer_query", "close_query",
    "lock", "export_identified", "export_deidentified", "import", "manage_users", "view_audit",
)

#: role → actions it may take (on patients of its visible centers, for patient-level actions)
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.SITE_ENTRY: frozenset({"view", "create_patient", "edit", "answer_query"}),
    Role.SITE_INVESTIGATOR: frozenset({"view", "create_patient", "edit", "answer_query", "sign"}),
    Role.MONITOR: frozenset({"view", "verify", "open_query"}),
    Role.DATA_MANAGER: frozenset({"view", "open_query", "close_query", "lock", "export_identified",
                                  "export_deidentified", "import", "view_audit"}),
    Role.STATISTICIAN: frozenset({"export_deidentified"}),
    Role.ADMIN: frozenset({"manage_users", "view_audit"}),
}

#: roles that see every center (the others see only their Membership.centers)
ALL_CENTER_ROLES = frozenset({Role.DATA_MANAGER})
#: actions that concern one patient (checked against the patient's center)
PATIENT_ACTIONS = frozenset({"view", "create_patient", "edit", "sign", "verify", "open_query", "answer_query",
                             "close_query", "lock"})


def membership(user) -> Membership | None:
    """The user's active membership, or None (anonymous, inactive, no membership, expired)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    m = getattr(user, "_latc_membership", None)
    if m is None:
        try:
            m = Membership.objects.get(user=user)
        except Membership.DoesNotExist:
            return None
        user._latc_membership = m  # cached on the user object for this request
    if m.expired(timezone.now()):
        return None
    return m


def role_of(user) -> str | None:
    m = membership(user)
    return m.role if m else None


def visible_centers(user) -> QuerySet[Center]:
    """Centers whose patients the user may see (none for statistician and admin)."""
    m = membership(user)
    if m is None or "view" not in ROLE_ACTIONS.get(m.role, ()):
        return Center.objects.none()
    if m.role in ALL_CENTER_ROLES:
        return Center.objects.all()
    return Center.objects.filter(members=m)


def patients_for(user) -> QuerySet[Patient]:
    """The patients the user may see: every patient page and list starts here."""
    return Patient.objects.filter(center__in=visible_centers(user))


def records_for(user) -> QuerySet[Record]:
    return Record.objects.filter(patient__in=patients_for(user))


def queries_for(user) -> QuerySet[Query]:
    return Query.objects.filter(record__patient__in=patients_for(user))


def audit_for(user) -> QuerySet[AuditEntry]:
    """Audit entries the user may read: all for an admin or a data manager (the audit view; a data
    manager sees every center anyway), none otherwise.
    (A field's history on a patient page goes through services.field_history, scoped by patient.)"""
    if can(user, "view_audit"):
        return AuditEntry.objects.all()
    return AuditEntry.objects.none()


def can(user, action: str, patient: Patient | None = None, *, center: Center | None = None) -> bool:
    """May ``user`` take ``action`` (on ``patient`` / in ``center`` when given)?

    For a patient-level action without a patient or center, the answer is whether the role may
    take the action on some patient (e.g. to show a "new patient" button).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    m = membership(user)
    if m is None or action not in ROLE_ACTIONS.get(m.role, ()):
        return False
    if action not in PATIENT_ACTIONS:
        return True
    if patient is not None:
        center = patient.center
    if center is None:
        return True
    if m.role in ALL_CENTER_ROLES:
        return True
    return m.centers.filter(pk=center.pk).exists()


class MembershipBackend(ModelBackend):
    """Django's ModelBackend that also refuses a user without a membership or past its
    ``expires_at`` (the account expires: it cannot log in any more)."""

    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        try:
            m = Membership.objects.get(user=user)
        except Membership.DoesNotExist:
            return False
        return not m.expired(timezone.now())
