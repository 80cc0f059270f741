"""Append-only audit trail, enforced by the database itself (not only by the application):
UPDATE and DELETE on capture_auditentry are refused on SQLite (RAISE(ABORT)) and PostgreSQL
(a plpgsql function raising an exception; TRUNCATE refused by a statement trigger)."""

from django.db import migrations

TABLE = "capture_auditentry"
MESSAGE = "the audit trail is append-only: UPDATE and DELETE are refused"

SQLITE_UP = [
    f"CREATE TRIGGER IF NOT EXISTS capture_audit_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;",
    f"CREATE TRIGGER IF NOT EXISTS capture_audit_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS capture_audit_no_update;", "DROP TRIGGER IF EXISTS capture_audit_no_delete;"]

PG_UP = [
    f"""CREATE OR REPLACE FUNCTION capture_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = '{MESSAGE} (' || TG_OP || ' on {TABLE})', ERRCODE = 'insufficient_privilege';
END;
$$;""",
    f"CREATE TRIGGER capture_audit_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE} "
    f"FOR EACH ROW EXECUTE FUNCTION capture_audit_append_only();",
    f"CREATE TRIGGER capture_audit_no_truncate BEFORE TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION capture_audit_append_only();",
]
PG_DOWN = [
    f"DROP TRIGGER IF EXISTS capture_audit_no_truncate ON {TABLE};",
    f"DROP TRIGGER IF EXISTS capture_audit_no_update_delete ON {TABLE};",
    "DROP FUNCTION IF EXISTS capture_audit_append_only();",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise RuntimeError(f"latc capture supports SQLite and PostgreSQL, not {vendor}")
        for sql in statements[vendor]:
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):
    dependencies = [("capture", "0001_initial")]

    operations = [
        migrations.RunPython(_run({"sqlite": SQLITE_UP, "postgresql": PG_UP}),
                             _run({"sqlite": SQLITE_DOWN, "postgresql": PG_DOWN})),
    ]
