"""`crm-mock fixtures`: deterministic, realistic, schema-valid, referentially consistent records."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mock_server import VENDORS, load_spec
from mock_server.fixtures import fixture_resources, generate
from mock_server.serve.cli import main  # the command line itself, as a user runs it


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["fixtures", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_same_seed_gives_byte_identical_output_and_another_seed_does_not():
    first = run("close", "all", "--count", "30", "--seed", "42")
    assert first == run("close", "all", "--count", "30", "--seed", "42")
    assert first != run("close", "all", "--count", "30", "--seed", "43")


@pytest.mark.parametrize("vendor, resource", [
    (vendor, resource) for vendor in VENDORS for resource in fixture_resources(vendor)])
def test_a_thousand_records_validate_against_the_spec(vendor, resource):
    spec = load_spec(vendor)
    _collection, schema = fixture_resources(vendor)[resource]
    validator = spec.validator(spec.component_schema(schema))
    records = generate(vendor, resource, 1000, seed=1)[resource]
    assert records, f"{vendor} {resource}: nothing generated"
    for record in records:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(record)]
        assert not errors, (record, errors)


def test_close_references_resolve_within_one_output():
    world = json.loads(run("close", "all", "--count", "200", "--seed", "5"))
    opportunities = {o["id"]: o for o in world["opportunity"]}
    statuses = {s["id"] for s in world["status"]}
    # 200 made, plus the one seed 003's example names (oppo_fn2k...), which every Close world holds
    assert len(opportunities) == 201 and "oppo_fn2kSFXS06akJ7XisR7vQQeObyK4upCc43RiAx1Vyz6" in opportunities
    assert len(world["status_change"]) > 200  # creation + some moves
    for activity in world["status_change"]:
        assert activity["opportunity_id"] in opportunities
        assert activity["new_status_id"] in statuses
        assert activity["old_status_id"] in statuses | {None}
        assert activity["lead_id"] == opportunities[activity["opportunity_id"]]["lead_id"]
    for opp in opportunities.values():
        assert opp["status_id"] in statuses


def test_close_records_follow_the_derived_field_rules():
    for opp in generate("close", "opportunity", 300, seed=9)["opportunity"]:
        factor = 12 if opp["value_period"] == "monthly" else 1
        assert opp["expected_value"] == round(opp["value"] * opp["confidence"] / 100)
        assert opp["annualized_value"] == opp["value"] * factor
        assert opp["annualized_expected_value"] == opp["expected_value"] * factor
        assert opp["value_formatted"].startswith("$") if opp["value"] else opp["value_formatted"] is None
        assert (opp["date_won"] is not None) == (opp["status_type"] == "won")
        assert opp["lead_name"] and opp["lead_name"] != "Untitled"  # realistic company names


def test_jsonl_and_out_file(tmp_path):
    target = tmp_path / "opps.jsonl"
    run("close", "opportunity", "--count", "25", "--format", "jsonl", "--out", str(target))
    lines = target.read_text().splitlines()
    assert len(lines) == 25 and all(json.loads(line)["id"].startswith("oppo_") for line in lines)


def test_list_shows_every_resource_and_unknown_resource_is_a_usage_error():
    listing = CliRunner().invoke(main, ["fixtures", "--list"])
    assert listing.exit_code == 0
    for vendor in VENDORS:
        for resource in fixture_resources(vendor):
            assert resource in listing.output
    bad = CliRunner().invoke(main, ["fixtures", "close", "unicorns"])
    assert bad.exit_code == 2 and "choose from" in bad.output
    one = CliRunner().invoke(main, ["fixtures", "nexudus", "--list"])  # a vendor named: its resources only
    assert one.exit_code == 0 and "crmboardcolumn" in one.output and "status_change" not in one.output


def test_nexudus_history_points_at_columns_and_chains_per_opportunity():
    world = json.loads(run("nexudus", "all", "--count", "120", "--seed", "3"))
    columns = {c["Id"]: c for c in world["crmboardcolumn"]}
    last_column: dict[int, int] = {}
    for entry in sorted(world["crmopportunityhistory"], key=lambda e: e["ToTime"]):
        assert entry["NewCrmBoardColumnId"] in columns
        assert entry["NewCrmBoardColumnName"] == columns[entry["NewCrmBoardColumnId"]]["Name"]
        assert entry["OldCrmBoardColumnId"] == last_column.get(entry["CrmOpportunityId"])  # chained old -> new
        last_column[entry["CrmOpportunityId"]] = entry["NewCrmBoardColumnId"]


def test_sprinthub_opportunities_embed_the_lead_and_company_of_the_same_output():
    world = json.loads(run("sprinthub", "all", "--count", "60", "--seed", "3", "--format", "json"))
    leads = {lead["id"]: lead for lead in world["lead"]}
    companies = {c["id"]: c for c in world["company"]}
    for opp in world["opportunity"]:
        assert opp["dataLead"] == leads[opp["lead_id"]]
        company = leads[opp["lead_id"]]["company"]
        assert opp["dataCompany"] == (companies[company] if company else None)
        assert "funnel_id" not in opp  # bookkeeping stays out of fixtures


def test_asking_for_more_of_a_fixed_kind_than_exists_says_so_and_fails():
    result = CliRunner().invoke(main, ["fixtures", "sprinthub", "lead", "--count", "100"])  # click 8.2: stdout and stderr apart
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)) == 15  # all there are
    assert "has 15 lead record(s), fewer than the 100 asked for" in result.stderr
