from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The site's users (`AUTH_USER_MODEL`): a custom user model, as most sites have, in the
    site's own `accounts` app next to the API's accounts."""

    display_name = models.CharField(max_length=100, blank=True)
