"""The capture data model: centers, accounts' roles, patients, form records, queries, signatures
and the append-only, hash-chained audit trail.

A form record stores its values as the CSV would hold them (``data = {field: text}``), so the
export is the study folder ``latc validate`` reads and the validator sees exactly what was typed.
Never query these models directly from a view: go through :mod:`latc.capture.scoping`.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def _patient_id_pattern() -> str:
    from latc.dictionary import load_dictionary

    return load_dictionary().patterns["patient_id_pattern"]


def _center_id_pattern() -> str:
    from latc.dictionary import load_dictionary

    return load_dictionary().patterns["center_id_pattern"]


def validate_patient_id(value: str) -> None:
    """The dictionary's pseudonym rule (the one ``latc validate`` applies to ``patient_id``)."""
    if not re.fullmatch(_patient_id_pattern().strip("^$"), value or ""):
        raise ValidationError(f"patient id {value!r} is not a pseudonym of the form C01-0042 "
                              f"(dictionary pattern {_patient_id_pattern()})")


def validate_center_code(value: str) -> None:
    if not re.fullmatch(_center_id_pattern().strip("^$"), value or ""):
        raise ValidationError(f"center code {value!r} does not match {_center_id_pattern()}")


class Center(models.Model):
    code = models.CharField(max_length=16, unique=True, validators=[validate_center_code])
    name = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Role(models.TextChoices):
    SITE_ENTRY = "site_entry", "Site data entry"
    SITE_INVESTIGATOR = "site_investigator", "Site investigator"
    MONITOR = "monitor", "Monitor"
    DATA_MANAGER = "data_manager", "Data manager"
    STATISTICIAN = "statistician", "Statistician"
    ADMIN = "admin", "Administrator"


class Membership(models.Model):
    """A user's role and centers. Without one (or past ``expires_at``) a user can do nothing."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=32, choices=Role.choices)
    centers = models.ManyToManyField(Center, blank=True, related_name="members")
    expires_at = models.DateTimeField(null=True, blank=True)
    display_name = models.CharField(max_length=200, blank=True, default="")
    #: language of the forms, labels and messages shown to this user (docs/capture.md "Languages")
    language = models.CharField(max_length=8, choices=[("en", "English"), ("zh-hans", "简体中文")], default="en")

    def expired(self, now=None) -> bool:
        return self.expires_at is not None and (now or timezone.now()) >= self.expires_at

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.role})"


class Patient(models.Model):
    patient_id = models.CharField(max_length=32, unique=True, validators=[validate_patient_id])
    center = models.ForeignKey(Center, on_delete=models.PROTECT, related_name="patients")
    created_at = models.DateTimeField(default=timezone.now)
    locked = models.BooleanField(default=False)
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["patient_id"]

    def __str__(self) -> str:
        return self.patient_id


class RecordStatus(models.TextChoices):
    INCOMPLETE = "incomplete", "Incomplete"
    COMPLETE = "complete", "Complete"


class Record(models.Model):
    """One row of one form: ``instance`` is 1 for a non-repeating form, 1, 2, … for a repeating one."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="records")
    form = models.CharField(max_length=64)
    instance = models.PositiveIntegerField(default=1)
    data = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=RecordStatus.choices, default=RecordStatus.INCOMPLETE)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    #: where an imported record came from ("labs.csv row 153"); blank for records entered here
    source = models.CharField(max_length=300, blank=True, default="")
    #: the row's place in its import (export keeps the source order; None = entered here, after)
    source_order = models.BigIntegerField(null=True, blank=True)
    #: REDCap unique event name (``baseline_arm_1``) of a record imported from a longitudinal REDCap
    #: project, given back by the REDCap-compatible API; blank for classic projects and data entered here
    event = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["patient__patient_id", "form", "instance"]
        constraints = [models.UniqueConstraint(fields=["patient", "form", "instance"], name="capture_record_unique")]
        indexes = [models.Index(fields=["form"], name="capture_record_form")]

    def __str__(self) -> str:
        return f"{self.patient.patient_id}/{self.form}#{self.instance}"


class QueryStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class Query(models.Model):
    """A data query on one field of one record (opened by a person or by a validation rule)."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="queries")
    field = models.CharField(max_length=64, blank=True, default="")
    rule = models.CharField(max_length=64, blank=True, default="")
    severity = models.CharField(max_length=16, blank=True, default="warning")
    message = models.TextField()
    status = models.CharField(max_length=16, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    #: latc.validate's stable query id when the query came from a rule or an imported queries.csv
    query_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["opened_at", "id"]
        verbose_name_plural = "queries"
        indexes = [models.Index(fields=["status"], name="capture_query_status")]

    def __str__(self) -> str:
        return f"{self.record} {self.field}: {self.rule or 'manual'} ({self.status})"


class QueryMessage(models.Model):
    class Action(models.TextChoices):
        OPEN = "open", "Opened"
        ANSWER = "answer", "Answered"
        CLOSE = "close", "Closed"
        REOPEN = "reopen", "Re-opened"

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=16, choices=Action.choices)
    text = models.TextField(blank=True, default="")
    new_value = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]


class Signature(models.Model):
    """An investigator's electronic signature of a patient's casebook (21 CFR Part 11 §11.50/§11.70):
    bound to the SHA-256 of the canonical casebook JSON at signing; voided by any later change."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(max_length=200, blank=True, default="")
    signed_at = models.DateTimeField(default=timezone.now)
    meaning = models.CharField(max_length=300)
    data_hash = models.CharField(max_length=64)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["signed_at", "id"]

    @property
    def valid(self) -> bool:
        return self.voided_at is None


class AuditEntry(models.Model):
    """One audit-trail entry. Append-only (database triggers refuse UPDATE/DELETE; migration 0002)
    and hash-chained: ``entry_hash`` = SHA-256 of the canonical JSON of every other column,
    ``prev_hash`` included (:mod:`latc.capture.audit`)."""

    seq = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    username = models.CharField(max_length=150, blank=True, default="")
    role = models.CharField(max_length=32, blank=True, default="")
    center = models.CharField(max_length=200, blank=True, default="")
    patient_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    form = models.CharField(max_length=64, blank=True, default="")
    instance = models.PositiveIntegerField(null=True, blank=True)
    field = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=32)
    old_value = models.TextField(null=True, blank=True)
    new_value = models.TextField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    client_addr = models.CharField(max_length=64, blank=True, default="")
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["patient_id", "form", "instance", "field"], name="capture_audit_field")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.at:%Y-%m-%dT%H:%M:%SZ} {self.username} {self.action}"


class QuarantinedRow(models.Model):
    """A row an import could not store (a hard validation error, no such patient, a form the
    dictionary does not know …): kept as read, with the reason, until the center corrects it.

    The export writes these rows back into the study folder at their source place, so that
    ``latc validate``/``latc run`` on the export quarantine them exactly as on the original
    (docs/capture.md "Round trip"). A non-pseudonymous patient id is masked, as in latc validate's
    quarantine."""

    form = models.CharField(max_length=64)
    patient_id = models.CharField(max_length=64, blank=True, default="")
    center = models.CharField(max_length=16, blank=True, default="", db_index=True)
    data = models.JSONField(default=dict)
    reason = models.TextField()
    message = models.TextField(blank=True, default="")
    source = models.CharField(max_length=300, blank=True, default="")
    source_order = models.BigIntegerField(null=True, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)
    imported_by = models.CharField(max_length=150, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["source_order", "id"]


class ApiToken(models.Model):
    """A REDCap-style API token (32 upper-case hex characters) of one user: the API acts as that
    user, with the same role and centers (:mod:`latc.capture.scoping`). Only the SHA-256 of the
    token is stored; the token itself is shown once, when it is made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"API token #{self.pk} of {self.user.get_username()}"


class RateBucket(models.Model):
    """A fixed-window request counter (:mod:`latc.capture.ratelimit`), kept in the database so that
    every server process shares it. ``key`` is a SHA-256, never an address or token in clear."""

    key = models.CharField(max_length=64)
    window = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="capture_ratebucket_unique")]
        indexes = [models.Index(fields=["window"], name="capture_ratebucket_window")]
