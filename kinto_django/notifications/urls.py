from django.urls import path

from kinto_django.notifications.live.views import ChangesView

urlpatterns = [path("changes", ChangesView.as_view(), name="changes")]
