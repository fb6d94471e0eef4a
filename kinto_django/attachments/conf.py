"""Settings of the attachments app: defaults, types, and the per-bucket and per-collection
overrides of the reference plugin (`attachment.resources.<bid>[.<cid>].<name>`).

Names are those of kinto-attachment (spec/10) with dots turned into underscores, as every
`KINTO_*` variable and INI key is (`KINTO_ATTACHMENT_BASE_PATH`, `attachment.base_path`).
Values are read through `kinto_django.conf.kinto_settings` on every access, never at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kinto_django.conf import as_bool, as_int_or_none, as_str_or_none, kinto_settings

# Extension groups of `attachment.extensions` (`default+video`, or plain extensions).
EXTENSION_GROUPS: dict[str, tuple[str, ...]] = {
    "documents": ("pdf", "rtf", "odf", "ods", "gnumeric", "abw", "doc", "docx", "xls", "xlsx"),
    "text": ("txt",),
    "images": ("jpg", "jpe", "jpeg", "png", "gif", "svg", "bmp", "tiff"),
    "audio": ("wav", "mp3", "aac", "ogg", "oga", "flac"),
    "video": ("mpeg", "3gp", "avi", "divx", "dvr", "flv", "mp4", "wmv"),
    "data": ("csv", "ini", "json", "plist", "xml", "yaml", "yml"),
    "scripts": ("js", "php", "pl", "py", "rb", "sh"),
    "archives": ("gz", "bz2", "zip", "tar", "tgz", "txz", "7z"),
    "executables": ("so", "exe", "dll"),
}
EXTENSION_GROUPS["default"] = (
    EXTENSION_GROUPS["documents"]
    + EXTENSION_GROUPS["text"]
    + EXTENSION_GROUPS["images"]
    + EXTENSION_GROUPS["data"]
)
ANY_EXTENSION = "any"

DEFAULT_MIMETYPES = ".pem:application/x-pem-file;.geojson:application/geojson"

DEFAULTS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    # Where local files go (the default storage); required unless another backend is set.
    "attachment_base_path": (None, as_str_or_none),
    # Prefix of `location`. Unset: the server serves the files itself at
    # `<api root>/attachments/<name>`; empty: locations relative to `extra.base_url`.
    "attachment_base_url": (None, lambda value: None if value is None else str(value)),
    # The `base_url` advertised in the capability (default: `base_url`).
    "attachment_extra_base_url": (None, as_str_or_none),
    # Storage backend: `local` (FileSystemStorage on base_path), `s3` (django-storages), or
    # the dotted path of any Django storage class (options from `attachment_storage_options`).
    "attachment_storage": ("local", str),
    "attachment_folder": ("", str),
    "attachment_randomize": (True, as_bool),
    "attachment_filename_pattern": (None, as_str_or_none),
    "attachment_keep_old_files": (False, as_bool),
    "attachment_extensions": ("default", str),
    "attachment_mimetypes": ("", str),
    # 0 or unset: no limit (as the reference).
    "attachment_max_size_bytes": (None, as_int_or_none),
    # With a proxy in front (nginx): answer file requests with `X-Accel-Redirect: <prefix><name>`
    # and let the proxy send the file from its internal location (docs/production.md).
    "attachment_accel_redirect_prefix": (None, as_str_or_none),
    # Seconds a stored file without a record is left alone by `kinto_attachments_orphans`
    # (an upload between its store and its commit is not an orphan).
    "attachment_orphan_grace_seconds": (3600, int),
}

# Settings that the per-resource overrides may change, with their types.
RESOURCE_SETTINGS: dict[str, Callable[[Any], Any]] = {
    "randomize": as_bool,
    "keep_old_files": as_bool,
    "filename_pattern": as_str_or_none,
    "max_size_bytes": as_int_or_none,
    "folder": str,
    "extensions": str,
}
RESOURCES_PREFIX = "attachment_resources_"
S3_PREFIX = "attachment_s3_"
# The reference's S3 settings (`attachment.aws.*`) → django-storages' S3Storage options.
AWS_ALIASES = {
    "attachment_aws_access_key": "access_key",
    "attachment_aws_secret_key": "secret_key",
    "attachment_aws_bucket_name": "bucket_name",
    "attachment_aws_acl": "default_acl",
    "attachment_aws_endpoint_url": "endpoint_url",
    "attachment_aws_region_name": "region_name",
}


class AttachmentSettings:
    """Attribute access to the global settings (`attachment_settings.keep_old_files`)."""

    def __getattr__(self, name: str) -> Any:
        key = f"attachment_{name}"
        if key not in DEFAULTS:
            raise AttributeError(f"Unknown attachments setting {name!r}")
        default, coerce = DEFAULTS[key]
        return kinto_settings.get(key, default, coerce)

    def configured(self, name: str) -> bool:
        """Whether the operator set `attachment_<name>` at all (even to an empty value)."""
        return f"attachment_{name}" in kinto_settings.raw

    def for_resource(self, name: str, bucket_id: str, collection_id: str) -> Any:
        """The most specific value of a setting: the collection's override, the bucket's,
        then the global one (`attachment.resources.blog.articles.keep_old_files`)."""
        coerce = RESOURCE_SETTINGS[name]
        raw = kinto_settings.raw
        for key in (
            f"{RESOURCES_PREFIX}{bucket_id}_{collection_id}_{name}",
            f"{RESOURCES_PREFIX}{bucket_id}.{collection_id}.{name}",
            f"{RESOURCES_PREFIX}{bucket_id}_{name}",
            f"{RESOURCES_PREFIX}{bucket_id}.{name}",
        ):
            for candidate in (key, key.lower()):
                if candidate in raw and raw[candidate] is not None:
                    return coerce(raw[candidate])
        return getattr(self, name)

    def s3_options(self) -> dict[str, Any]:
        """Options of the S3 backend: `attachment_s3_<option>` and the reference's
        `attachment_aws_*` names."""
        options: dict[str, Any] = {}
        for key, value in kinto_settings.raw.items():
            if key in AWS_ALIASES:
                options.setdefault(AWS_ALIASES[key], value)
            elif key.startswith(S3_PREFIX):
                options[key[len(S3_PREFIX) :]] = value
        for flag in ("querystring_auth", "file_overwrite", "use_ssl", "verify"):
            if flag in options and isinstance(options[flag], str):
                options[flag] = as_bool(options[flag])
        for number in ("querystring_expire", "max_memory_size"):
            if number in options and isinstance(options[number], str):
                options[number] = int(options[number])
        return options


attachment_settings = AttachmentSettings()


def resolve_extensions(value: str) -> set[str] | None:
    """The allowed extensions of an `extensions` setting (`default+video`, `pdf txt`);
    None when any extension is allowed."""
    allowed: set[str] = set()
    for group in str(value).replace(",", " ").split("+"):
        group = group.strip()
        if group == ANY_EXTENSION:
            return None
        if group in EXTENSION_GROUPS:
            allowed.update(EXTENSION_GROUPS[group])
        else:
            allowed.update(ext.lower().lstrip(".") for ext in group.split() if ext)
    return allowed


def mimetype_overrides() -> dict[str, str]:
    """`.ext:type;.ext:type` overrides (the defaults, then the setting's)."""
    overrides: dict[str, str] = {}
    for text in (DEFAULT_MIMETYPES, attachment_settings.mimetypes):
        for item in str(text).split(";"):
            if ":" in item:
                extension, mimetype = item.split(":", 1)
                overrides[extension.strip().lower().lstrip(".")] = mimetype.strip()
    return overrides


def declared_names() -> list[str]:
    return [*DEFAULTS, *AWS_ALIASES]
