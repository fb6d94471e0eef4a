"""`manage.py kinto_create_account <id>`: create an account (password prompted or from --password)."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kinto_django.accounts.operations import save_account


class Command(BaseCommand):
    help = "Create an account (its principal is account:<id>)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("account_id")
        parser.add_argument("--password", help="Read from a prompt when omitted.")

    def handle(self, *args: Any, account_id: str, password: str | None, **options: Any) -> None:
        password = password or getpass.getpass(f"Password for {account_id}: ")
        try:
            save_account(account_id, password, create=True)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Created account:{account_id}")
