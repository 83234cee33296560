"""The seeded SprintHub world: users, one funnel, companies, leads, and opportunities with some history."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from faker import Faker

from mock_server.fakes import faker_for
from mock_server.vendors.sprinthub.formats import FIRST_ID, ascii_slug, company_domain, js_datetime, object_id

COLUMN_NAMES = ("Prospecção", "Qualificação", "Proposta", "Negociação", "Fechamento")
WORLD_SIZE = {"users": 3, "companies": 6, "leads": 15}
SEEDED_INSTANCE = "acme"  # the account (`i=acme`) the seeded opportunities belong to
# Seeded records are dated inside this window (Faker-drawn), never by the wall clock.
WORLD_START = datetime(2023, 1, 1, tzinfo=UTC)
WORLD_END = datetime(2024, 3, 1, tzinfo=UTC)

INDUSTRIES = ("Tecnologia", "Varejo", "Alimentação", "Saúde", "Educação", "Construção", "Logística")
CHANNELS = ("Site", "Indicação", "Instagram", "Google Ads", "Evento")
DEPARTMENTS = ("Comercial", "Financeiro", "TI", "Marketing", "Diretoria")
PAINS = ("Processo de vendas manual", "Baixa conversão de leads", "Falta de visibilidade do funil")
AREA_CODES = (11, 19, 21, 31, 41, 47, 48, 51, 61, 62, 71, 81, 85, 91)  # Brazilian DDDs
PRODUCTS = ("Implantação CRM", "Licença anual", "Consultoria", "Treinamento", "Integração WhatsApp")

# A lead's keys in the order of the seed's answer.
LEAD_FIELDS = (
    "_id", "id", "address", "canal_de_aquisicao", "channelRestrictions", "city", "company", "country",
    "createDate", "createdBy", "createdByName", "email", "firstname", "instancedomain", "ips", "lastActive",
    "lastname", "link_instancia", "mobile", "owner", "phone", "photoUrl", "points", "preferred_locale",
    "senha_inicial", "stage", "state", "timezone", "updatedBy", "updatedByName", "updatedDate", "utmTags",
    "whatsapp", "zipcode", "cargo", "departamento", "departmentAccess", "ignoreSubDepartments",
    "instance_active", "lead_online", "partner_instance", "userAccess", "createdByType",
)


class SeededWorld:
    """Seeding, mixed into `SprintHub`: IDs come from its `_next_id`, and opportunities are made through
    its `save_opportunity`, as the API makes them."""

    def seed_world(self, count: int) -> None:
        fake = faker_for("pt_BR", self.seed)
        self._static.clear()
        domain = ascii_slug(fake.last_name()) or "demo"  # the seeded users' e-mail domain
        instance = SEEDED_INSTANCE  # opportunities belong to an instance: the seeded ones to this one
        users = [self._seed_user(fake, domain) for _ in range(WORLD_SIZE["users"])]
        funnel = self._seed_funnel()
        companies = [self._seed_company(fake, users) for _ in range(WORLD_SIZE["companies"])]
        for n in range(WORLD_SIZE["leads"]):
            # Every fifth lead has no company, so `dataCompany: null` occurs; the first has one (seed).
            company = None if n % 5 == 4 else companies[n % len(companies)]
            self._seed_lead(fake, company, users, instance)
        for _ in range(count):
            self._seed_opportunity(fake, funnel, instance, users)

    def _insert(self, kind: str, record: dict) -> dict:
        self.store.insert(self.collection(kind), record["id"], record)
        return record

    def _seed_user(self, fake: Faker, domain: str) -> dict:
        first, last = fake.first_name(), fake.last_name()
        email = f"{ascii_slug(first)}.{ascii_slug(last)}@{domain}.com.br"
        return self._insert("users", {"id": self._next_id("users"), "name": f"{first} {last}", "email": email})

    def _seed_funnel(self) -> dict:
        columns = [{"id": self._next_id("columns"), "name": name} for name in COLUMN_NAMES]
        return self._insert("funnels", {"id": self._next_id("funnels"), "name": "Funil de Vendas", "columns": columns})

    def _seed_company(self, fake: Faker, users: list[dict]) -> dict:
        company_id = self._next_id("companies")
        created = fake.date_time_between(WORLD_START, WORLD_END, tzinfo=UTC)
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
        created = fake.date_time_between(WORLD_START, WORLD_END, tzinfo=UTC)
        fields = {**lead_bookkeeping(self.seed, lead_id, created, company, instance), **lead_profile(fake, created, users)}
        return self._insert("leads", {key: fields[key] for key in LEAD_FIELDS})

    def _seed_opportunity(self, fake: Faker, funnel: dict, instance: str, users: list[dict]) -> None:
        """Created open through the API's own logic, then (some) won or lost later, as in real use."""
        lead_id = FIRST_ID["leads"] + fake.random_int(0, WORLD_SIZE["leads"] - 1)
        lead = self.lookup("leads", lead_id)
        company = self.lookup("companies", lead["company"]) if lead["company"] else None
        customer = company["companyname"] if company else f"{lead['firstname']} {lead['lastname']}"
        columns = [c["id"] for c in funnel["columns"]]
        created = fake.date_time_between(WORLD_END, WORLD_END + timedelta(days=60), tzinfo=UTC)
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


