"""``/health``: is this server fit to take data? For load balancers and monitoring.

Answers JSON, no login, no identifiers: ``status`` (``ok`` / ``fail``), the database (reachable,
vendor), migrations (``applied`` or the pending ones' names), the audit chain's head (number of
entries, last ``seq`` and its hash — record it with the backups: docs/capture.md "Backups"), and
latc's version. 200 when healthy, 503 otherwise. Cheap (one query per item): the full hash check
is ``latc capture verify-audit``.
"""

from __future__ import annotations

from django.http import JsonResponse

from latc.capture.web.access import rule


@rule(public=True)
def health(request):
    from django.db import DatabaseError, connection

    import latc
    from latc.capture.models import AuditEntry

    out: dict = {"status": "ok", "version": getattr(latc, "__version__", "")}
    try:
        from django.db.migrations.executor import MigrationExecutor

        with connection.cursor() as c:
            c.execute("SELECT 1")
        out["database"] = {"reachable": True, "vendor": connection.vendor}
        ex = MigrationExecutor(connection)
        pending = [f"{m.app_label}.{m.name}" for m, _ in ex.migration_plan(ex.loader.graph.leaf_nodes())]
        out["migrations"] = "applied" if not pending else {"pending": pending}
        last = AuditEntry.objects.order_by("-seq").values("seq", "entry_hash").first()
        out["audit"] = {"entries": AuditEntry.objects.count(), "head_seq": last["seq"] if last else None,
                        "head_hash": last["entry_hash"] if last else None}
        if pending:
            out["status"] = "fail"
    except DatabaseError as e:
        out["status"] = "fail"
        out["database"] = {"reachable": False, "error": type(e).__name__}
    return JsonResponse(out, status=200 if out["status"] == "ok" else 503)
