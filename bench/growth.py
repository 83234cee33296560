"""Cost against stored data (issue 15): the same requests with 1,000, 10,000 and 100,000 stored
opportunities on every store, start-up and memory with 100,000, and a reset to 100,000 while another
client keeps reading. `python bench/growth.py` runs it alone; `make bench` runs it after the peers."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from run import CLOSE_AUTH, ROOT, SEED_BODY, Scenario, Server, free_port, postgres_cluster, request, start, wrk

SIZES = (1_000, 10_000, 100_000)
HEADERS = {"Authorization": CLOSE_AUTH}


def serve(store: str, seed_data: int, timeout: float = 600, server: str = "bjoern") -> Server:
    """One process on `store` with `seed_data` opportunities; start-up = until the first answer."""
    port = free_port()
    argv = [sys.executable, "-m", "mock_server", "serve", "--quiet", "--vendor", "close", "--server", server,
            "--port", str(port), "--seed-data", str(seed_data), "--store", store]
    base = f"http://127.0.0.1:{port}/api/v1"
    return start("crm-mock", argv, base + "/status/opportunity/", HEADERS, base, timeout)


def scenarios(server: Server) -> list[tuple[Scenario, str]]:
    """Get-by-id, a filtered list page (status, lead, date range, order) and a valid create, aimed at
    records the seeded world holds. The filter finds one opportunity at every size (its status, its
    lead, the second it was created in), so the page's cost is finding it, not writing more JSON out."""
    # A setup request, not a measurement: at 100,000 on PostgreSQL it may wait for the first totals.
    listed = json.loads(request(server.base + "/opportunity/?_limit=1&_skip=7", headers=HEADERS, timeout=600)[1])["data"][0]
    created = datetime.fromisoformat(listed["date_created"])
    query = urllib.parse.urlencode({"status_id": listed["status_id"], "lead_id": listed["lead_id"],
                                    "date_created__gte": created.isoformat(),
                                    "date_created__lt": (created + timedelta(seconds=1)).isoformat(),
                                    "_order_by": "-date_created", "_limit": 20})
    ok = {"crm-mock": (200,)}
    return [(Scenario("GET /opportunity/{id}/", "close", "GET", "", None, ok), f"/opportunity/{listed['id']}/"),
            (Scenario("filtered list page", "close", "GET", "", None, ok), f"/opportunity/?{query}"),
            (Scenario("valid create", "close", "POST", "", SEED_BODY, ok), "/opportunity/")]


def curve(stores: dict[str, str], seconds: int, connections: int) -> list[dict]:
    rows = []
    for store_name, store in stores.items():
        for size in SIZES:
            if store_name != "memory" and store.startswith("sqlite:"):
                store = f"sqlite:{tempfile.mkdtemp(prefix='crm-mock-growth-')}/store.db"  # a fresh file each size
            server = serve(store, size)
            try:
                row = {"store": store_name, "size": size, "startup": server.startup_s}
                for scenario, path in scenarios(server):
                    # The first request of a kind may make its index (SQL stores): timed alone, not in the load.
                    began = time.monotonic()
                    status, body = request(server.base + path, scenario.method, scenario.body, HEADERS, timeout=600)
                    row["first " + scenario.name] = time.monotonic() - began
                    if status not in scenario.expect["crm-mock"]:
                        raise RuntimeError(f"{scenario.name} answered {status}: {body[:200]!r}")
                    if store_name == "postgresql" and scenario.name == "filtered list page":
                        # PostgreSQL makes it in the background (the first page is answered by a
                        # scan): the load runs once it is made.
                        row["index made"] = _indexes_made(store, FILTER_INDEXES) - began
                    wrk(server.base + path, scenario, HEADERS, connections, 1)  # warm-up
                    row[scenario.name] = wrk(server.base + path, scenario, HEADERS, connections, seconds)
                rows.append(row)
                print(f"{store_name} {size}: " + ", ".join(
                    f"{k} {v['rps']:.0f}/s" for k, v in row.items() if isinstance(v, dict)), flush=True)
            finally:
                server.stop()
                if store_name == "postgresql":  # the next size starts from an empty database
                    _drop_all(store)
    return rows


# What the filtered page asks for (store/base.py: each equality field's, and the shape's).
FILTER_INDEXES = [("lead_id",), ("status_id",), ("lead_id", "status_id", "date_created")]


