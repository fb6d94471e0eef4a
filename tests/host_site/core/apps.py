from django.apps import AppConfig


class HostCoreConfig(AppConfig):
    """The site's own `core` app (label `core`, like many sites have)."""

    name = "tests.host_site.core"
    label = "core"
