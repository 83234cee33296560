"""SprintHub (sprinthub-api-master.sprinthub.app): CRM opportunities in a funnel, with their lead.

Everything SprintHub-specific lives here: its two error shapes (`{"msg"}` for create and auth,
`{"error": "Invalid request"}` for update), its integer IDs and JavaScript timestamps, the lead and
company embedded in every opportunity, and the dates it stamps when an opportunity changes status
or column.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime, timedelta, timezone

from faker import Faker

from mock_server.identity import Principal
from mock_server.fakes import faker_for
from mock_server.problems import MockError, Problem, validation_failed
from mock_server.timefmt import iso_utc, parse_utc
from mock_server.vendors.base import Call, Reply, Vendor, operation
from mock_server.vendors.sprinthub.live import LIVE

# First IDs as in the seed's example: opportunity 4534, lead 8473, company 2582, column 159, user 156.
FIRST_ID = {"funnels": 1, "columns": 159, "users": 156, "companies": 2582, "leads": 8473, "opportunities": 4534}
COLUMN_NAMES = ("Prospecção", "Qualificação", "Proposta", "Negociação", "Fechamento")
WORLD_SIZE = {"users": 3, "companies": 6, "leads": 15}
# Seeded records are dated inside this window (Faker-drawn), never by the wall clock.
WORLD_START = datetime(2023, 1, 1, tzinfo=timezone.utc)
WORLD_END = datetime(2024, 3, 1, tzinfo=timezone.utc)

INPUT_FIELDS = ("title", "value", "crm_column", "lead_id", "sequence", "status", "expectedCloseDate", "user")
STATUS_DATE = {"gain": "gain_date", "lost": "lost_date", "open": "reopen_date"}  # stamped on entering a status
INTERNAL_FIELDS = ("funnel_id", "instance")  # stored with an opportunity, never answered
UPDATED = "The opportunity has been updated."
INVALID_REQUEST = "Invalid request"  # the update's one documented error text
# The spec documents 200/400/401/413/415 only: refusals SprintHub has no status for fold into those.
FOLDED_STATUS = {"not_found": 400, "forbidden": 401, "rate_limited": 401}
TOO_MANY_REQUESTS = "Too many requests, please try again later."  # VENDOR-NOTES: a 401, not a 429
QUERY_LABELS = {"id": "id (funnel ID, query)", "i": "i (instance, query)"}

INDUSTRIES = ("Tecnologia", "Varejo", "Alimentação", "Saúde", "Educação", "Construção", "Logística")
CHANNELS = ("Site", "Indicação", "Instagram", "Google Ads", "Evento")
DEPARTMENTS = ("Comercial", "Financeiro", "TI", "Marketing", "Diretoria")
PAINS = ("Processo de vendas manual", "Baixa conversão de leads", "Falta de visibilidade do funil")
AREA_CODES = (11, 19, 21, 31, 41, 47, 48, 51, 61, 62, 71, 81, 85, 91)  # Brazilian DDDs
PRODUCTS = ("Implantação CRM", "Licença anual", "Consultoria", "Treinamento", "Integração WhatsApp")


def js_datetime(moment: datetime) -> str:
    """SprintHub (Node) writes `2024-03-19T21:14:35.000Z`: UTC, milliseconds."""
    return iso_utc(moment, "milliseconds") + "Z"


def object_id(seed: int, kind: str, n: int, created: datetime) -> str:
    """A MongoDB-style `_id`: 8 hex digits of creation time (as in the seed's), then 16 of hash."""
    tail = hashlib.blake2b(f"{seed}/{kind}/{n}".encode(), digest_size=8).hexdigest()
    return f"{int(created.timestamp()):08x}{tail}"


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def company_domain(name: str) -> str:
    """`das Neves Brito e Filhos` → `neves.com.br`: the first capitalised word of the name."""
    word = next((w for w in name.split() if w[:1].isupper()), name)
    return f"{ascii_slug(word) or 'empresa'}.com.br"


def public(record: dict) -> dict:
    """An opportunity as answered: without the bookkeeping crm-mock keeps next to it."""
    return {k: v for k, v in record.items() if k not in INTERNAL_FIELDS}


def blank_opportunity(opp_id: int, stamp: str) -> dict:
    """A new opportunity with SprintHub's defaults, keys in the order of the seed's answer."""
    return {
        "id": opp_id, "title": "", "value": 0, "crm_column": None, "lead_id": None, "sequence": None,
        "status": "open", "loss_reason": None, "gain_reason": None, "expectedCloseDate": None,
        "sale_channel": None, "campaign": None, "user": None,
        "last_column_change": None, "last_status_change": None,
        "gain_date": None, "lost_date": None, "reopen_date": None,
        "await_column_approved": None, "await_column_approved_user": None,
        "reject_appro": None, "reject_appro_desc": None,
        "createDate": stamp, "updateDate": stamp,
        "sprint_permission": "all", "sprint_permission_user": None, "sprint_permission_department": None,
        "sprint_permission_users": [], "sprint_permission_users_select": [],
        "sprint_permission_departments": [], "sprint_permission_departments_select": [],
        "dataLead": None, "dataCompany": None, "dataCompanyExtra": [],
        "fields": {}, "files": [], "filesData": [],
    }


def stamp_changes(record: dict, before: dict, stamp: str) -> None:
    """The dates SprintHub keeps about moves; earlier gain/lost/reopen dates are kept as history."""
    if record["status"] != before["status"]:
        record["last_status_change"] = stamp
        record[STATUS_DATE[record["status"]]] = stamp
    if record["crm_column"] != before["crm_column"]:
        record["last_column_change"] = stamp


class SprintHub(Vendor):
    name = "sprinthub"
    LIVE = LIVE
    FIXTURES = {
        "opportunity": ("opportunities", "Opportunity"),
        "lead": ("leads", "Lead"),
        "company": ("companies", "Company"),
    }
    STATIC_COLLECTIONS = frozenset({"users", "funnels", "leads", "companies"})

    def fixture_record(self, resource: str, record: dict) -> dict:
        return public(record) if resource == "opportunity" else record

    # -- world -------------------------------------------------------------------------------------
    def seed_world(self, count: int) -> None:
        fake = faker_for("pt_BR", self.seed)
        self._static.clear()
        instance = ascii_slug(fake.last_name()) or "demo"  # the instance the seeded leads live in
        users = [self._seed_user(fake, instance) for _ in range(WORLD_SIZE["users"])]
        funnel = self._seed_funnel()
        companies = [self._seed_company(fake, users) for _ in range(WORLD_SIZE["companies"])]
        for n in range(WORLD_SIZE["leads"]):
            # Every fifth lead has no company, so `dataCompany: null` occurs; the first has one (seed).
            company = None if n % 5 == 4 else companies[n % len(companies)]
            self._seed_lead(fake, company, users, instance)
        for _ in range(count):
            self._seed_opportunity(fake, funnel, instance, users)

    def _next_id(self, kind: str) -> int:
        return self.ids.integer(kind, start=FIRST_ID[kind])

    def _insert(self, kind: str, record: dict) -> dict:
        self.store.insert(self.collection(kind), record["id"], record)
        return record

    def _seed_user(self, fake: Faker, instance: str) -> dict:
        first, last = fake.first_name(), fake.last_name()
        email = f"{ascii_slug(first)}.{ascii_slug(last)}@{instance}.com.br"
        return self._insert("users", {"id": self._next_id("users"), "name": f"{first} {last}", "email": email})

    def _seed_funnel(self) -> dict:
        columns = [{"id": self._next_id("columns"), "name": name} for name in COLUMN_NAMES]
        return self._insert("funnels", {"id": self._next_id("funnels"), "name": "Funil de Vendas", "columns": columns})

    def _seed_company(self, fake: Faker, users: list[dict]) -> dict:
        company_id = self._next_id("companies")
        created = fake.date_time_between(WORLD_START, WORLD_END, tzinfo=timezone.utc)
        name = fake.company()
        return self._insert("companies", {
            "_id": object_id(self.seed, "companies", company_id, created),
            "id": company_id,
            "cnpj": fake.cnpj(),
            "companyaddress": fake.street_address(),
            "companyannualrevenue": None,
            "companycity": fake.city(),
            "companycountry": "Brazil",
            "companyemail": f"contato@{company_domain(name)}",
            "companyindustry": fake.random_element(INDUSTRIES),
            "companyname": name,
            "companynemployees": fake.random_int(2, 500),
            "companyphone": fake.phone_number(),
            "companystate": fake.estado_sigla(),
            "companyzipcode": fake.postcode(),
            "createDate": js_datetime(created),
            "createdBy": None,
            "createdByName": "System",
            "dores": fake.random_element((*PAINS, None)),
            "owner": fake.random_element([*(u["id"] for u in users), None]),
            "photoUrl": None,
            "points": fake.random_int(0, 50, step=5),
            "qtdeclientes": fake.random_element((None, fake.random_int(10, 5000))),
            "updatedBy": None,
            "updatedByName": None,
            "updatedDate": None,
        })

    def _seed_lead(self, fake: Faker, company: dict | None, users: list[dict], instance: str) -> dict:
        lead_id = self._next_id("leads")
        created = fake.date_time_between(WORLD_START, WORLD_END, tzinfo=timezone.utc)
        first, last = fake.first_name(), fake.last_name()
        main = fake.random_element(("email", "whatsapp"))
        return self._insert("leads", {
            "_id": object_id(self.seed, "leads", lead_id, created),
            "id": lead_id,
            "address": fake.random_element((fake.street_address(), None)),
            "canal_de_aquisicao": fake.random_element((*CHANNELS, None)),
            "channelRestrictions": {
                channel: {"mainChannel": channel == main, "disabled": False,
                          "frequencyValue": fake.random_int(1, 7) if channel == main else None,
                          "frequencyUnits": "DAY"}
                for channel in ("instagram", "whatsapp", "email", "messenger")
            },
            "city": fake.city(),
            "company": company["id"] if company else None,
            "country": "Brazil",
            "createDate": js_datetime(created),
            "createdBy": None,
            "createdByName": "System",
            "email": f"{ascii_slug(first)}.{ascii_slug(last)}@{fake.free_email_domain()}",
            "firstname": first,
            "instancedomain": instance,
            "ips": [fake.ipv4_public() for _ in range(fake.random_int(1, 4))],
            "lastActive": js_datetime(fake.date_time_between(created, WORLD_END, tzinfo=timezone.utc)),
            "lastname": last,
            "link_instancia": None,
            "mobile": fake.random_element((fake.cellphone_number(), None)),
            "owner": fake.random_element([*(u["id"] for u in users), None]),
            "phone": fake.random_element((fake.phone_number(), None)),
            "photoUrl": None,
            "points": fake.random_int(0, 100, step=5),
            "preferred_locale": "pt-BR",
            "senha_inicial": fake.password(length=10, special_chars=False),
            "stage": None,
            "state": fake.estado_sigla(),
            "timezone": "America/Sao_Paulo",
            "updatedBy": None,
            "updatedByName": None,
            "updatedDate": None,
            "utmTags": [],
            "whatsapp": f"+55{fake.random_element(AREA_CODES)}9{fake.numerify('########')}",
            "zipcode": fake.postcode(),
            "cargo": fake.job(),
            "departamento": fake.random_element((*DEPARTMENTS, None)),
            "departmentAccess": [],
            "ignoreSubDepartments": False,
            "instance_active": "false",
            "lead_online": "false",
            "partner_instance": None,
            "userAccess": [],
            "createdByType": None,
        })

    def _seed_opportunity(self, fake: Faker, funnel: dict, instance: str, users: list[dict]) -> None:
        """Created open through the API's own logic, then (some) won or lost later, as in real use."""
        lead_id = FIRST_ID["leads"] + fake.random_int(0, WORLD_SIZE["leads"] - 1)
        lead = self.lookup("leads", lead_id)
        company = self.lookup("companies", lead["company"]) if lead["company"] else None
        customer = company["companyname"] if company else f"{lead['firstname']} {lead['lastname']}"
        columns = [c["id"] for c in funnel["columns"]]
        created = fake.date_time_between(WORLD_END, WORLD_END + timedelta(days=60), tzinfo=timezone.utc)
        data = {
            "title": f"{fake.random_element(PRODUCTS)} - {customer}",
            "value": fake.random_int(10, 500) * 100,
            "lead_id": lead["id"],
            "crm_column": fake.random_element(columns[:-1]),
            "user": fake.random_element([u["id"] for u in users]),
            "fields": {"Origem": lead["canal_de_aquisicao"] or "Site"},
        }
        if fake.boolean():
            data["sequence"] = fake.random_int(1, 5)
        if fake.boolean():
            data["expectedCloseDate"] = js_datetime(created + timedelta(days=fake.random_int(15, 90)))
        record = self.save_opportunity(data, funnel["id"], instance, users[0]["id"], moment=created)
        outcome = fake.random_element(("open", "open", "open", "gain", "lost"))
        if outcome != "open":
            change = {"status": outcome, **({"crm_column": columns[-1]} if outcome == "gain" else {})}
            later = created + timedelta(days=fake.random_int(1, 30), minutes=fake.random_int(0, 600))
            self.save_opportunity(change, funnel["id"], instance, users[0]["id"], key=record["id"], moment=later)

    # -- callers -----------------------------------------------------------------------------------
    def default_principal(self, credentials: dict) -> Principal:
        return Principal(user=self.first("users"), credentials=credentials)

    def acting_user_id(self, principal: Principal) -> int:
        """The caller's user ID (a keys-file user without a usable integer id acts as the first user)."""
        user_id = principal.user.get("id")
        if isinstance(user_id, int) and not isinstance(user_id, bool) and user_id > 0:
            return user_id
        return self.first("users")["id"]

    # -- errors ------------------------------------------------------------------------------------
    def error_reply(self, error: MockError, op) -> Reply:
        status = error.status if op is None else FOLDED_STATUS.get(error.reason, error.status)
        if status == 401:
            return Reply(401, {"msg": _unauthorized_message(error)})
        if op is not None and op.operation_id == "updateOpportunity":
            # The seed's update error: one fixed text for every 400; 413/415 keep the shape.
            return Reply(status, {"error": INVALID_REQUEST if status == 400 else error.message})
        return Reply(status, {"msg": _message(error)})

    # -- opportunities -----------------------------------------------------------------------------
    def _funnel(self, funnel_id: int) -> dict:
        funnel = self.lookup("funnels", funnel_id)
        if funnel is None:
            raise validation_failed([Problem("id", "not_found", f"Funnel {funnel_id} does not exist.", funnel_id)])
        return funnel

    def _opportunity(self, key: int, funnel_id: int) -> dict:
        """The opportunity addressed by ID *in this funnel* (the URL names both). Unknown is a 400, as
        a Problem so that /__mock/requests says why behind the update's bare "Invalid request"."""
        record = self.store.get(self.collection("opportunities"), key)
        if record is None or record["funnel_id"] != funnel_id:
            message = f"Opportunity {key} does not exist in funnel {funnel_id}."
            raise validation_failed([Problem("opportunityId", "not_found", message, key)])
        return record

    def _check_references(self, data: dict, funnel: dict, actor_id: int) -> dict | None:
        """Every ID the body names must exist (all unknown ones reported together); returns the lead."""
        problems = []

        def refuse(field: str, message: str) -> None:
            problems.append(Problem(field, "not_found", message, data[field]))

        lead = self.lookup("leads", data["lead_id"]) if "lead_id" in data else None
        if "lead_id" in data and lead is None:
            refuse("lead_id", f"Lead {data['lead_id']} does not exist.")
        if "crm_column" in data and data["crm_column"] not in {c["id"] for c in funnel["columns"]}:
            refuse("crm_column", f"Column {data['crm_column']} is not a column of funnel {funnel['id']}.")
        if "user" in data and not self._is_user(data["user"], actor_id):
            refuse("user", f"User {data['user']} does not exist.")
        if problems:
            raise validation_failed(problems)
        return lead

    def _is_user(self, user_id: int, actor_id: int) -> bool:
        return user_id == actor_id or self.lookup("users", user_id) is not None

    def _embed(self, record: dict, lead: dict) -> None:
        """The lead and its company, as SprintHub embeds them in every answer."""
        company = self.lookup("companies", lead["company"]) if lead.get("company") else None
        record["dataLead"] = lead
        record["dataCompany"] = company
        record["dataCompanyExtra"] = [{k: v for k, v in company.items() if k != "_id"}] if company else []

    def _new(self, funnel: dict, instance: str, actor_id: int, stamp: str) -> dict:
        """A fresh opportunity in the funnel's first column, owned by the caller until told otherwise."""
        record = blank_opportunity(self._next_id("opportunities"), stamp)
        record.update(crm_column=funnel["columns"][0]["id"], user=actor_id, funnel_id=funnel["id"], instance=instance)
        return record

    def save_opportunity(self, data: dict, funnel_id: int, instance: str, actor_id: int,
                         key: int | None = None, moment: datetime | None = None) -> dict:
        """Create (no `key`) or partially update, in one transaction. `moment` dates seeded history."""
        with self.store.transaction():
            funnel = self._funnel(funnel_id)
            current = None if key is None else self._opportunity(key, funnel_id)
            lead = self._check_references(data, funnel, actor_id)  # before minting: refusals use no ID
            stamp = js_datetime(moment or self.store.now())
            record = dict(current) if current else self._new(funnel, instance, actor_id, stamp)
            record.update({k: data[k] for k in INPUT_FIELDS if k in data})
            if "expectedCloseDate" in data:
                record["expectedCloseDate"] = js_datetime(parse_utc(data["expectedCloseDate"], "expectedCloseDate"))
            record["fields"] = {**record["fields"], **data.get("fields", {})}  # custom fields merge
            # A new opportunity starts open in the column it is given: only its status can change.
            stamp_changes(record, current or {"status": "open", "crm_column": record["crm_column"]}, stamp)
            record["updateDate"] = stamp
            self._embed(record, lead or self.lookup("leads", record["lead_id"]))
            if current is None:
                self.store.insert(self.collection("opportunities"), record["id"], record)
            else:
                self.store.replace(self.collection("opportunities"), record["id"], record)
            return record

    @operation("createOpportunity")
    def create_opportunity(self, call: Call) -> Reply:
        actor = self.acting_user_id(call.principal)
        record = self.save_opportunity(call.body, call.query["id"], call.query["i"], actor)
        return Reply(200, public(record))

    @operation("updateOpportunity")
    def update_opportunity(self, call: Call) -> Reply:
        actor = self.acting_user_id(call.principal)
        record = self.save_opportunity(call.body, call.query["id"], call.query["i"], actor,
                                       key=call.path["opportunityId"])
        return Reply(200, {"msg": UPDATED, "data": public(record)})


def _message(error: MockError) -> str:
    """A `msg` naming each field and what is wrong with it (query parameters say so)."""
    if error.reason == "validation" and error.problems:
        return "; ".join(f"{QUERY_LABELS.get(p.field, p.field)}: {p.message}" for p in error.problems)
    if error.reason == "method_not_allowed":
        return f"{error.message} Allowed: {error.headers.get('Allow', 'none')}."
    return error.message


def _unauthorized_message(error: MockError) -> str:
    if error.reason == "rate_limited":
        return TOO_MANY_REQUESTS
    return (f"Unauthorized: {error.message} Send both `Authorization: Bearer <token>` and "
            "`apitoken: <token>` headers.")
