"""The attachment settings: reference names from the environment and INI files, the
per-resource overrides, and the start-up checks."""

from __future__ import annotations

from django.core.checks import run_checks

from kinto_django.attachments.conf import attachment_settings, resolve_extensions
from kinto_project import config


def check_ids(**kwargs) -> set[str]:
    return {problem.id for problem in run_checks()}


def test_reference_names_from_an_ini_file_and_the_environment(tmp_path):
    ini = tmp_path / "kinto.ini"
    ini.write_text(
        "[app:main]\n"
        "kinto.attachment.base_path = /srv/files\n"
        "kinto.attachment.resources.blog.articles.keep_old_files = true\n"
        "kinto.attachment.aws.bucket_name = files\n"
    )
    values = config.load({"KINTO_INI": str(ini), "KINTO_ATTACHMENT_MAX_SIZE_BYTES": "10"})
    assert values["attachment_base_path"] == "/srv/files"
    assert values["attachment_resources_blog_articles_keep_old_files"] == "true"
    assert values["attachment_aws_bucket_name"] == "files"
    assert values["attachment_max_size_bytes"] == "10"


def test_overrides_per_bucket_and_collection(kinto_settings):
    kinto_settings(
        attachment_keep_old_files="false",
        attachment_resources_blog_keep_old_files="true",
        attachment_resources_blog_drafts_keep_old_files="false",
    )
    assert attachment_settings.for_resource("keep_old_files", "shop", "x") is False
    assert attachment_settings.for_resource("keep_old_files", "blog", "articles") is True
    assert attachment_settings.for_resource("keep_old_files", "blog", "drafts") is False


def test_s3_options_from_both_spellings(kinto_settings):
    kinto_settings(
        attachment_aws_access_key="a",
        attachment_aws_acl="public-read",
        attachment_s3_bucket_name="b",
        attachment_s3_querystring_auth="false",
        attachment_s3_querystring_expire="60",
    )
    assert attachment_settings.s3_options() == {
        "access_key": "a",
        "default_acl": "public-read",
        "bucket_name": "b",
        "querystring_auth": False,
        "querystring_expire": 60,
    }


def test_extension_groups():
    assert resolve_extensions("any") is None
    assert "mp4" in resolve_extensions("default+video")
    assert "pdf" in resolve_extensions("default") and "exe" not in resolve_extensions("default")
    assert resolve_extensions("PDF .txt") == {"pdf", "txt"}


def test_attachment_settings_are_known_names(db, kinto_settings):
    kinto_settings(
        attachment_base_path="/tmp/x",
        attachment_resources_blog_keep_old_files="true",
        attachment_s3_custom_domain="cdn.example.com",
        attachment_aws_acl="private",
    )
    assert "kinto_core.W006" not in check_ids()
    kinto_settings(attachment_bse_path="typo")
    assert "kinto_core.W006" in check_ids()


def test_start_up_checks(db, kinto_settings, settings):
    kinto_settings(attachment_base_path="")
    assert "kinto_attachments.E002" in check_ids()
    kinto_settings(attachment_base_path="/tmp/x", attachment_storage="s3")
    assert "kinto_attachments.E004" in check_ids()
    kinto_settings(attachment_storage="nonsense")
    assert "kinto_attachments.E005" in check_ids()
    kinto_settings(attachment_storage="local", attachment_max_size_bytes="-1")
    assert "kinto_attachments.E006" in check_ids()
    kinto_settings(attachment_max_size_bytes=None, attachment_base_path="")
    settings.STORAGES = {
        **settings.STORAGES,
        "kinto_attachments": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    assert not {i for i in check_ids() if i.startswith("kinto_attachments")}
