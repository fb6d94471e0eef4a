"""Removal of old tombstones and history entries (`manage.py kinto_purge_deleted`, `kinto_purge_history`)."""