def lead_bookkeeping(seed: int, lead_id: int, created: datetime, company: dict | None, instance: str) -> dict:
    """What SprintHub keeps about a lead rather than about the person: IDs, links, audit and access fields."""
    return {
        "_id": object_id(seed, "leads", lead_id, created),
        "id": lead_id,
        "company": company["id"] if company else None,
        "createDate": js_datetime(created),
        "createdBy": None,
        "createdByName": "System",
        "instancedomain": instance,
        "link_instancia": None,
        "stage": None,
        "updatedBy": None,
        "updatedByName": None,
        "updatedDate": None,
        "utmTags": [],
        "departmentAccess": [],
        "ignoreSubDepartments": False,
        "instance_active": "false",
        "lead_online": "false",
        "partner_instance": None,
        "userAccess": [],
        "createdByType": None,
    }


def lead_profile(fake: Faker, created: datetime, users: list[dict]) -> dict:
    """Who the lead is and how to reach them. Drawn in the order of the seed's keys: changing the order
    of the draws changes every lead a seed makes."""
    first, last = fake.first_name(), fake.last_name()
    main = fake.random_element(("email", "whatsapp"))
    return {
        "address": fake.random_element((fake.street_address(), None)),
        "canal_de_aquisicao": fake.random_element((*CHANNELS, None)),
        "channelRestrictions": contact_channels(fake, main),
        "city": fake.city(),
        "country": "Brazil",
        "email": f"{ascii_slug(first)}.{ascii_slug(last)}@{fake.free_email_domain()}",
        "firstname": first,
        "ips": [fake.ipv4_public() for _ in range(fake.random_int(1, 4))],
        "lastActive": js_datetime(fake.date_time_between(created, WORLD_END, tzinfo=UTC)),
        "lastname": last,
        "mobile": fake.random_element((fake.cellphone_number(), None)),
        "owner": fake.random_element([*(u["id"] for u in users), None]),
        "phone": fake.random_element((fake.phone_number(), None)),
        "photoUrl": None,
        "points": fake.random_int(0, 100, step=5),
        "preferred_locale": "pt-BR",
        "senha_inicial": fake.password(length=10, special_chars=False),
        "state": fake.estado_sigla(),
        "timezone": "America/Sao_Paulo",
        "whatsapp": f"+55{fake.random_element(AREA_CODES)}9{fake.numerify('########')}",
        "zipcode": fake.postcode(),
        "cargo": fake.job(),
        "departamento": fake.random_element((*DEPARTMENTS, None)),
    }


def contact_channels(fake: Faker, main: str) -> dict:
    """`channelRestrictions`: four channels, none disabled; only the `main` one has a contact frequency."""
    return {
        channel: {"mainChannel": channel == main, "disabled": False,
                  "frequencyValue": fake.random_int(1, 7) if channel == main else None,
                  "frequencyUnits": "DAY"}
        for channel in ("instagram", "whatsapp", "email", "messenger")
    }
