"""Every setting the apps read is documented in the README (its name, in backquotes), so that
an operator can find each limit and what it bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinto_django import conf
from kinto_django.attachments import conf as attachments_conf
from kinto_django.notifications import conf as notifications_conf

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize(
    "name", [*conf.DEFAULTS, *notifications_conf.DEFAULTS, *attachments_conf.DEFAULTS]
)
def test_the_setting_is_documented(name):
    assert f"`{name}`" in README
