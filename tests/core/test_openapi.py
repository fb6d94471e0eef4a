"""`GET /__api__`: an OpenAPI 3 description of the running server (spec/06)."""


def test_openapi_document_describes_every_resource(anonymous):
    response = anonymous.get("/v1/__api__")
    assert response.status == 200
    doc = response.json
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": "http://testserver/v1"}]
    paths = doc["paths"]
    records = "/buckets/{bucket_id}/collections/{collection_id}/records"
    assert set(paths[records]) >= {"get", "head", "post", "delete", "parameters"}
    assert set(paths[records + "/{id}"]) >= {"get", "head", "put", "patch", "delete"}
    for path in ("/buckets", "/buckets/{bucket_id}/groups/{id}", "/batch", "/__heartbeat__"):
        assert path in paths
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "errno", "error"]
    # Every path parameter of a templated path is declared.
    for path, item in paths.items():
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert declared == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path
