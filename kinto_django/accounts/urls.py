from kinto_django.accounts.viewsets import AccountViewSet
from kinto_django.core.api.routes import ResourceRouter

router = ResourceRouter()
router.register(r"accounts", AccountViewSet, "account")

urlpatterns = router.urls
