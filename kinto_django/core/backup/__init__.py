"""Backups of the whole server as JSON lines (`manage.py kinto_backup`) and their restore
(`manage.py kinto_restore`); the format is described in docs/backup-format.md."""
