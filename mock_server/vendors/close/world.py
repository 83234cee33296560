"""Close's seeded world: the organization, its pipeline and statuses, users, leads and opportunities."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from mock_server.fakes import SEED_EPOCH, faker_for
from mock_server.identity import Principal
from mock_server.ids import token
from mock_server.timefmt import parse_utc

DEFAULT_STATUSES = (("Active", "active"), ("Won", "won"), ("Lost", "lost"))
SEED_SPAN_S = 300 * 86_400  # seeded opportunities are created over 300 days from SEED_EPOCH
NOTES = 500  # distinct notes in a seeded world


class World:
    """Mixed into Close (uses the Vendor's store, ids, spec and keys; opportunities are made by
    `save_opportunity`, the same rules that answer HTTP requests)."""

    def seed_world(self, count: int) -> None:
        """The organization, its pipeline and statuses, users, and `count` opportunities on
        realistic leads, some moved to won/lost (so history exists). Same seed, same world."""
        fake = faker_for("en_US", self.seed)
        self._static.clear()
        self.store.pin_clock(SEED_EPOCH)
        documented = self._documented()
        self._seed_organization(fake, documented)
        users = self._seed_users(fake, documented)
        leads = [self._seed_lead(fake, documented["lead"]["id"], documented["lead"]["name"])]
        # Leads carry several opportunities each in a large world; Faker is the costly part.
        leads += [self._seed_lead(fake) for _ in range(min(count // 2, 1000))]
        self._seed_documented_opportunity()
        self._seed_opportunities(fake, count, users, leads)
        self.store.pin_clock(None)

    def _documented(self) -> dict:
        """The organization, pipeline, statuses, user and lead the spec's examples name (seed 003's
        status change; the Opportunity and OpportunityStatus examples). Seeding them makes a request
        copied from the docs work against the mock as it does against Close."""
        schemas = self.spec.document["components"]["schemas"]
        change = schemas["OpportunityStatusChange"]["example"]
        return {
            "organization": change["organization_id"],
            "pipeline": schemas["OpportunityStatus"]["example"]["pipeline_id"],
            "statuses": {change["old_status_type"]: change["old_status_id"], change["new_status_type"]: change["new_status_id"]},
            "user": {"id": change["user_id"], "name": change["user_name"]},
            "lead": {"id": change["lead_id"], "name": schemas["Opportunity"]["example"]["lead_name"]},
        }

    def _seed_organization(self, fake, documented: dict) -> None:
        """The organization, its one pipeline, and the default statuses in it."""
        org = {"id": documented["organization"], "name": fake.company()}
        self.store.insert(self.collection("organization"), org["id"], org)
        pipeline = {"id": documented["pipeline"], "name": "Sales", "organization_id": org["id"]}
        self.store.insert(self.collection("pipelines"), pipeline["id"], pipeline)
        for label, kind in DEFAULT_STATUSES:
            status = {"id": documented["statuses"].get(kind) or self.ids.prefixed("stat"), "label": label,
                      "type": kind, "pipeline_id": pipeline["id"], "organization_id": org["id"]}
            self.store.insert(self.collection("statuses"), status["id"], status)

    def _seed_users(self, fake, documented: dict) -> list[dict]:
        """The keys-file users and three more (the first the documented one); returns the three."""
        # Keys-file users belong to the organization too, so their ids resolve like any user's.
        for entry in self.keys.entries:
            keyed = self._as_user(dict(entry.user))
            self.store.insert(self.collection("users"), keyed["id"], keyed)
        users = []
        for n in range(3):
            first, last = documented["user"]["name"].split(" ", 1) if n == 0 else (fake.first_name(), fake.last_name())
            users.append({"id": documented["user"]["id"] if n == 0 else self.ids.prefixed("user"),
                          "name": f"{first} {last}", "email": f"{first}.{last}@{fake.domain_name()}".lower()})
            self.store.insert(self.collection("users"), users[-1]["id"], users[-1])
        return users

    def _seed_lead(self, fake, lead_id: str | None = None, company: str | None = None) -> dict:
        company = company or fake.company()
        lead = {"id": lead_id or self.ids.prefixed("lead"), "display_name": company, "name": company, "contacts": []}
        for _ in range(fake.random_int(1, 2)):
            phone = fake.numerify("+1415555####")
            name = fake.name()
            contact = {
                "id": self.ids.prefixed("cont"), "lead_id": lead["id"], "name": name,
                "primary_email": {"email": fake.company_email(), "is_unsubscribed": False, "type": "office"},
                "phones": [{"phone": phone, "phone_formatted": f"+1 415-555-{phone[-4:]}", "type": "office",
                            "country": "US"}],
            }
            self.store.insert(self.collection("contacts"), contact["id"], contact)
            lead["contacts"].append(contact)
        self.store.insert(self.collection("leads"), lead["id"], lead)
        return lead

    def _seed_documented_opportunity(self) -> None:
        """The opportunity and status change of seed 003's example (`oppo_fn2k...`, `acti_CAI2...`),
        so a request copied from Close's docs finds them. Nothing is minted: later IDs do not move."""
        example = self.spec.document["components"]["schemas"]["OpportunityStatusChange"]["example"]
        when = parse_utc(example["date_created"], "date_created")
        data = {"lead_id": example["lead_id"], "user_id": example["user_id"], "status_id": example["new_status_id"],
                "value": example["opportunity_value"], "date_created": example["date_created"],
                "date_won": example["opportunity_date_won"]}
        actor = self.lookup("users", example["user_id"])
        record = self._compose(data, None, self._resolve(data, None), actor, when, key=example["opportunity_id"])
        self.store.insert(self.collection("opportunities"), record["id"], record)
        self.store.insert(self.collection("activities"), example["id"], dict(example))

    def _seed_opportunities(self, fake, count: int, users: list[dict], leads: list[dict]) -> None:
        """`count` opportunities, each saved at its own moment by the same rules as a request."""
        # Faker's own helpers weigh, format and parse on every call, which cost a third of a large
        # world's seeding: draw from its random generator directly, and notes from a pool made once.
        rand = fake.random
        pick = rand.choice
        notes = [fake.sentence(nb_words=8) for _ in range(min(count, NOTES))]
        statuses = self.statuses()
        for done in range(count):
            if done % 1000 == 0:
                self.progress(done, count)
            when = SEED_EPOCH + timedelta(seconds=rand.randrange(SEED_SPAN_S))
            self.store.pin_clock(when)
            actor = pick(users)
            lead = pick(leads)
            opp = self.save_opportunity({
                "lead_id": lead["id"],
                "contact_id": lead["contacts"][0]["id"],
                "user_id": actor["id"],
                "value": rand.randint(5, 2000) * 1000,
                "value_period": pick(("one_time", "one_time", "monthly", "annual")),
                "confidence": pick((10, 25, 50, 75, 90)),
                "note": pick(notes),
            }, actor)
            if rand.random() < 0.4:  # some deals close, and leave history
                self.store.pin_clock(when + timedelta(days=rand.randint(1, 60)))
                self.save_opportunity({"status_id": pick(statuses[1:])["id"]}, actor, opp)
        self.progress(count, count)

    # -- reading the world -------------------------------------------------------------------------
    @property
    def organization(self) -> dict:
        return self.first("organization")

    def statuses(self) -> list[dict]:
        return list(self.static("statuses").values())

    def default_principal(self, credentials: dict) -> Principal:
        return Principal(user=self.first("users"), credentials=credentials)

    def acting_user(self, principal: Principal) -> dict:
        """The caller as a Close user of the organization (keys-file users are seeded as users)."""
        return self._as_user(principal.user)

    def _as_user(self, user: dict) -> dict:
        """A keys-file user without an id gets a stable one, derived from its name."""
        if "id" in user:
            return user
        name = user.get("name") or user.get("email") or "API User"
        digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")
        return {"id": "user_" + token(self.seed, "keyed-user", digest, 43), "name": name, **user}
