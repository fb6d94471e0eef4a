from accounts.viewsets import AccountViewSet
from core.urls import resource_urls

urlpatterns = resource_urls(AccountViewSet, "accounts", "accounts/<str:id>", "account")
