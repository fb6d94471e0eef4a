from django.apps import AppConfig


class HostAccountsConfig(AppConfig):
    """The site's own `accounts` app (label `accounts`, like many sites have)."""

    name = "tests.host_site.accounts"
    label = "accounts"
