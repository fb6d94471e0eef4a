"""Start-up checks of the attachment settings: a misconfiguration found at start, not by the
first upload."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from kinto_django.attachments.conf import attachment_settings
from kinto_django.attachments.storage import STORAGE_ALIAS

STORAGE_KINDS = ("local", "s3")


@register()
def check_attachment_settings(app_configs: Any = None, **kwargs: Any) -> list:
    problems: list = []
    if STORAGE_ALIAS in getattr(settings, "STORAGES", {}):
        return problems
    try:
        kind = attachment_settings.storage
        base_path = attachment_settings.base_path
        max_size = attachment_settings.max_size_bytes
    except (TypeError, ValueError) as error:
        return [Error(f"Invalid attachment setting: {error}", id="kinto_attachments.E001")]
    if kind == "local" and not base_path:
        problems.append(
            Error(
                "attachment.base_path is not set: uploaded files have nowhere to go.",
                hint="Set KINTO_ATTACHMENT_BASE_PATH (a writable folder), or choose another "
                "backend with attachment.storage (s3, or a storage class), or define "
                f"STORAGES[{STORAGE_ALIAS!r}].",
                id="kinto_attachments.E002",
            )
        )
    if kind == "s3":
        try:
            import storages.backends.s3  # noqa: F401
        except ImportError:
            problems.append(
                Error(
                    "attachment.storage = s3 needs django-storages and boto3.",
                    id="kinto_attachments.E003",
                )
            )
        if not attachment_settings.s3_options().get("bucket_name"):
            problems.append(
                Error(
                    "attachment.storage = s3 needs attachment.s3.bucket_name "
                    "(or attachment.aws.bucket_name).",
                    id="kinto_attachments.E004",
                )
            )
    elif kind not in STORAGE_KINDS and "." not in kind:
        problems.append(
            Error(
                f"attachment.storage must be local, s3 or a storage class path, not {kind!r}.",
                id="kinto_attachments.E005",
            )
        )
    if max_size is not None and max_size < 0:
        problems.append(
            Error("attachment.max_size_bytes must not be negative", id="kinto_attachments.E006")
        )
    return problems
