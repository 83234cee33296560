"""SprintHub, round 2 of fidelity (issue 14): instances are separate accounts, no create field is
required (seed 001's table), and the spec's example request works as written. Every store."""
from __future__ import annotations

import pytest

from mock_server import load_spec
from tests.conftest import SPRINTHUB_AUTH
from tests.test_sprinthub import QUERY, conforms

SPEC = load_spec("sprinthub")


@pytest.fixture
def sprinthub(make_client):
    return make_client("sprinthub", strict=True)


def stored(client) -> dict[int, dict]:
    return {r["id"]: r for r in client.get("/__mock/records/sprinthub.opportunities").get_json()["records"]}


def test_another_instance_cannot_update_an_opportunity(sprinthub):
    made = conforms(sprinthub.post(f"/crmopportunity?{QUERY}", json={"title": "acme's", "lead_id": 8473},
                                   headers=SPRINTHUB_AUTH), "createOpportunity")
    before = stored(sprinthub)[made["id"]]
    other = sprinthub.put(f"/crmopportunity/{made['id']}?id=12&i=other", json={"title": "stolen"},
                          headers=SPRINTHUB_AUTH)
    assert other.status_code == 400 and conforms(other, "updateOpportunity") == {"error": "Invalid request"}
    assert stored(sprinthub)[made["id"]] == before  # untouched
    mine = sprinthub.put(f"/crmopportunity/{made['id']}?{QUERY}", json={"title": "renamed"}, headers=SPRINTHUB_AUTH)
    assert conforms(mine, "updateOpportunity")["data"]["title"] == "renamed"
    reason = sprinthub.get("/__mock/requests").get_json()["requests"][-2]["problems"][0]["message"]
    assert "instance 'other'" in reason  # the journal says why behind the bare answer


def test_no_create_field_is_required(sprinthub):
    made = conforms(sprinthub.post(f"/crmopportunity?{QUERY}", json={}, headers=SPRINTHUB_AUTH), "createOpportunity")
    assert (made["title"], made["lead_id"], made["dataLead"], made["status"]) == ("", None, None, "open")
    assert made["crm_column"] == 159  # the funnel's first column
    titled = conforms(sprinthub.post(f"/crmopportunity?{QUERY}", json={"title": "No lead yet"}, headers=SPRINTHUB_AUTH),
                      "createOpportunity")
    assert titled["title"] == "No lead yet" and titled["lead_id"] is None


def test_the_specs_example_request_works_as_written(sprinthub):
    """Funnel 12, column 159 and lead 8473, as the spec's examples name them, are in the seeded world."""
    funnel = SPEC.document["components"]["parameters"]["FunnelId"]["example"]
    body = SPEC.document["paths"]["/crmopportunity"]["post"]["requestBody"]["content"]["application/json"]
    example = body["example"]
    made = conforms(sprinthub.post(f"/crmopportunity?id={funnel}&i=acme", json=example, headers=SPRINTHUB_AUTH),
                    "createOpportunity")
    assert (funnel, made["crm_column"], made["lead_id"]) == (12, 159, 8473)
