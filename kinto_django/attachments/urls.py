from django.urls import path, re_path

from kinto_django.attachments.serving import serve_file
from kinto_django.attachments.views import AttachmentViewSet

attachment = AttachmentViewSet.as_view({"post": "upload", "delete": "remove"})

urlpatterns = [
    re_path(
        r"^buckets/(?P<bucket_id>[^/]+)/collections/(?P<collection_id>[^/]+)"
        r"/records/(?P<id>[^/]+)/attachment$",
        attachment,
        name="record-attachment",
    ),
    path("attachments/<path:name>", serve_file, name="attachment-file"),
]
