"""Two `crm-mock serve` processes over one PostgreSQL database act as one mock: the load test of
issue 13 (8 clients × 500 creates and 500 moves spread over both), then one rate limit across both."""
from __future__ import annotations

import base64
import collections
import http.client
import itertools
import json
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.test_served_over_http import running

CLIENTS, EACH = 8, 500
OPPORTUNITIES = "/api/v1/opportunity/"


def auth(key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_two_servers_on_one_database_act_as_one_mock(postgres_url):
    common = ("--vendor", "close", "--store", postgres_url, "--journal-size", "20000", "--rate-limit", "3/m")
    with running(*common) as one, running(*common) as two:
        requests.post(f"{one}/__mock/reset", timeout=60).raise_for_status()
        statuses = requests.get(f"{two}/api/v1/status/opportunity/", headers=auth("setup"), timeout=10).json()["data"]
        won = next(s["id"] for s in statuses if s["type"] == "won")

        def client(number: int) -> list[str]:
            """Creates on one server and moves on the other, alternating; each pair under its own key
            (the 3/m limit is per credential, and is checked on its own below). http.client, not
            requests: 8,000 calls, and requests' own work was a quarter of this test's time."""
            made = []
            connections = {url: http.client.HTTPConnection(*url[len("http://"):].split(":"), timeout=30)
                           for url in (one, two)}

            def call(url: str, method: str, path: str, body: dict, key: dict) -> tuple[int, dict]:
                connections[url].request(method, path, json.dumps(body), {**key, "Content-Type": "application/json"})
                answer = connections[url].getresponse()
                return answer.status, json.loads(answer.read())

            for n in range(EACH):
                create_on, move_on = (one, two) if (number + n) % 2 else (two, one)
                key = auth(f"load-{number}-{n}")
                status, created = call(create_on, "POST", OPPORTUNITIES, {"value": n, "note": f"{number}/{n}"}, key)
                assert status == 200, created
                status, moved = call(move_on, "PUT", f"{OPPORTUNITIES}{created['id']}/", {"status_id": won}, key)
                assert status == 200 and moved["status_type"] == "won", moved
                made.append(created["id"])
            for connection in connections.values():
                connection.close()
            return made

        with ThreadPoolExecutor(CLIENTS) as pool:
            made = list(itertools.chain.from_iterable(pool.map(client, range(CLIENTS))))
        assert len(made) == len(set(made)) == CLIENTS * EACH  # unique ids across both processes

        for server in (one, two):  # every record readable from both ports, each exactly once
            seen = []
            for skip in itertools.count(0, 100):
                page = requests.get(server + OPPORTUNITIES, params={"_skip": skip, "_limit": 100},
                                    headers=auth(f"reader-{server}-{skip}"), timeout=30)
                seen += [o["id"] for o in page.json()["data"] if o["status_type"] == "won"
                         and o["id"] != "oppo_fn2kSFXS06akJ7XisR7vQQeObyK4upCc43RiAx1Vyz6"]  # seed 003's, won
                if not page.json()["has_more"]:
                    break
            assert sorted(seen) == sorted(made)

        journal = requests.get(f"{one}/__mock/requests", params={"limit": 20000}, timeout=60).json()["requests"]
        operations = collections.Counter(e["operation"] for e in journal)
        assert operations["createOpportunity"] == operations["updateOpportunity"] == CLIENTS * EACH
        moves = requests.get(f"{two}/__mock/records/close.activities", timeout=60).json()["records"]
        to_won = [m for m in moves if m["new_status_id"] == won and m["opportunity_id"] in set(made)]
        assert len(to_won) == CLIENTS * EACH and len({m["opportunity_id"] for m in to_won}) == CLIENTS * EACH

        # an override set through one server fires exactly once, on the next call, whichever server is hit
        requests.post(f"{one}/__mock/overrides", timeout=10, json={
            "match": {"operation": "createOpportunity"}, "respond": {"error": "server_error"}, "times": 1})
        statuses = [requests.post(server + OPPORTUNITIES, json={"value": 1}, headers=auth(f"once-{n}"),
                                  timeout=10).status_code for n, server in enumerate([two, one, two, one])]
        assert statuses == [503, 200, 200, 200]  # the very next call, on the server that did not set it

        # --rate-limit 3/m is 3 a minute in total, wherever the calls land
        answers = [requests.get(server + "/api/v1/status/opportunity/", headers=auth("one-key"), timeout=10)
                   for server in [one, two] * 4]
        assert [a.status_code for a in answers] == [200, 200, 200] + [429] * 5


def test_resets_during_a_write_load_on_two_servers_give_no_5xx(postgres_url):
    import threading
    import time

    with running("--vendor", "close", "--store", postgres_url) as one, \
            running("--vendor", "close", "--store", postgres_url) as two:
        statuses: list[int] = []
        stop = time.monotonic() + 3

        def write(number: int) -> None:
            with requests.Session() as session:
                while time.monotonic() < stop:
                    server = (one, two)[number % 2]
                    statuses.append(session.post(server + OPPORTUNITIES, json={"value": 1}, headers=auth(f"w{number}"),
                                                 timeout=30).status_code)

        writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in writers:
            thread.start()
        resets = []
        while time.monotonic() < stop:
            resets.append(requests.post(f"{(one, two)[len(resets) % 2]}/__mock/reset", timeout=30).status_code)
        for thread in writers:
            thread.join()
        assert resets and set(resets) == {200}
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
