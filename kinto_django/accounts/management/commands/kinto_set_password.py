"""`manage.py kinto_set_password <id>`: change an account's password (old one stops working)."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kinto_django.accounts.operations import save_account


class Command(BaseCommand):
    help = "Set the password of an existing account."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("account_id")
        parser.add_argument("--password", help="Read from a prompt when omitted.")

    def handle(self, *args: Any, account_id: str, password: str | None, **options: Any) -> None:
        password = password or getpass.getpass(f"New password for {account_id}: ")
        try:
            save_account(account_id, password, create=False)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Password of account:{account_id} changed")
