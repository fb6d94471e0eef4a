"""`GET /__api__`: an OpenAPI 3 description of the running server (spec/06).

Its agreement with the server's behaviour is checked in test_openapi_conformance.py; here,
that it describes what answers now, and only that.
"""

import pytest


def operations(api) -> dict[str, set[str]]:
    paths = api.get("/v1/__api__").json["paths"]
    return {path: {m for m in item if m != "parameters"} for path, item in paths.items()}


def test_openapi_document_describes_every_resource(anonymous):
    response = anonymous.get("/v1/__api__")
    assert response.status == 200
    doc = response.json
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": "http://testserver/v1"}]
    paths = doc["paths"]
    records = "/buckets/{bucket_id}/collections/{collection_id}/records"
    assert set(paths[records]) == {"get", "head", "post", "delete", "parameters"}
    assert set(paths[records + "/{id}"]) == {"get", "head", "put", "patch", "delete", "parameters"}
    for path in ("/buckets", "/buckets/{bucket_id}/groups/{id}", "/batch", "/__heartbeat__"):
        assert path in paths
    for path in ("/", "/__api__", "/contribute.json", "/__version__", "/__lbheartbeat__"):
        assert set(paths[path]) == {"get", "head"}, path
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "errno", "error"]
    # Every path parameter of a templated path is declared.
    for path, item in paths.items():
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert declared == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path


def test_features_that_are_off_are_left_out(anonymous):
    paths = operations(anonymous)
    for path in (
        "/accounts",
        "/accounts/{id}",
        "/buckets/{bucket_id}/history",
        "/buckets/{bucket_id}/snapshot/collections/{collection_id}@{timestamp}",
        "/buckets/{bucket_id}/history/{id}",
        "/__flush__",
        "/permissions",
    ):
        assert path not in paths, path


def test_features_that_are_on_are_described(anonymous, kinto_settings):
    kinto_settings(
        auth_policies="account basicauth",
        history_enabled=True,
        flush_endpoint_enabled=True,
        experimental_permissions_endpoint=True,
    )
    paths = operations(anonymous)
    assert paths["/accounts/{id}"] == {"get", "head", "put", "patch", "delete"}
    # History is a list only (spec/07): no object endpoint, no POST.
    assert paths["/buckets/{bucket_id}/history"] == {"get", "head", "delete"}
    assert "/buckets/{bucket_id}/history/{id}" not in paths
    snapshot = "/buckets/{bucket_id}/snapshot/collections/{collection_id}@{timestamp}"
    assert paths[snapshot] == {"get", "head"}
    assert paths["/__flush__"] == {"post"}
    assert paths["/permissions"] == {"get", "head"}


def test_methods_switched_off_are_left_out(anonymous, kinto_settings):
    kinto_settings(plural_bucket_post_enabled=False, object_record_patch_enabled=False)
    paths = operations(anonymous)
    assert paths["/buckets"] == {"get", "head", "delete"}
    records = "/buckets/{bucket_id}/collections/{collection_id}/records/{id}"
    assert paths[records] == {"get", "head", "put", "delete"}
    assert anonymous.post("/buckets").status == 405


def test_a_readonly_server_describes_reads_only(anonymous, kinto_settings):
    kinto_settings(readonly=True)
    paths = operations(anonymous)
    assert "/batch" not in paths
    assert paths["/buckets/{id}"] == {"get", "head"}
    assert all(methods <= {"get", "head"} for methods in paths.values()), paths


@pytest.mark.parametrize("method", ["post", "put"])
def test_only_patch_takes_merge_and_json_patch_bodies(anonymous, method):
    doc = anonymous.get("/v1/__api__").json
    item = doc["paths"]["/buckets" if method == "post" else "/buckets/{id}"]
    assert set(item[method]["requestBody"]["content"]) == {"application/json"}
    patch = doc["paths"]["/buckets/{id}"]["patch"]["requestBody"]["content"]
    assert set(patch) == {
        "application/json",
        "application/merge-patch+json",
        "application/json-patch+json",
    }
    # What the document says is refused is refused.
    path = "/buckets" if method == "post" else "/buckets/x"
    response = anonymous.request(
        method.upper(), path, {}, content_type="application/merge-patch+json"
    )
    assert response.status == 415
