"""The Django app configuration: connects login events to the audit trail."""

from __future__ import annotations

from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "latc.capture"
    label = "capture"
    verbose_name = "LATC capture"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from latc.capture import services

        user_logged_in.connect(services._on_logged_in, dispatch_uid="latc_capture_login")
        user_logged_out.connect(services._on_logged_out, dispatch_uid="latc_capture_logout")
        user_login_failed.connect(services._on_login_failed, dispatch_uid="latc_capture_login_failed")
        try:
            from axes.signals import user_locked_out
        except ImportError:  # pragma: no cover - axes is a dependency
            return
        user_locked_out.connect(services._on_locked_out, dispatch_uid="latc_capture_locked_out")
