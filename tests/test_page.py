"""The page at /__mock/, in a real headless Chromium: a request just sent appears in the journal,
an override shows its hits, records are listed. Skipped only where no Chromium is installed, and
then it says so loudly; `make test` installs one (Debian's `chromium`)."""
from __future__ import annotations

import shutil

import pytest
import requests

from tests.test_served_over_http import start

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="LOUD SKIP: playwright is not installed, "
                                 "so the /__mock/ page is untested here (make test installs it)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="LOUD SKIP: no chromium on PATH, so the /__mock/ page is "
                                "untested here (make test installs Debian's chromium)")
# As the probe that checked this image does: no sandbox as root, nothing that phones home.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def test_the_page_shows_a_request_just_sent_and_an_overrides_hits():
    process, port = start("--admin-key", "page-admin")
    url = f"http://127.0.0.1:{port}"
    admin = {"X-Crm-Mock-Admin-Key": "page-admin"}
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(f"{url}/__mock/?key=page-admin")
            requests.post(f"{url}/__mock/overrides", headers=admin, timeout=10,
                          json={"match": {"operation": "listOpportunityStatuses"}, "fault": {"latency_ms": 1}})
            response = requests.get(f"{url}/close/api/v1/status/opportunity/", headers={"Authorization": "Bearer x"},
                                    timeout=10)
            assert response.status_code == 200
            row = page.locator('#requests tr[data-operation="listOpportunityStatuses"]')
            row.first.wait_for(timeout=10_000)
            assert "200" in row.first.inner_text()
            hits = page.locator("#overrides tr[data-id] td").nth(4)
            page.wait_for_function("document.querySelector('#overrides tr[data-id] td:nth-child(5)')"
                                   "?.textContent === '1'", timeout=10_000)
            assert hits.inner_text() == "1"
            page.fill("#filter", "nexudus")  # the filter hides the Close request
            page.wait_for_function("!document.querySelector('#requests tr[data-operation]')", timeout=10_000)
            # only the seeded one (seed 003's example opportunity) is stored
            assert page.locator("#records tr", has_text="close.opportunities").inner_text().split()[-1] == "1"
            assert page.locator("#records a", has_text="close.statuses").count() == 1
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
