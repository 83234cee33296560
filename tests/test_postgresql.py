"""PostgreSQL as the one store of several `crm-mock serve` processes: one mock, whichever port a
client reaches. (Every vendor test also runs on it, through conftest's `store_url`.)"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mock_server.store import open_store
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
    store = open_store(postgres_url)  # the process' shared store for this database
    with store._connection() as db:
        db.execute("UPDATE crm_mock_meta SET value = %s WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    try:
        with pytest.raises(SchemaTooNew, match="newer than this crm-mock"):
            PostgresStore(postgres_url)
    finally:
        with store._connection() as db:
            db.execute("UPDATE crm_mock_meta SET value = %s WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))


def test_a_database_restart_is_the_vendors_503_then_service_resumes_with_nothing_lost(postgres_cluster):
    import subprocess
    import time

    cluster, postgres_url = postgres_cluster, postgres_cluster["url"]

    with running("--vendor", "close", "--store", postgres_url) as url:
        requests.post(f"{url}/__mock/reset", timeout=30).raise_for_status()
        created = requests.post(f"{url}/api/v1/opportunity/", json={"value": 42}, headers=CLOSE, timeout=10).json()
        pg_ctl = [*cluster["as_owner"], "pg_ctl", "-D", str(cluster["data"])]
        subprocess.run([*pg_ctl, "-m", "fast", "stop"], check=True, capture_output=True)
        try:
            down = requests.post(f"{url}/api/v1/opportunity/", json={"value": 1}, headers=CLOSE, timeout=30)
            assert down.status_code == 503 and set(down.json()) == {"error"}  # Close's shape, not a 500
            assert down.headers.get("Retry-After") == "1"
        finally:
            subprocess.run([*pg_ctl, "-o", cluster["options"], "-l", str(cluster["log"]), "-w", "start"],
                           check=True, capture_output=True)
        deadline = time.monotonic() + 20
        while True:  # the pool replaces the broken connections: no server restart needed
            again = requests.get(f"{url}/api/v1/opportunity/{created['id']}/", headers=CLOSE, timeout=30)
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert again.status_code == 200 and again.json()["value"] == 42  # nothing stored before is lost
