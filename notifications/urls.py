from django.urls import path

from notifications.views import ChangesView

urlpatterns = [path("changes", ChangesView.as_view(), name="changes")]
