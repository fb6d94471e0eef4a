#!/usr/bin/env python3
"""Benchmark of `GET /v1/permissions` on a large ACL data set (issue 3).

Seeds a fresh PostgreSQL database directly through `kinto_django.core.actions` (no HTTP: every object,
ACL and group membership is written by the same functions the API uses), then times the
endpoint, in process through Django's full request stack, for one user who belongs to many
groups and holds many ACL entries:

    .venv/bin/python bench/permissions_endpoint.py               # ~100,000 ACL entries, 5,000 groups
    .venv/bin/python bench/permissions_endpoint.py --scale 0.1   # a quick run on a tenth of it

See bench/README.md ("Permissions endpoint") for the data set and how to read the output.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/kinto_h8_bench"
USER, PASSWORD = "bench", "bench-password"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL, help="dropped and recreated")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    parser.add_argument("--buckets", type=int, default=50)
    parser.add_argument("--groups-per-bucket", type=int, default=100)
    parser.add_argument("--collections-per-bucket", type=int, default=10)
    parser.add_argument("--records-per-collection", type=int, default=40)
    parser.add_argument("--users", type=int, default=500, help="other users")
    parser.add_argument(
        "--member-ratio", type=float, default=0.1, help="share of the groups the user is in"
    )
    parser.add_argument(
        "--direct-ratio",
        type=float,
        default=0.25,
        help="share of the records whose read ACL names the user directly",
    )
    parser.add_argument("--page-size", type=int, default=1000, help="_limit of the full walk")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each request")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="measure a database seeded by an earlier run with --keep-db (no seeding)",
    )
    return parser.parse_args()


def recreate_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def drop_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    admin = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')
    admin.close()


def setup_django(db_url: str) -> None:
    os.environ["KINTO_STORAGE_URL"] = db_url
    os.environ["KINTO_EXPERIMENTAL_PERMISSIONS_ENDPOINT"] = "true"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kinto_project.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed(args: argparse.Namespace, rng: random.Random) -> dict[str, int]:
    """Buckets with groups, collections and records, their ACLs written by the actions."""
    from django.apps import apps
    from django.db import transaction
    from kinto_django.permissions.auth import basicauth_identifier

    from kinto_django.core import actions
    from kinto_django.core.context import ActionContext
    from kinto_django.core.models import ResourceModel
    from kinto_django.permissions.service import identity_for_user_id

    def scaled(value: int) -> int:
        return max(1, round(value * args.scale))

    models = {m.resource_name: m for m in apps.get_models() if issubclass(m, ResourceModel)}
    bucket_model, collection_model = models["bucket"], models["collection"]
    group_model, record_model = models["group"], models["record"]
    me = f"basicauth:{basicauth_identifier(USER, PASSWORD)}"
    others = [f"basicauth:user-{index:05d}" for index in range(scaled(args.users))]
    contexts = {user: ActionContext(identity_for_user_id(user)) for user in others[:50]}

    def ctx_of(user: str) -> ActionContext:
        ctx = contexts.get(user) or contexts[others[0]]
        ctx.events.events.clear()  # nobody listens: don't keep every event in memory
        return ctx

    counts = {"buckets": 0, "groups": 0, "collections": 0, "records": 0, "my_groups": 0}
    started = time.perf_counter()
    group_uris: list[str] = []
    my_groups: set[str] = set()
    for b in range(scaled(args.buckets)):
        owner = others[b % 50]
        with transaction.atomic():
            bucket = actions.create_object(
                ctx_of(owner), bucket_model, None, f"bucket-{b:03d}", {}
            )
            counts["buckets"] += 1
            for g in range(args.groups_per_bucket):
                members = rng.sample(others, 5)
                if rng.random() < args.member_ratio:
                    members.append(me)
                group = actions.create_object(
                    ctx_of(owner), group_model, bucket, f"group-{g:03d}", {"members": members}
                )
                group_uris.append(group.uri)
                if me in members:
                    my_groups.add(group.uri)
                counts["groups"] += 1
        log(f"  bucket {b + 1}: {counts['groups']} groups")
    counts["my_groups"] = len(my_groups)
    for b in range(scaled(args.buckets)):
        bucket = bucket_model.objects.get(object_id=f"bucket-{b:03d}")
        for c in range(args.collections_per_bucket):
            owner = rng.choice(others[:50])
            with transaction.atomic():
                collection = actions.create_object(
                    ctx_of(owner),
                    collection_model,
                    bucket,
                    f"collection-{c:03d}",
                    {},
                    {"read": rng.sample(group_uris, 4)},
                )
                counts["collections"] += 1
                for r in range(args.records_per_collection):
                    readers = [*rng.sample(group_uris, 2), *rng.sample(others, 2)]
                    if rng.random() < args.direct_ratio:
                        readers.append(me)
                    actions.create_object(
                        ctx_of(rng.choice(others[:50])),
                        record_model,
                        collection,
                        f"record-{r:04d}",
                        {"n": r},
                        {"read": readers},
                    )
                    counts["records"] += 1
        elapsed = time.perf_counter() - started
        log(f"  bucket {b + 1}: {counts['records']} records ({elapsed:.0f} s)")
    return counts


def basic_auth() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def timed(client, path: str, method: str = "get"):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = getattr(client, method)(path, HTTP_AUTHORIZATION=basic_auth())
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return response, elapsed, len(queries)


def walk(client, page_size: int) -> tuple[int, int, float, int]:
    """Follow every Next-Page: (entries, pages, seconds, queries)."""
    path = f"/v1/permissions?_limit={page_size}"
    entries = pages = queries = 0
    seconds = 0.0
    while path:
        response, elapsed, count = timed(client, path)
        entries += len(response.json()["data"])
        pages += 1
        seconds += elapsed
        queries += count
        next_page = response.headers.get("Next-Page")
        path = urlsplit(next_page)._replace(scheme="", netloc="").geturl() if next_page else None
    return entries, pages, seconds, queries


def summary(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1000:8.1f} ms   "
        f"min {min(samples) * 1000:8.1f} ms   max {max(samples) * 1000:8.1f} ms"
    )


def measure(args: argparse.Namespace) -> None:
    from django.db import connection
    from django.test import Client

    from kinto_django.permissions import service

    client = Client()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"ACL entries in the database: {service.acl_entry_count()}")
    head, _, _ = timed(client, "/v1/permissions", "head")
    total = int(head.headers["Total-Objects"])
    print(f"entries listed for the user:  {total}")
    print()
    scenarios = [
        ("HEAD (Total-Objects)", "/v1/permissions", "head"),
        ("GET first page, default size", "/v1/permissions", "get"),
        ("GET first page, _limit=100", "/v1/permissions?_limit=100", "get"),
        (
            "GET filtered: records of one bucket",
            "/v1/permissions?resource_name=record&bucket_id=bucket-000",
            "get",
        ),
    ]
    for label, path, method in scenarios:
        timed(client, path, method)  # warm-up
        samples, sizes, queries = [], set(), set()
        for _ in range(args.repeat):
            response, elapsed, count = timed(client, path, method)
            samples.append(elapsed)
            queries.add(count)
            if method == "get":
                sizes.add(len(response.json()["data"]))
        size = f"{sorted(sizes)[0]:6d} entries" if sizes else " " * 14
        print(f"{label:38s} {size}  {summary(samples)}  queries {sorted(queries)}")
    samples = []
    for _ in range(args.repeat):
        entries, pages, seconds, queries = walk(client, args.page_size)
        assert entries == total, (entries, total)
        samples.append(seconds)
    label = f"full walk, _limit={args.page_size} ({pages} pages)"
    print(f"{label:38s} {entries:6d} entries  {summary(samples)}  queries [{queries}]")


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    if not args.reuse_db:
        log(f"recreating {args.db_url}")
        recreate_database(args.db_url)
    try:
        setup_django(args.db_url)
        if not args.reuse_db:
            log("seeding through core.actions")
            started = time.perf_counter()
            counts = seed(args, rng)
            log(f"seeded in {time.perf_counter() - started:.0f} s")
            print("== data set ==")
            for name, value in counts.items():
                print(f"{name:12s} {value}")
            print()
        print("== GET /v1/permissions (in process, Django test client) ==")
        measure(args)
    finally:
        if not args.keep_db and not args.reuse_db:
            from django.db import connections

            connections.close_all()
            drop_database(args.db_url)


if __name__ == "__main__":
    main()
