"""Scraping `GET /v1/__metrics__` the way Prometheus does, and reading samples from it.

The metrics are process-wide (as in a server), so tests compare a scrape taken before the
requests they make with one taken after.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api


class Scrape:
    """The samples of one scrape, by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels (0 when absent, as for a counter never hit)."""
        for sample in self.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
        return 0.0

    def matching(self, name: str, **labels: str) -> list[Any]:
        """Samples of a name whose labels include these."""
        return [
            s
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]


@pytest.fixture
def scrape(anonymous: Api):
    """`scrape()`: GET /v1/__metrics__ as an unauthenticated scraper, parsed."""

    def run() -> Scrape:
        response = anonymous.get("/v1/__metrics__", headers={"Accept": "text/plain"})
        assert response.status == 200, response
        return Scrape(response.content.decode())

    return run
