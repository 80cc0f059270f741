from django.apps import AppConfig


class CaptureWebConfig(AppConfig):
    """Templates (``templates/capture``), static files (``static/capture``) and template tags."""

    name = "latc.capture.web"
    label = "capture_web"
    verbose_name = "LATC capture — web forms"
