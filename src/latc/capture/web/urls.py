"""URL routes of the capture web UI (``ROOT_URLCONF``).

Every route is named and every view carries its access rule (``latc.capture.web.access.rule``);
``tests/test_capture_web_access.py`` walks this list and fails on a route missing from its table.
"""

from django.urls import path

from latc.capture.api.dispatch import api_view
from latc.capture.web import health, views

P = "patients/<str:pid>"
R = f"{P}/<str:form>/<int:instance>"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("language/", views.set_language, name="set_language"),
    path("otp/", views.otp_verify, name="otp_verify"),
    path("otp/setup/", views.otp_setup, name="otp_setup"),
    path("", views.home, name="home"),
    path("patients/new/", views.patient_new, name="patient_new"),
    path(f"{P}/", views.patient_view, name="patient"),
    path(f"{P}/sign/", views.sign, name="sign"),
    path(f"{P}/lock/", views.lock, name="lock"),
    path(f"{P}/unlock/", views.unlock, name="unlock"),
    path(f"{P}/<str:form>/new/", views.record_new, name="record_new"),
    path(f"{R}/", views.record_view, name="record"),
    path(f"{R}/delete/", views.record_delete, name="record_delete"),
    path(f"{R}/verify/", views.record_verify, name="record_verify"),
    path(f"{R}/query/", views.query_open, name="query_open"),
    path(f"{R}/history/<str:field>/", views.field_history, name="field_history"),
    path("queries/", views.queries, name="queries"),
    path("queries/<int:pk>/", views.query_thread, name="query"),
    path("export/", views.export, name="export"),
    path("audit/", views.audit, name="audit"),
    path("users/", views.users, name="users"),
    path("users/new/", views.user_new, name="user_new"),
    path("users/<int:pk>/", views.user_edit, name="user_edit"),
    path("static/<path:path>", views.static, name="static"),
    # REDCap-compatible API (docs/capture_api.md): token, not session; its own access matrix in
    # tests/test_capture_api_access.py
    path("api/", api_view, name="api"),
    path("health", health.health, name="health"),
]

handler403 = views.permission_denied
handler404 = views.page_not_found
handler500 = views.server_error
