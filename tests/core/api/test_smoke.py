from tests import factories


def test_root(anonymous):
    response = anonymous.get("/")
    assert response.status == 200
    assert response.json["http_api_version"] == "1.23"
    assert "user" not in response.json


def test_create_and_list(api):
    factories.collection(api)
    created = factories.record(api, {"qty": 1})
    response = api.get(factories.RECORDS)
    assert response.status == 200
    assert response.data == [created]
    assert response.headers["ETag"] == f'"{created["last_modified"]}"'
