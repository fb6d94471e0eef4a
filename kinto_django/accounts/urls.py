from kinto_django.accounts.viewsets import AccountViewSet
from kinto_django.core.api.routes import resource_urls

urlpatterns = resource_urls(AccountViewSet, "accounts", "accounts/<str:id>", "account")
