"""World files (issue 16): a known world loaded at start (`--load`) or into a running server
(`POST /__mock/load`), checked first — spec, references, duplicate IDs — and refused by name."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from closeio_api import API

from mock_server import create_app
from mock_server.fixtures import generate
from tests.conftest import ADMIN_KEY, CLOSE_AUTH, NEXUDUS_AUTH
from tests.test_served_over_http import free_port, running


def world_file(tmp_path, vendor: str = "close", count: int = 30, seed: int = 0, name: str = "world.json",
               jsonl: bool = False) -> tuple[str, dict]:
    world = generate(vendor, "all", count, seed)
    path = tmp_path / name
    if jsonl:
        path.write_text("".join(json.dumps({"resource": r, "record": x}) + "\n" for r, rows in world.items() for x in rows))
    else:
        path.write_text(json.dumps(world, indent=2))
    return str(path), world


def served(store_url, **options):
    client = create_app(store=store_url, admin_key=ADMIN_KEY, **options).test_client()
    client.environ_base["HTTP_X_CRM_MOCK_ADMIN_KEY"] = ADMIN_KEY
    return client


@pytest.mark.parametrize("jsonl", [False, True], ids=["json", "jsonl"])
def test_a_loaded_world_round_trips_through_snapshot_reset_and_restore(store_url, tmp_path, jsonl):
    path, world = world_file(tmp_path, jsonl=jsonl)
    mock = served(store_url, vendor="close", load=(path,))
    for opportunity in world["opportunity"]:  # every record as the file has it, IDs kept
        answer = mock.get(f"/api/v1/opportunity/{opportunity['id']}/", headers=CLOSE_AUTH)
        assert answer.get_json() == opportunity
    first = mock.get("/__mock/snapshot").data
    assert mock.post("/__mock/reset").status_code == 200  # the loaded file is part of the seeded world
    assert mock.get("/__mock/snapshot").data == first
    mock.post("/__mock/reset", query_string={"seed_data": 3})
    assert mock.post("/__mock/restore", data=first, content_type="application/json").status_code == 200
    assert mock.get("/__mock/snapshot").data == first
    made = mock.post("/api/v1/opportunity/", json={"note": "after the load"}, headers=CLOSE_AUTH).get_json()
    assert made["id"] not in {o["id"] for o in world["opportunity"]}  # minting moved past the file's IDs


def test_a_file_from_another_seed_loads_beside_the_seeded_world(store_url, tmp_path):
    """Its IDs are not this world's: the file brings its leads (with their contacts) and statuses,
    and the two worlds live side by side."""
    path, world = world_file(tmp_path, count=5, seed=7)
    mock = served(store_url, vendor="close", seed=0, seed_data=20, load=(path,))
    total = mock.get("/api/v1/opportunity/", query_string={"_limit": 1}, headers=CLOSE_AUTH).get_json()
    assert total["total_results"] == 21 + len(world["opportunity"]) - 1  # seed 003's opportunity is in both
    lost = next(s for s in world["status"] if s["type"] == "lost")
    listed = mock.get("/api/v1/opportunity/", query_string={"status_id": lost["id"], "_limit": 100},
                      headers=CLOSE_AUTH).get_json()["data"]
    assert {o["id"] for o in listed} == {o["id"] for o in world["opportunity"] if o["status_id"] == lost["id"]}


def test_the_files_record_replaces_the_worlds_record_of_the_same_id(store_url, tmp_path):
    """Seed 0 mints the same opportunity IDs in any world: a file from it says what those IDs are."""
    path, world = world_file(tmp_path, count=5, seed=0)
    mock = served(store_url, vendor="close", seed_data=20, load=(path,))
    for opportunity in world["opportunity"]:
        assert mock.get(f"/api/v1/opportunity/{opportunity['id']}/", headers=CLOSE_AUTH).get_json() == opportunity
    total = mock.get("/api/v1/opportunity/", query_string={"_limit": 1}, headers=CLOSE_AUTH).get_json()
    assert total["total_results"] == 21  # replaced, not added


@pytest.mark.parametrize("vendor, collection, key", [("nexudus", "crmopportunity", "Id"),
                                                     ("sprinthub", "opportunity", "id")])
def test_other_vendors_worlds_load_too(store_url, tmp_path, vendor, collection, key):
    path, world = world_file(tmp_path, vendor=vendor, count=12, seed=3)
    mock = served(store_url, vendor="all", seed=3, load=(f"{vendor}:{path}",))
    stored_as = "opportunities" if vendor == "sprinthub" else "crmopportunities"
    stored = {r[key] for r in mock.get(f"/__mock/records/{vendor}.{stored_as}").get_json()["records"]}
    assert {r[key] for r in world[collection]} <= stored
    if vendor == "nexudus":  # and new records continue after the loaded Ids
        made = mock.post("/nexudus/api/crm/crmopportunities", headers=NEXUDUS_AUTH,
                         json={"CrmBoardColumnId": 300, "CoworkerId": 1040, "Position": 0}).get_json()
        assert made["Value"]["Id"] > max(stored)


def bad_worlds(tmp_path) -> dict[str, tuple[str, str]]:
    """name → (file path, what the refusal must say)."""
    world = generate("close", "all", 6, 0)
    cases = {}

    def write(name, content):
        path = tmp_path / f"{name}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    opp = world["opportunity"][2]
    cases["unknown field"] = (write("unknown", {"opportunity": [{**opp, "colour": "red"}]}),
                              f"record 0 (opportunity '{opp['id']}'): colour: unknown field")
    cases["wrong type"] = (write("type", {"opportunity": [{**opp, "value": "lots"}]}),
                           f"record 0 (opportunity '{opp['id']}'): value: 'lots' is not of type")
    missing = "stat_" + "x" * 43
    lead = next(lead for lead in world["lead"] if lead["id"] == opp["lead_id"])
    cases["missing reference"] = (write("reference", {"opportunity": [{**opp, "status_id": missing}], "lead": [lead]}),
                                  f"status_id: '{missing}' does not exist")
    cases["duplicate"] = (write("duplicate", {"opportunity": [opp, {**opp, "note": "the other one"}]}),
                          f"record 1 (opportunity '{opp['id']}'): duplicate ID {opp['id']!r}: an earlier")
    text = json.dumps(world)
    cases["truncated"] = (write("truncated", text[: len(text) // 2]), "truncated.json: not JSON")
    cases["not a world"] = (write("list", [1, 2]), "a world file is {resource: [records]}")
    cases["unknown resource"] = (write("resource", {"invoice": [{"id": "x"}]}), "'invoice' is not a close resource")
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:  # 1 GB on paper, nothing on disk: refused by its size, never read
        fh.truncate(1024 ** 3)
    cases["1 GB"] = (str(huge), "huge.json: larger than 512 MiB")
    return cases


CASES = ["unknown field", "wrong type", "missing reference", "duplicate", "truncated", "not a world",
         "unknown resource", "1 GB"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_world_stops_the_start_with_status_2_and_names_the_problem(tmp_path, case):
    path, says = bad_worlds(tmp_path)[case]
    started = subprocess.run([sys.executable, "-m", "mock_server", "serve", "--vendor", "close", "--port",
                              str(free_port()), "--load", path], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert started.returncode == 2, started.stderr
    assert says in started.stderr and "--load" in started.stderr, started.stderr


@pytest.mark.parametrize("case", [c for c in CASES if c != "1 GB"])
def test_a_bad_world_posted_to_a_running_server_is_refused_and_changes_nothing(store_url, tmp_path, case):
    path, says = bad_worlds(tmp_path)[case]
    mock = served(store_url, vendor="close", seed_data=3)
    before = mock.get("/__mock/snapshot").data
    refused = mock.post("/__mock/load", data=open(path, "rb").read(), content_type="application/json")
    assert refused.status_code == 400 and says.split(": ", 1)[-1] in refused.get_json()["error"], refused.get_json()
    assert mock.get("/__mock/snapshot").data == before


def test_a_world_posted_to_a_running_server_is_there_until_the_next_reset(store_url, tmp_path):
    path, world = world_file(tmp_path, count=8, seed=0)
    mock = served(store_url, vendor="all")
    loaded = mock.post("/__mock/load", query_string={"vendor": "close"}, data=open(path, "rb").read(),
                       content_type="application/json")
    assert loaded.status_code == 200, loaded.get_json()
    some = world["opportunity"][4]
    assert mock.get(f"/close/api/v1/opportunity/{some['id']}/", headers=CLOSE_AUTH).get_json() == some
    mock.post("/__mock/reset")
    assert mock.get(f"/close/api/v1/opportunity/{some['id']}/", headers=CLOSE_AUTH).status_code == 404
    ambiguous = mock.post("/__mock/load", data=json.dumps({"opportunity": []}), content_type="application/json")
    assert ambiguous.status_code == 400 and "say which vendor" in ambiguous.get_json()["error"]


def test_the_closeio_client_reads_a_loaded_world_from_a_served_mock(tmp_path):
    path, world = world_file(tmp_path, count=10)
    with running("--vendor", "close", "--load", path) as url:
        api = API(f"{url}/api/v1/", api_key="k")
        for opportunity in world["opportunity"]:
            assert api.get(f"opportunity/{opportunity['id']}") == opportunity
        listed = api.get("activity/status_change/opportunity", params={"_limit": 100})["data"]
        assert {a["id"] for a in world["status_change"]} <= {a["id"] for a in listed}