def _indexes_made(url: str, shapes: list[tuple[str, ...]], timeout: float = 600) -> float:
    """When every index for `shapes` is made and valid (time.monotonic())."""
    import psycopg

    sys.path.insert(0, str(ROOT))
    from mock_server.store.base import index_digest

    names = [f"crm_mock_eq_{index_digest(fields)}" for fields in shapes]
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT COUNT(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                           "WHERE c.relname = ANY(%s) AND i.indisvalid", (names,)).fetchone()[0] < len(names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the indexes {names} were not made within {timeout:.0f} s")
            time.sleep(0.05)
    return time.monotonic()


def _drop_all(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


def fresh_world_cache() -> None:
    """An empty world cache for this process and the servers it starts: figures that do not depend
    on what an earlier run left in ~/.cache."""
    os.environ["CRM_MOCK_WORLD_CACHE"] = tempfile.mkdtemp(prefix="crm-mock-worlds-")


def cold_and_warm(measure):
    """`measure()` with an empty world cache (the world is made, then kept), and again (read back)."""
    fresh_world_cache()
    return measure(), measure()


def startup_seconds(count: int = SIZES[-1]) -> float:
    server = serve("memory", count)
    server.stop()
    return server.startup_s


def memory_per_opportunity() -> dict:
    """RSS of a memory-store process at 0 and at 100,000 seeded opportunities (run after `curve`, so
    the world is read back from the world cache, as every start after the first reads it)."""
    sizes = {}
    for count in (0, SIZES[-1]):
        server = serve("memory", count)
        sizes[count] = server.start_rss_mb[0]
        server.stop()
    return {"rss0": sizes[0], "rss100k": sizes[SIZES[-1]],
            "per_opp_bytes": (sizes[SIZES[-1]] - sizes[0]) * 1024 * 1024 / SIZES[-1]}


def reset_under_load(store: str = "memory") -> list[dict]:
    """`POST /__mock/reset?seed_data=100000` while another client reads by id every 10 ms: the reset's
    duration and the slowest read meanwhile (how long the reset blocked other requests), twice: with
    an empty world cache (the world is made) and again (it is read back). On the default server:
    bjoern serves one request at a time, so there a reset holds every client."""
    fresh_world_cache()
    server = serve(store, 1000, server="auto")
    try:
        return [_reset_while_reading(server) for _ in range(2)]
    finally:
        server.stop()


def _reset_while_reading(server: Server) -> dict:
    one = json.loads(request(server.base + "/opportunity/?_limit=1", headers=HEADERS)[1])["data"][0]["id"]
    slowest, done = [0.0], threading.Event()

    def reader():
        while not done.is_set():
            began = time.monotonic()
            request(server.base + f"/opportunity/{one}/", headers=HEADERS, timeout=120)
            slowest[0] = max(slowest[0], time.monotonic() - began)
            time.sleep(0.01)

    thread = threading.Thread(target=reader)
    thread.start()
    began = time.monotonic()
    status, body = request(server.base.rsplit("/api", 1)[0] + "/__mock/reset?seed_data=100000", "POST", {},
                           timeout=600)
    took = time.monotonic() - began
    done.set()
    thread.join()
    if status != 200:
        raise RuntimeError(f"reset answered {status}: {body[:200]!r}")
    return {"reset_s": took, "slowest_read_ms": slowest[0] * 1000}


def restore_times(store: str, size: int = 10_000) -> dict:
    """A test suite's loop: save the world once, then return to it before each test. The mean of
    5 resets to a named snapshot, and of 5 restores of the snapshot file, with `size` opportunities."""
    server = serve(store, size)
    root = server.base.rsplit("/api", 1)[0] + "/__mock"
    try:
        request(root + "/snapshots/bench", "PUT", timeout=120)
        status, document = request(root + "/snapshot", timeout=120)

        def after_a_change(back) -> float:
            """The mean time `back` takes over 5 rounds of a create and then a return to the saved world."""
            took = []
            for _ in range(5):
                request(server.base + "/opportunity/", "POST", SEED_BODY, HEADERS)
                began = time.monotonic()
                back()
                took.append(time.monotonic() - began)
            return sum(took) / len(took)

        def restore_file() -> None:
            req = urllib.request.Request(root + "/restore", data=document, method="POST",
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=120).read()

        # Each as a suite uses it: a change, then back to the named snapshot; then the same with the file.
        timings = {"to": after_a_change(lambda: request(root + "/reset?to=bench", "POST", timeout=120)),
                   "file": after_a_change(restore_file)}
        return {"mb": len(document) / 1e6, **{k: seconds * 1000 for k, seconds in timings.items()}}
    finally:
        server.stop()


def fixtures_seconds(count: int = SIZES[-1]) -> float:
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "mock_server", "fixtures", "close", "all", "--count", str(count),
                    "--format", "jsonl", "--out", "/dev/null"], check=True, cwd=ROOT)
    return time.monotonic() - began


