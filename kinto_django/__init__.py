"""A Kinto HTTP API v1 server as reusable Django apps: the engine (`core`), `permissions`,
the resource apps (`buckets`, `records`, `accounts`, `history`) and `notifications`."""


def __getattr__(name: str) -> str:
    """`kinto_django.__version__`: the distribution's version, read when asked (the
    installed package's metadata, or the checkout's `pyproject.toml`)."""
    if name == "__version__":
        from kinto_django.version import package_info

        return package_info()["version"] or "unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
