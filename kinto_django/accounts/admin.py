"""Accounts in the Django admin: the password hash is never shown nor searched; a password
typed in the form is hashed by the same validation as an API write."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from kinto_django.accounts.models import Account
from kinto_django.core.admin.forms import ResourceForm
from kinto_django.core.admin.resources import ResourceAdmin


class AccountForm(ResourceForm):
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current password.",
    )


@admin.register(Account)
class AccountAdmin(ResourceAdmin):
    form = AccountForm
    hidden_keys = ("password",)

    def editable_fields(self) -> list[str]:
        return ["password", "data"]

    def data_from_form(self, obj: Account, form: Any) -> dict[str, Any]:
        data = super().data_from_form(obj, form)
        password = form.cleaned_data["password"] or (obj.data or {}).get("password")
        if not password:
            raise ValidationError({"password": "Required for a new account"})
        return {**data, "password": password}
