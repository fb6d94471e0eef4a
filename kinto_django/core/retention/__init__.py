"""Removal of old tombstones and history entries (`manage.py purge_deleted`, `purge_history`)."""
