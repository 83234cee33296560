"""PostgreSQL as the one store of several `crm-mock serve` processes: one mock, whichever port a
client reaches. (Every vendor test also runs on it, through conftest's `store_url`.)"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mock_server.store.postgresql import SCHEMA_VERSION, PostgresStore, SchemaTooNew
from tests.test_served_over_http import running

CLOSE = {"Authorization": "Basic YXBpX2tleTo="}


def test_two_servers_on_one_database_act_as_one_mock(postgres_url):
    with running("--vendor", "close", "--store", postgres_url) as one, \
            running("--vendor", "close", "--store", postgres_url) as two:
        requests.post(f"{one}/__mock/reset", timeout=30).raise_for_status()

        def create(n: int) -> str:
            url = (one, two)[n % 2]
            response = requests.post(f"{url}/api/v1/opportunity/", json={"value": n + 1}, headers=CLOSE, timeout=30)
            assert response.status_code == 200, response.text
            return response.json()["id"]

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(create, range(200)))
        assert len(set(ids)) == 200  # unique across both processes
        for url in (one, two):
            listed = requests.get(f"{url}/api/v1/opportunity/?_limit=1", headers=CLOSE, timeout=10).json()
            assert listed["total_results"] == 200
        assert requests.get(f"{two}/api/v1/opportunity/{ids[0]}/", headers=CLOSE, timeout=10).status_code == 200
        # An override set through one server fires exactly once, whichever server is hit.
        requests.post(f"{one}/__mock/overrides", timeout=10, json={
            "match": {"operation": "createOpportunity"}, "respond": {"error": "server_error"}, "times": 1})
        statuses = [requests.post(f"{url}/api/v1/opportunity/", json={"value": 1}, headers=CLOSE,
                                  timeout=10).status_code for url in (two, one, two, one)]
        assert sorted(statuses) == [200, 200, 200, 503]


def test_a_database_from_a_newer_crm_mock_is_refused(postgres_url):
    store = PostgresStore(postgres_url)
    with store._connection() as db:
        db.execute("UPDATE crm_mock_meta SET value = %s WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    try:
        with pytest.raises(SchemaTooNew, match="newer than this crm-mock"):
            PostgresStore(postgres_url)
    finally:
        with store._connection() as db:
            db.execute("UPDATE crm_mock_meta SET value = %s WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))
