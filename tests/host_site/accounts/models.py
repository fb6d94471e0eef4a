from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The site's users (`AUTH_USER_MODEL`), in the site's own `accounts` app next to the API's
    accounts. Like many sites': a unique e-mail (they sign in with it too) and a field every
    row must fill, so no row can be made from a username alone."""

    email = models.EmailField(unique=True)
    member_since = models.DateField()
    display_name = models.CharField(max_length=100, blank=True)

    REQUIRED_FIELDS = ["email", "member_since"]
