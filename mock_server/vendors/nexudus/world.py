"""The seeded world: admin users, the sales board and its columns, opportunities and their stage moves."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mock_server.fakes import faker_for
from mock_server.vendors.base import Vendor
from mock_server.vendors.nexudus.formats import next_id, nexudus_datetime
from mock_server.vendors.nexudus.moves import follow_history, history_entry
from mock_server.vendors.nexudus.opportunities import new_opportunity

# The seeded board, in Position order: (Name, WinOpportunity, LoseOpportunity).
BOARD_COLUMNS = (("New", False, False), ("Contacted", False, False), ("Proposal", False, False),
                 ("Won", True, False), ("Lost", False, True))
OPEN_STAGES = 3  # New, Contacted, Proposal; then Won or Lost close the journey
PRODUCTS = ("Hot desk membership", "Dedicated desk", "Private office", "Meeting room package",
            "Virtual office", "Event space hire")
SEED_WINDOW = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 11, 30, tzinfo=UTC))
COWORKERS, COWORKER_STREAM = 8, 1_000_003  # customers seeded, and the offset of their Faker seed
BOARD_CREATED = (datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 12, 31, tzinfo=UTC))


def seed(vendor: Vendor, count: int) -> None:
    """Three admin users, the board, the coworkers (customers) and `count` history entries (stage moves)."""
    fake = faker_for("en_GB", vendor.seed)
    vendor._static.clear()
    with vendor.store.transaction():
        users = _seed_users(vendor, fake)
        columns = _seed_board(vendor, fake, users[0])
        coworkers = _seed_coworkers(vendor)
        opportunities = [_seed_opportunity(vendor, fake, columns[0], coworkers) for _ in range(3)]
        moves = _seed_moves(vendor, fake, count, columns, users + [None], opportunities, coworkers)
        # Ids in time order, as Nexudus writes one history entry per move as it happens.
        for body, found in sorted(moves, key=lambda move: move[0]["ToTime"]):
            user = found["UserId"]
            by = user and user["Email"]
            record = history_entry(vendor, body, found, body["ToTime"], by)
            vendor.store.insert(vendor.collection("crmopportunityhistories"), record["Id"], record)
            if body["OldCrmBoardColumnId"] is None:  # its first placement: when the opportunity was made
                made = vendor.store.get(vendor.collection("crmopportunities"), body["CrmOpportunityId"])
                vendor.store.replace(vendor.collection("crmopportunities"), made["Id"],
                                     {**made, "CreatedOn": body["ToTime"], "UpdatedOn": body["ToTime"], "UpdatedBy": by})
            follow_history(vendor, body["CrmOpportunityId"], body["ToTime"], by)


def _seed_users(vendor: Vendor, fake) -> list[dict]:
    domain = fake.domain_name()
    users = []
    for _ in range(3):
        first, last = fake.first_name(), fake.last_name()
        local = re.sub(r"[^a-z0-9.]", "", f"{first}.{last}".lower())
        user = {"Id": next_id(vendor, "users"), "FullName": f"{first} {last}", "Email": f"{local}@{domain}"}
        vendor.store.insert(vendor.collection("users"), user["Id"], user)
        users.append(user)
    return users


def _seed_board(vendor: Vendor, fake, admin: dict) -> list[dict]:
    board = {"Id": next_id(vendor, "crmboards"), "Name": "Sales pipeline"}
    vendor.store.insert(vendor.collection("crmboards"), board["Id"], board)
    created = nexudus_datetime(fake.date_time_between(*BOARD_CREATED, tzinfo=UTC))
    columns = []
    for position, (name, win, lose) in enumerate(BOARD_COLUMNS):
        column = {
            "Id": next_id(vendor, "crmboardcolumns"), "UniqueId": vendor.ids.guid(vendor.collection("crmboardcolumns")),
            "CreatedOn": created, "UpdatedOn": created, "UpdatedBy": admin["Email"], "IsNew": False,
            "SystemId": None, "CrmBoardId": board["Id"], "Name": name, "Position": position,
            "WinOpportunity": win, "LoseOpportunity": lose,
        }
        vendor.store.insert(vendor.collection("crmboardcolumns"), column["Id"], column)
        columns.append(column)
    return columns


def _seed_coworkers(vendor: Vendor) -> list[dict]:
    """The customers opportunities are for. Their own Faker stream, so adding them left the rest
    of a seeded world (names, times, Ids) as it was."""
    fake = faker_for("en_GB", vendor.seed + COWORKER_STREAM)
    coworkers = []
    for _ in range(COWORKERS):
        first, last, company = fake.first_name(), fake.last_name(), fake.company()
        local = re.sub(r"[^a-z0-9.]", "", f"{first}.{last}".lower())
        coworker = {"Id": next_id(vendor, "coworkers"), "FullName": f"{first} {last}",
                    "Email": f"{local}@{fake.free_email_domain()}", "CompanyName": company}
        vendor.store.insert(vendor.collection("coworkers"), coworker["Id"], coworker)
        coworkers.append(coworker)
    return coworkers


def _seed_opportunity(vendor: Vendor, fake, first_stage: dict, coworkers: list[dict]) -> dict:
    """An opportunity in the board's first stage; its history moves it on (world.seed)."""
    key = next_id(vendor, "crmopportunities")
    name = f"{fake.company()} - {fake.random_element(PRODUCTS)}"
    coworker = coworkers[key % len(coworkers)]
    opportunity = new_opportunity(vendor, key, name, first_stage, coworker, nexudus_datetime(SEED_WINDOW[0]), None)
    vendor.store.insert(vendor.collection("crmopportunities"), opportunity["Id"], opportunity)
    return opportunity


def _seed_moves(vendor: Vendor, fake, count: int, columns: list[dict], movers: list, opportunities: list[dict],
                coworkers: list[dict]) -> list:
    """`count` stage moves: each opportunity starts in "New" and walks the board, chained old → new."""
    moves: list[tuple[dict, dict]] = []
    pending = list(opportunities)
    while len(moves) < count:
        opportunity = pending.pop(0) if pending else _seed_opportunity(vendor, fake, columns[0], coworkers)
        when = fake.date_time_between(*SEED_WINDOW, tzinfo=UTC)
        previous, entered = None, None
        for column in _journey(fake, columns)[:count - len(moves)]:
            body = {"CrmOpportunityId": opportunity["Id"], "NewCrmBoardColumnId": column["Id"],
                    "OldCrmBoardColumnId": previous and previous["Id"],
                    "FromTime": entered and nexudus_datetime(entered), "ToTime": nexudus_datetime(when)}
            user = fake.random_element(movers)
            body["UserId"] = user and user["Id"]
            found = {"NewCrmBoardColumnId": column, "OldCrmBoardColumnId": previous, "UserId": user}
            moves.append((body, found))
            previous, entered = column, when
            when += timedelta(hours=fake.random_int(4, 24 * 10), minutes=fake.random_int(0, 59))
    return moves


def _journey(fake, columns: list[dict]) -> list[dict]:
    """The stages one opportunity visits: some open stages, then maybe Won or Lost."""
    reached = fake.random_int(1, OPEN_STAGES)
    path = columns[:reached]
    if fake.boolean():
        won, lost = columns[OPEN_STAGES], columns[OPEN_STAGES + 1]
        path.append(won if reached == OPEN_STAGES and fake.boolean(70) else lost)
    return path
