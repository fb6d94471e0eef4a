"""The `django` policy: a host site's logged-in users are principals `django:<username>`."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.middleware.csrf import get_token
from django.test import RequestFactory

from kinto_django.errors import KintoError
from kinto_django.permissions.auth import DjangoSessionPolicy, authenticate


@pytest.fixture
def site_user(db):
    return get_user_model().objects.create_user("alice", password="pw")


def request_for(method, user, **extra):
    request = RequestFactory().generic(method, "/v1/buckets/x", **extra)
    request.user = user
    return request


def test_logged_in_user_is_a_django_principal(site_user, kinto_settings):
    kinto_settings(auth_policies="django basicauth")
    assert authenticate(request_for("GET", site_user)) == "django:alice"


def test_not_logged_in_falls_through_to_the_next_policy(db, kinto_settings):
    kinto_settings(auth_policies="django")
    assert authenticate(request_for("GET", AnonymousUser())) is None
    # Without the authentication middleware there is no request.user at all.
    assert DjangoSessionPolicy().authenticate(RequestFactory().get("/")) is None


def test_unsafe_methods_need_the_csrf_token(site_user, kinto_settings):
    kinto_settings(auth_policies="django")
    with pytest.raises(KintoError) as refused:
        authenticate(request_for("PUT", site_user))
    assert refused.value.status == 403
    assert refused.value.message.startswith("CSRF Failed")
    # With the site's token (cookie + header), the write is the user's.
    token_request = RequestFactory().get("/")
    token = get_token(token_request)
    request = request_for("PUT", site_user, HTTP_X_CSRFTOKEN=token)
    request.COOKIES["csrftoken"] = token_request.META["CSRF_COOKIE"]
    assert authenticate(request) == "django:alice"


def test_policy_is_off_unless_configured(site_user):
    assert authenticate(request_for("GET", site_user)) is None