def render(rows: list[dict], memory: dict, reset: list[dict], fixtures_s: tuple, startup_s: tuple,
           restores: dict) -> list[str]:
    names = ("GET /opportunity/{id}/", "filtered list page", "valid create")
    out = ["## Cost against stored data", "",
           "One process (bjoern) per store and size, `--seed-data N`; wrk as above, one run each. The filtered",
           "list is `status_id` + `lead_id` + a `date_created` range + `_order_by=-date_created`, 20 a page; it",
           "finds one opportunity at every size (its status, its lead, the second it was created in), so the",
           "figure is the cost of finding it. A SQL store makes an index the first time a filter needs one:",
           "that first page is timed alone, before the load (SQLite makes the index before answering it;",
           "PostgreSQL answers it by a scan and makes the index in the background, without blocking writers:",
           "'index made' is when the index was ready, and the load starts then). These servers share one world cache, so only",
           "the first start at each size makes its world; the table after this one times both cases.",
           "Ratio = req/s at 100,000 ÷ req/s at 1,000 (1.0 = flat; the target is at least 0.67, i.e. within 1.5×).",
           "", "| store | stored | start-up s | first filtered page s | index made s | "
           + " | ".join(f"{n} req/s (p99 ms)" for n in names) + " |",
           "|---|---:|---:|---:|---:|" + "---:|" * len(names)]
    for row in rows:
        cells = [f"{row[n]['rps']:.0f} ({row[n]['p99']:.1f})" for n in names]
        made = f"{row['index made']:.2f}" if "index made" in row else "(with the page)"
        out.append(f"| {row['store']} | {row['size']:,} | {row['startup']:.1f} | {row['first filtered list page']:.2f} | "
                   f"{made} | " + " | ".join(cells) + " |")
    out += ["", "| store | " + " | ".join(f"{n}: 100k ÷ 1k" for n in names) + " |", "|---|" + "---:|" * len(names)]
    for store in dict.fromkeys(r["store"] for r in rows):
        small = next(r for r in rows if r["store"] == store and r["size"] == SIZES[0])
        large = next((r for r in rows if r["store"] == store and r["size"] == SIZES[-1]), None)
        if large:
            out.append(f"| {store} | " + " | ".join(f"{large[n]['rps'] / small[n]['rps']:.2f}" for n in names) + " |")
    out += ["", "With 100,000 opportunities. *Made*: the world cache is empty, so the vendors' rules make the world",
            "(and keep it); *read*: the same world again, read back from the cache (`--world-cache`).", "",
            "| what | made | read |", "|---|---:|---:|",
            f"| start-up to the first answer (memory store, bjoern) | {startup_s[0]:.1f} s | {startup_s[1]:.1f} s |",
            f"| `crm-mock fixtures close all --count 100000` | {fixtures_s[0]:.1f} s | {fixtures_s[1]:.1f} s |",
            f"| `POST /__mock/reset?seed_data=100000` (memory, default server) | {reset[0]['reset_s']:.1f} s "
            f"| {reset[1]['reset_s']:.1f} s |",
            f"| slowest GET by id answered during that reset | {reset[0]['slowest_read_ms']:.0f} ms "
            f"| {reset[1]['slowest_read_ms']:.0f} ms |",
            "", "| what | result |", "|---|---:|",
            f"| RSS with 0 / 100,000 opportunities (memory store) | {memory['rss0']:.0f} / {memory['rss100k']:.0f} MB |",
            f"| memory per stored opportunity (with its activities, leads, contacts; the world read back from the cache) "
            f"| {memory['per_opp_bytes']:,.0f} B |"]
    for store, timing in restores.items():
        out += [f"| {store}, 10,000 opportunities: `POST /__mock/reset?to=NAME` (a named snapshot) | {timing['to']:.0f} ms |",
                f"| {store}, 10,000 opportunities: `POST /__mock/restore` ({timing['mb']:.0f} MB file) | "
                f"{timing['file']:.0f} ms |"]
    out.append("")
    return out


def growth_section(seconds: int, connections: int) -> list[str]:
    fresh_world_cache()
    with postgres_cluster() as pg:
        stores = {"memory": "memory", "sqlite": "sqlite:", **({"postgresql": pg} if pg else {})}
        rows = curve(stores, seconds, connections)
        restores = {"memory": restore_times("memory"),
                    "sqlite": restore_times(f"sqlite:{tempfile.mkdtemp(prefix='crm-mock-restore-')}/store.db")}
    return render(rows, memory_per_opportunity(), reset_under_load(), cold_and_warm(fixtures_seconds),
                  cold_and_warm(startup_seconds), restores)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", default=str(Path(__file__).parent / "GROWTH.md"))
    args = parser.parse_args()
    text = "\n".join(growth_section(args.seconds, args.connections))
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
