"""`manage.py kinto_dispatch_events`: deliver the outbox to the Redis queues and webhooks.

Runs until SIGTERM or SIGINT (finishing the delivery under way and handing its lease over);
`--once` delivers what is due and exits; `--status` shows the backlog; `--discard <name>`
drops the undelivered events of a listener (one removed from the settings keeps its entries
until then).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from prometheus_client import start_http_server
from prometheus_client.metrics_core import Metric

from kinto_django.core.observability.metrics import exposed_registry
from kinto_django.notifications.outbox.dispatcher import Dispatcher, lease_holder
from kinto_django.notifications.outbox.entries import backlog
from kinto_django.notifications.outbox.models import OutboxEntry
from kinto_django.notifications.outbox.sinks import configuration


class ClosingRegistry:
    """The exposed metrics, closing the database connection a scrape opened (the outbox
    backlog is read from the database, in the metrics server's own thread)."""

    def collect(self) -> Iterator[Metric]:
        try:
            yield from exposed_registry().collect()
        finally:
            connections.close_all()


def serve_metrics(address: str, port: int) -> None:
    """Prometheus' HTTP server in a daemon thread: a dispatcher running as a service of its
    own is scraped on its own, as the web workers are at `/v1/__metrics__`."""
    start_http_server(port, addr=address, registry=ClosingRegistry())


class Command(BaseCommand):
    help = "Deliver change events to the configured Redis queues and webhooks."

    def add_arguments(self, parser: Any) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--once", action="store_true", help="Deliver what is due now, then exit."
        )
        action.add_argument(
            "--status", action="store_true", help="Print the undelivered events per listener."
        )
        action.add_argument(
            "--discard", metavar="LISTENER", help="Delete a listener's undelivered events."
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            help="Serve this process's Prometheus metrics (events delivered, failures, outbox "
            "backlog) over HTTP on this port while it runs.",
        )
        parser.add_argument(
            "--metrics-address",
            default="127.0.0.1",
            help="Address of the metrics server (default: 127.0.0.1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            return self.status()
        if options["discard"]:
            count, _ = OutboxEntry.objects.pending().of_listener(options["discard"]).delete()
            self.stdout.write(f"{count} undelivered entries of {options['discard']!r} deleted")
            return
        config = configuration()
        if config.problems:
            raise CommandError("; ".join(config.problems))
        if not config.sinks:
            self.stderr.write("No durable listener is configured (event_listeners).")
        dispatcher = Dispatcher()
        if options["once"]:
            if not dispatcher.lease.hold():
                raise CommandError(f"Another dispatcher is delivering: {lease_holder()}")
            try:
                delivered = dispatcher.drain()
            finally:
                dispatcher.release()
            waiting = sum(backlog().values())
            self.stdout.write(f"{delivered} events delivered, {waiting} waiting")
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: dispatcher.stop())
        if options["metrics_port"] is not None:
            serve_metrics(options["metrics_address"], options["metrics_port"])
            self.stdout.write(
                f"Metrics at http://{options['metrics_address']}:{options['metrics_port']}/"
            )
        self.stdout.write(f"Dispatching events as {dispatcher.owner}")
        dispatcher.run_forever()
        self.stdout.write("Stopped")

    def status(self) -> None:
        names = {sink.name for sink in configuration().sinks}
        counts = backlog()
        for name in sorted(names | set(counts)):
            note = "" if name in names else " (not configured)"
            self.stdout.write(f"{name}: {counts.get(name, 0)} undelivered events{note}")
        holder = lease_holder()
        self.stdout.write(f"Lease: {holder if holder else 'never taken'}")
