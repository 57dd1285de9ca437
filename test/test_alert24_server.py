"""The local Alert24's list endpoints hold to the documented contract: the pipe is tested
against them, so a lenient stand-in would let a pipe that breaks on Alert24 pass."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from alert24_server import Alert24Server
from conftest import API_KEY


@pytest.fixture
def stand_in() -> Iterator[Alert24Server]:
    with Alert24Server(api_key=API_KEY) as running:
        yield running


def get(server: Alert24Server, path: str, key: str = API_KEY) -> tuple[int, dict]:
    answer = requests.get(server.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=5)
    return answer.status_code, answer.json()


def test_a_list_pages_newest_first_with_data_and_meta(stand_in):
    stand_in.seed(*({"summary": f"change {n}"} for n in range(30)))
    status, page = get(stand_in, "/api/v1/changes?offset=25")
    assert status == 200
    assert [item["summary"] for item in page["data"]] == [f"change {n}" for n in range(4, -1, -1)]
    assert page["meta"] == {"total": 30, "limit": 25, "offset": 25, "has_more": False}
    assert get(stand_in, "/api/v1/changes")[1]["meta"]["has_more"] is True


def test_each_item_carries_an_id_and_an_iso_creation_time(stand_in):
    stand_in.seed({"summary": "earlier"})
    item = get(stand_in, "/api/v1/changes")[1]["data"][0]
    assert item["id"] == "chg_0001"
    assert item["created_at"] == "2026-03-19T14:31:00.000Z"


def test_a_limit_over_100_is_a_validation_error(stand_in):
    status, body = get(stand_in, "/api/v1/changes?limit=101")
    assert (status, body["error"]["type"]) == (400, "validation_error")


def test_field_values_filter_unless_the_server_ignores_them(stand_in):
    stand_in.seed({"summary": "a", "environment": "staging"}, {"summary": "b"})
    assert [
        i["summary"] for i in get(stand_in, "/api/v1/changes?environment=staging")[1]["data"]
    ] == ["a"]
    stand_in.ignores_filters = True
    assert len(get(stand_in, "/api/v1/changes?environment=staging")[1]["data"]) == 2


def test_a_service_list_holds_only_that_service(stand_in):
    stand_in.seed({"summary": "a", "service_id": "svc_1"}, {"summary": "b", "service_id": "svc_2"})
    stand_in.ignores_filters = True
    data = get(stand_in, "/api/v1/services/svc_1/changes")[1]["data"]
    assert [item["summary"] for item in data] == ["a"]


def test_a_key_without_read_access_gets_an_authorization_error(stand_in):
    stand_in.can_read = False
    status, body = get(stand_in, "/api/v1/changes")
    assert (status, body["error"]["type"]) == (403, "authorization_error")


def test_a_wrong_key_gets_an_authentication_error(stand_in):
    assert get(stand_in, "/api/v1/changes", key="ak_live_wrong")[0] == 401


def test_an_unknown_filter_is_refused(stand_in):
    assert get(stand_in, "/api/v1/changes?colour=blue")[0] == 400
