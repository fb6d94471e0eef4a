"""Migration operations for PostgreSQL-only details, skipped on other databases."""

from __future__ import annotations

from django.db import migrations


def collate_c(table: str, column: str = "object_id", length: int = 128) -> migrations.RunPython:
    """Byte-order (code point) collation for object ids on PostgreSQL, as on SQLite.

    Ids then sort in the same order on both databases and btree comparisons avoid the
    locale's slower collation.
    """

    def forward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({length}) COLLATE "C"'
            )

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({length}) COLLATE "default"'
            )

    return migrations.RunPython(forward, backward)
