"""Nexudus (spaces.nexudus.com/api): CRM opportunity stage history, board columns, bearer tokens.

Everything Nexudus-specific lives here: the `ActionResult` envelope, the validation envelope with
"PropertyName: message" summaries, paged list envelopes, large integer Ids, `2025-01-15T10:30:00Z`
timestamps, and the OAuth2 token endpoint whose errors use RFC 6749 bodies.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone

from mock_server.identity import Principal
from mock_server.fakes import faker_for
from mock_server.ids import token
from mock_server.problems import MISSING, MockError, Problem, not_found, validation_failed
from mock_server.store import Query
from mock_server.timefmt import iso_utc, parse_utc
from mock_server.vendors.base import Call, Reply, Vendor, operation
from mock_server.vendors.nexudus.live import LIVE

HISTORY = "CrmOpportunityHistory"
DENIED = "Authorization has been denied for this request."
THROTTLED = "You must wait before accessing this url again."
REQUIRED = "is a required field"  # the seed's wording; Message reads "NewCrmBoardColumnId: is a required field"
TOKEN_LIFETIME = 604799  # seconds, as Nexudus answers
FALLBACK_EMAIL = "api.user@example.com"  # a keys-file user without an email still needs an UpdatedBy

# Start of each Id sequence: Nexudus Ids are large integers (the seed's history Id is 87654321).
# Where the spec's examples point (board 12, columns 300-302, user 5521, opportunity 1204567), so
# a request copied from the docs resolves against the seeded world.
ID_STARTS = {"crmboards": 12, "crmboardcolumns": 300, "users": 5521,
             "crmopportunities": 1204567, "crmopportunityhistories": 87654321}
# The seeded board, in Position order: (Name, WinOpportunity, LoseOpportunity).
BOARD_COLUMNS = (("New", False, False), ("Contacted", False, False), ("Proposal", False, False),
                 ("Won", True, False), ("Lost", False, True))
OPEN_STAGES = 3  # New, Contacted, Proposal; then Won or Lost close the journey
PRODUCTS = ("Hot desk membership", "Dedicated desk", "Private office", "Meeting room package",
            "Virtual office", "Event space hire")
SEED_WINDOW = (datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 11, 30, tzinfo=timezone.utc))
BOARD_CREATED = (datetime(2023, 1, 1, tzinfo=timezone.utc), datetime(2023, 12, 31, tzinfo=timezone.utc))

# (body field, collection, entity name): references create/update must resolve.
REFERENCES = (("NewCrmBoardColumnId", "crmboardcolumns", "CrmBoardColumn"),
              ("OldCrmBoardColumnId", "crmboardcolumns", "CrmBoardColumn"),
              ("CrmOpportunityId", "crmopportunities", "CrmOpportunity"),
              ("UserId", "users", "User"))
# List filters: `Entity_Field` equality parameters and `from_X`/`to_X` date ranges → record fields.
HISTORY_FILTERS = {"CrmOpportunityHistory_CrmOpportunity": "CrmOpportunityId",
                   "CrmOpportunityHistory_OldCrmBoardColumn": "OldCrmBoardColumnId",
                   "CrmOpportunityHistory_NewCrmBoardColumn": "NewCrmBoardColumnId",
                   "CrmOpportunityHistory_User": "UserId"}
HISTORY_RANGES = {"CrmOpportunityHistory_CreatedOn": "CreatedOn", "CrmOpportunityHistory_ToTime": "ToTime"}
COLUMN_FILTERS = {"CrmBoardColumn_CrmBoard": "CrmBoardId"}
OAUTH_ERRORS = ("invalid_grant", "unsupported_grant_type", "invalid_request")


def nexudus_datetime(moment: datetime) -> str:
    """Nexudus writes `2025-01-15T10:30:00Z`: UTC, whole seconds."""
    return iso_utc(moment, "seconds") + "Z"


def normalized(text: str | None, field: str) -> str | None:
    """Stored times are in one format, so string order is time order for sorting and ranges."""
    return None if text is None else nexudus_datetime(parse_utc(text, field))


def oauth_error(kind: str, description: str) -> MockError:
    return MockError(400, kind, description)


def principal_of(user: dict, roles, credentials: dict | None = None) -> Principal:
    """A principal from a stored token or keys-file entry; roles None means a full administrator."""
    return Principal(user=dict(user), roles=None if roles is None else frozenset(roles), credentials=credentials or {})


class Nexudus(Vendor):
    name = "nexudus"
    LIVE = LIVE
    FIXTURES = {
        "crmopportunityhistory": ("crmopportunityhistories", "CrmOpportunityHistory"),
        "crmboardcolumn": ("crmboardcolumns", "CrmBoardColumn"),
    }
    STATIC_COLLECTIONS = frozenset({"users", "crmboardcolumns"})

    # -- world -------------------------------------------------------------------------------------
    def seed_world(self, count: int) -> None:
        fake = faker_for("en_GB", self.seed)
        self._static.clear()
        with self.store.transaction():
            users = self._seed_users(fake)
            columns = self._seed_board(fake, users[0])
            opportunities = [self._seed_opportunity(fake) for _ in range(3)]
            moves = self._seed_moves(fake, count, columns, users + [None], opportunities)
            # Ids in time order, as Nexudus writes one history entry per move as it happens.
            for body, found in sorted(moves, key=lambda move: move[0]["ToTime"]):
                user = found["UserId"]
                entry = self._entry(body, found, body["ToTime"], user and user["Email"])
                self.store.insert(self.collection("crmopportunityhistories"), entry["Id"], entry)

    def _next_id(self, kind: str) -> int:
        return self.ids.integer(self.collection(kind), ID_STARTS[kind])

    def _seed_users(self, fake) -> list[dict]:
        domain = fake.domain_name()
        users = []
        for _ in range(3):
            first, last = fake.first_name(), fake.last_name()
            local = re.sub(r"[^a-z0-9.]", "", f"{first}.{last}".lower())
            user = {"Id": self._next_id("users"), "FullName": f"{first} {last}", "Email": f"{local}@{domain}"}
            self.store.insert(self.collection("users"), user["Id"], user)
            users.append(user)
        return users

    def _seed_board(self, fake, admin: dict) -> list[dict]:
        board = {"Id": self._next_id("crmboards"), "Name": "Sales pipeline"}
        self.store.insert(self.collection("crmboards"), board["Id"], board)
        created = nexudus_datetime(fake.date_time_between(*BOARD_CREATED, tzinfo=timezone.utc))
        columns = []
        for position, (name, win, lose) in enumerate(BOARD_COLUMNS):
            column = {
                "Id": self._next_id("crmboardcolumns"), "UniqueId": self.ids.guid(self.collection("crmboardcolumns")),
                "CreatedOn": created, "UpdatedOn": created, "UpdatedBy": admin["Email"], "IsNew": False,
                "SystemId": None, "CrmBoardId": board["Id"], "Name": name, "Position": position,
                "WinOpportunity": win, "LoseOpportunity": lose,
            }
            self.store.insert(self.collection("crmboardcolumns"), column["Id"], column)
            columns.append(column)
        return columns

    def _seed_opportunity(self, fake) -> dict:
        opportunity = {"Id": self._next_id("crmopportunities"),
                       "Name": f"{fake.company()} - {fake.random_element(PRODUCTS)}"}
        self.store.insert(self.collection("crmopportunities"), opportunity["Id"], opportunity)
        return opportunity

    def _seed_moves(self, fake, count: int, columns: list[dict], movers: list, opportunities: list[dict]) -> list:
        """`count` stage moves: each opportunity starts in "New" and walks the board, chained old → new."""
        moves = []
        pending = list(opportunities)
        while len(moves) < count:
            opportunity = pending.pop(0) if pending else self._seed_opportunity(fake)
            when = fake.date_time_between(*SEED_WINDOW, tzinfo=timezone.utc)
            previous, entered = None, None
            for column in self._journey(fake, columns)[:count - len(moves)]:
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

    @staticmethod
    def _journey(fake, columns: list[dict]) -> list[dict]:
        """The stages one opportunity visits: some open stages, then maybe Won or Lost."""
        reached = fake.random_int(1, OPEN_STAGES)
        path = columns[:reached]
        if fake.boolean():
            won, lost = columns[OPEN_STAGES], columns[OPEN_STAGES + 1]
            path.append(won if reached == OPEN_STAGES and fake.boolean(70) else lost)
        return path

    def default_principal(self, credentials: dict) -> Principal:
        """Zero config: the first seeded admin, a full unrestricted administrator (every role)."""
        first = self.first("users")  # seeded first: the lowest Id
        return Principal(user=first, roles=None, credentials=credentials)

    @staticmethod
    def actor_email(principal: Principal) -> str:
        """UpdatedBy is the caller's email; keys-file users may spell the key in lower case."""
        user = principal.user
        return user.get("Email") or user.get("email") or FALLBACK_EMAIL

    # -- errors ------------------------------------------------------------------------------------
    def error_reply(self, error: MockError, op) -> Reply:
        if op is not None and op.operation_id == "issueToken" and error.status in (400, 415):
            return self._oauth_reply(error)  # the spec gives the token endpoint no 415: JSON is a bad grant
        if error.reason == "validation":
            return Reply(400, self._failure([self._validation_error(p) for p in error.problems]))
        if error.reason == "malformed":
            return Reply(400, self._failure([], error.message))
        if error.reason == "not_found":
            return Reply(404, self._failure([], f"{error.resource} not found."))
        if error.reason in ("unauthorized", "forbidden"):
            return Reply(error.status, {"Message": DENIED})  # ASP.NET's wording for both
        if error.reason == "rate_limited":
            return Reply(409, {"Message": THROTTLED})  # with the error's Retry-After
        return Reply(error.status, {"Message": error.message})

    @staticmethod
    def _failure(errors: list[dict], message: str = "") -> dict:
        """The validation envelope; its Message summarises the first error, as the spec says."""
        if not message and errors:
            first = errors[0]
            message = f"{first['PropertyName']}: {first['Message']}" if first["PropertyName"] else first["Message"]
        return {"Message": message, "Value": None, "Errors": errors, "WasSuccessful": False}

    @staticmethod
    def _validation_error(problem: Problem) -> dict:
        value = None if problem.value is MISSING else problem.value
        message = problem.message
        # A null or missing value for a required field reads as missing in Nexudus, not as a type error.
        if problem.kind == "required" or (problem.kind == "type" and value is None):
            message = REQUIRED
        elif problem.kind == "type" and problem.field:
            shown = value if isinstance(value, str) else json.dumps(value)
            message = f"The value '{shown}' is not valid for {problem.field}."
        return {"AttemptedValue": value, "Message": message, "PropertyName": problem.field}

    @staticmethod
    def _oauth_reply(error: MockError) -> Reply:
        """Every 400 of the token endpoint is an RFC 6749 body; a JSON body is not even read."""
        if error.reason in OAUTH_ERRORS:
            kind, description = error.reason, error.message
        elif error.reason == "validation" and all(p.field != "grant_type" for p in error.problems):
            kind, description = "invalid_request", error.message
        else:
            kind, description = "unsupported_grant_type", "The grant_type parameter is missing or not supported."
        return Reply(400, {"error": kind, "error_description": description})

    # -- tokens ------------------------------------------------------------------------------------
    def lookup_principal(self, scheme: str, value: str) -> Principal | None:
        """Bearer tokens this endpoint issued, accepted even when a keys file is configured."""
        if self.spec.security_schemes.get(scheme, {}).get("type") != "oauth2":
            return None
        issued = self.store.get(self.collection("tokens"), value)
        if issued is None:
            return None
        return principal_of(issued["user"], issued["roles"], {scheme: value})

    def _password_principal(self, username: str, password: str) -> Principal | None:
        """Zero config accepts any user name and password; a keys file only its BasicAuth pairs."""
        if not self.keys:
            return self.default_principal({})
        entry = self.keys.match({"BasicAuth": f"{username}:{password}"})
        return entry.principal() if entry else None

    def _grant(self, principal: Principal, client_id: str) -> Reply:
        n = self.store.next_value(self.collection("tokens"))
        issued = {
            "access_token": token(self.seed, "nexudus.access", n, 32),
            "refresh_token": token(self.seed, "nexudus.refresh", n, 20),
            "client_id": client_id,
            "user": principal.user,
            "roles": None if principal.roles is None else sorted(principal.roles),
        }
        self.store.insert(self.collection("tokens"), issued["access_token"], issued)
        return Reply(200, {"access_token": issued["access_token"], "token_type": "bearer",
                           "expires_in": TOKEN_LIFETIME, "refresh_token": issued["refresh_token"]})

    @operation("issueToken")
    def issue_token(self, call: Call) -> Reply:
        form = call.body
        client_id = call.headers.get("client_id") if call.headers else None
        if form["grant_type"] == "refresh_token":
            return self._refresh(form.get("refresh_token"), client_id)
        username, password = form.get("username"), form.get("password")
        if not username or not password:
            raise oauth_error("invalid_request", "The username and password parameters are required.")
        principal = self._password_principal(username, password)
        if principal is None:
            raise oauth_error("invalid_grant", "The user name or password is incorrect.")
        return self._grant(principal, client_id or username)

    def _refresh(self, refresh_token: str | None, client_id: str | None) -> Reply:
        """A refresh token is used once: the old pair is revoked and a new pair issued."""
        if not refresh_token:
            raise oauth_error("invalid_request", "The refresh_token parameter is required.")
        with self.store.transaction():
            where = [("refresh_token", "eq", refresh_token)]
            rows, _ = self.store.query(self.collection("tokens"), Query(where, limit=1))
            issued = rows[0] if rows else None
            if issued is None or (client_id and client_id != issued["client_id"]):
                raise oauth_error("invalid_grant", "The refresh token is invalid or was issued to another client.")
            self.store.delete(self.collection("tokens"), issued["access_token"])
            return self._grant(principal_of(issued["user"], issued["roles"]), issued["client_id"])

    # -- opportunity history -----------------------------------------------------------------------
    def _history(self, key: int) -> dict:
        record = self.store.get(self.collection("crmopportunityhistories"), key)
        if record is None:
            raise not_found(HISTORY)
        return record

    def _references(self, body: dict) -> dict:
        """Look up every referenced record; unknown ones are a 400 with one entry per property."""
        problems, found = [], {}
        for field, kind, entity in REFERENCES:
            value = body.get(field)
            if value is None:
                continue
            found[field] = self.lookup(kind, value)
            if found[field] is None:
                problems.append(Problem(field, "not_found", f"does not match an existing {entity}", value))
        if problems:
            raise validation_failed(problems)
        return found

    def _entry(self, body: dict, found: dict, when: str, by: str | None, current: dict | None = None) -> dict:
        """The stored record: the body's writable fields (absent ones null) plus the resolved names."""
        old, new, user = found.get("OldCrmBoardColumnId"), found["NewCrmBoardColumnId"], found.get("UserId")
        kept = current or {
            "Id": self._next_id("crmopportunityhistories"),
            "UniqueId": self.ids.guid(self.collection("crmopportunityhistories")),
            "CreatedOn": when, "SystemId": None,
        }
        return {  # keys in the spec's order
            "Id": kept["Id"], "UniqueId": kept["UniqueId"], "CreatedOn": kept["CreatedOn"],
            "UpdatedOn": when, "UpdatedBy": by, "IsNew": False, "SystemId": kept["SystemId"],
            "CrmOpportunityId": body.get("CrmOpportunityId"),
            "OldCrmBoardColumnId": old and old["Id"], "OldCrmBoardColumnName": old and old["Name"],
            "NewCrmBoardColumnId": new["Id"], "NewCrmBoardColumnName": new["Name"],
            "FromTime": normalized(body.get("FromTime"), "FromTime"),
            "ToTime": normalized(body.get("ToTime"), "ToTime"),
            "UserId": user and user["Id"], "UserFullName": user and user["FullName"],
        }

    def _action_result(self, verb: str, record_id: int, when: str, by: str) -> Reply:
        return Reply(200, {
            "Status": 200, "Message": f"{HISTORY} was successfully {verb}.", "Value": {"Id": record_id},
            "OpenInDialog": False, "OpenInWindow": False, "RedirectURL": None, "JavaScript": None,
            "UpdatedOn": when, "UpdatedBy": by, "Errors": None, "WasSuccessful": True,
        })

    def _save(self, call: Call, verb: str, update: bool) -> Reply:
        """Create, or update the whole record named by the body's Id, in one transaction."""
        body, by = call.body, self.actor_email(call.principal)
        with self.store.transaction():
            current = self._history(body["Id"]) if update else None  # read inside: workers share SQLite
            found = self._references(body)
            when = nexudus_datetime(self.store.now())
            record = self._entry(body, found, when, by, current=current)
            if current is None:
                self.store.insert(self.collection("crmopportunityhistories"), record["Id"], record)
            else:
                self.store.replace(self.collection("crmopportunityhistories"), record["Id"], record)
        return self._action_result(verb, record["Id"], when, by)

    @operation("createCrmOpportunityHistory")
    def create_history(self, call: Call) -> Reply:
        return self._save(call, "created", update=False)

    @operation("updateCrmOpportunityHistory")
    def update_history(self, call: Call) -> Reply:
        return self._save(call, "updated", update=True)

    @operation("getCrmOpportunityHistory")
    def get_history(self, call: Call) -> Reply:
        return Reply(200, self._history(call.path["id"]))

    @operation("deleteCrmOpportunityHistory")
    def delete_history(self, call: Call) -> Reply:
        if not self.store.delete(self.collection("crmopportunityhistories"), call.path["id"]):
            raise not_found(HISTORY)
        return self._action_result("deleted", call.path["id"], nexudus_datetime(self.store.now()),
                                   self.actor_email(call.principal))

    @operation("listCrmOpportunityHistories")
    def list_histories(self, call: Call) -> Reply:
        return self._page("crmopportunityhistories", call.query, HISTORY_FILTERS, HISTORY_RANGES)

    # -- board columns -----------------------------------------------------------------------------
    @operation("listCrmBoardColumns")
    def list_columns(self, call: Call) -> Reply:
        return self._page("crmboardcolumns", call.query, COLUMN_FILTERS, {})

    # -- lists -------------------------------------------------------------------------------------
    def _page(self, kind: str, q: dict, filters: dict, ranges: dict) -> Reply:
        """One page in the Nexudus list envelope; FirstItem/LastItem are 1-based, 0 when empty."""
        where = [(field, "eq", q[name]) for name, field in filters.items() if name in q]
        for name, field in ranges.items():
            for prefix, op in (("from_", "gte"), ("to_", "lte")):
                if prefix + name in q:
                    where.append((field, op, normalized(q[prefix + name], prefix + name)))
        page, size, order_field, direction = q["page"], q["size"], q["orderBy"], q["dir"]
        descending = direction == "Descending"
        order = [(order_field, descending)] + ([("Id", descending)] if order_field != "Id" else [])
        offset = (page - 1) * size
        rows, total = self.store.page(self.collection(kind), Query(where, order, offset, size))
        pages = math.ceil(total / size)
        return Reply(200, {
            "Records": rows, "CurrentPage": page, "CurrentPageSize": size,
            "CurrentOrderField": order_field, "CurrentSortDirection": direction,
            "FirstItem": offset + 1 if rows else 0, "LastItem": offset + len(rows) if rows else 0,
            "TotalItems": total, "TotalPages": pages,
            "HasNextPage": page < pages, "HasPreviousPage": page > 1,
        })
