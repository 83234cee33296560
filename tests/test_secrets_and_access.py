"""No secret kept, and the control API locked when the mock is: journal redaction in every placement,
the admin key, unpredictable issued tokens, and keys files that say what is wrong with them."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from mock_server import create_app
from mock_server.redaction import secret_digest
from mock_server.serve.cli import main  # the command line itself, as a user runs it
from mock_server.store.urls import shown_url
from tests.conftest import CLOSE_AUTH, NEXUDUS_AUTH, SPRINTHUB_AUTH, served
from tests.test_served_over_http import free_port

SECRET = "s3cr3t-VALUE-98765"

HEADER_PLACEMENTS = [
    {"Authorization": f"Bearer {SECRET}"},
    {"Authorization": "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()},
    {"apitoken": SECRET}, {"Api-Key": SECRET}, {"X-Api-Key": SECRET}, {"X-Auth-Token": SECRET}, {"Token": SECRET},
    {"Cookie": f"session={SECRET}"}, {"Proxy-Authorization": f"Basic {SECRET}"},
]
QUERY_NAMES = ["api_key", "access_token", "password", "apitoken", "token", "client_secret"]


def journal_text(client) -> str:
    return json.dumps(client.get("/__mock/requests").get_json())


@pytest.mark.parametrize("headers", HEADER_PLACEMENTS, ids=lambda h: next(iter(h)))
def test_credential_headers_are_masked_in_the_journal(headers):
    client = create_app().test_client()
    client.get("/sprinthub/crmopportunity", headers={**SPRINTHUB_AUTH, **headers})
    client.get("/close/api/v1/opportunity/", headers=headers)
    text = journal_text(client)
    assert SECRET not in text and "***" in text
    assert base64.b64encode(f"{SECRET}:".encode()).decode() not in text


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_credentials_in_the_query_are_masked_in_the_journal(name):
    client = create_app().test_client()
    client.get(f"/close/api/v1/opportunity/?{name}={SECRET}&_limit=1", headers=CLOSE_AUTH)
    client.get(f"/nexudus/api/crm/crmboardcolumns?{name}={SECRET}", headers=NEXUDUS_AUTH)
    text = journal_text(client)
    assert SECRET not in text and f"{name}=%2A%2A%2A" in text and "_limit=1" in text


def test_credentials_in_json_and_form_bodies_are_masked_in_the_journal():
    client = create_app().test_client()
    client.post("/close/api/v1/opportunity/", json={"note": "kept", "custom": {"client_secret": SECRET},
                                                     "password": SECRET}, headers=CLOSE_AUTH)
    client.post("/nexudus/api/token", data={"grant_type": "password", "username": "ann@example.com",
                                            "password": SECRET})
    text = journal_text(client)
    assert SECRET not in text
    bodies = [e["body"] for e in client.get("/__mock/requests").get_json()["requests"]]
    assert bodies[0]["note"] == "kept" and bodies[0]["password"] == "***"
    assert bodies[1]["username"] == "ann@example.com" and bodies[1]["password"] == "***"


def test_the_journal_over_a_real_socket_never_shows_the_credential():
    with served(create_app("sprinthub")) as url:
        request = urllib.request.Request(f"{url}/crmopportunity?id=12&i=acme&apitoken={SECRET}", method="POST",
                                         data=b'{"title": "x", "lead_id": 8473}',
                                         headers={"Authorization": f"Bearer {SECRET}", "apitoken": SECRET,
                                                  "Cookie": f"session={SECRET}; theme=dark",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"{url}/__mock/requests", timeout=10) as response:
            assert SECRET not in response.read().decode()


# -- the admin key --------------------------------------------------------------------------------------
KEYS = {"close": [{"credentials": {"ApiKeyAuth": "api_alice:"}, "user": {"name": "Alice"}}]}


def admin(key: str) -> dict:
    return {"X-Crm-Mock-Admin-Key": key}


@pytest.mark.parametrize("path, method", [("/__mock/requests", "GET"), ("/__mock/records", "GET"),
                                          ("/__mock/records/close.opportunities", "GET"), ("/__mock/reset", "POST"),
                                          ("/__mock/snapshot", "GET"), ("/__mock/snapshots", "GET"),
                                          ("/__mock/snapshots/s1", "PUT")])
def test_with_keys_the_control_api_needs_the_admin_key(path, method):
    client = create_app("close", keys=KEYS, admin_key="adm1n").test_client()
    assert client.open(path, method=method).status_code == 401
    assert client.open(path, method=method, headers=admin("wrong")).status_code == 401
    assert client.open(path, method=method, headers=admin("adm1n")).status_code == 200
    assert client.get("/__mock/health").status_code == 200  # probes stay open


def test_keys_without_an_admin_key_lock_the_control_api_and_say_how_to_open_it():
    client = create_app("close", keys=KEYS).test_client()
    refused = client.post("/__mock/reset")
    assert refused.status_code == 401 and "--admin-key" in refused.get_json()["error"]


def test_zero_config_keeps_the_control_api_open():
    assert create_app("close").test_client().get("/__mock/requests").status_code == 200


def test_the_admin_key_over_a_real_socket():
    with served(create_app("close", admin_key="adm1n")) as url:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{url}/__mock/reset", method="POST"), timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(f"{url}/__mock/reset", method="POST", headers=admin("adm1n"))
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


# -- issued tokens ------------------------------------------------------------------------------------------
def issue(client) -> dict:
    response = client.post("/api/token", data={"grant_type": "password", "username": "a@b.c", "password": "pw"})
    assert response.status_code == 200
    return response.get_json()


def test_issued_tokens_are_unpredictable_and_die_with_a_reset():
    keys = {"nexudus": [{"credentials": {"BasicAuth": "a@b.c:pw"}, "user": {"Email": "a@b.c"}}]}
    one = create_app("nexudus", keys=keys, admin_key="adm1n").test_client()
    two = create_app("nexudus", keys=keys, admin_key="adm1n").test_client()
    first = issue(one)
    assert first["access_token"] != issue(two)["access_token"]  # same seed, different tokens
    columns, bearer = "/api/crm/crmboardcolumns", {"Authorization": f"Bearer {first['access_token']}"}
    assert one.get(columns, headers=bearer).status_code == 200  # keys list no bearer token: it is the issued one
    one.post("/__mock/reset", headers=admin("adm1n"))
    assert one.get(columns, headers=bearer).status_code == 401  # gone with the reset
    assert issue(one)["access_token"] != first["access_token"]


def test_an_issued_token_never_reaches_the_store_in_clear(tmp_path):
    client = create_app("nexudus", store=f"sqlite:{tmp_path / 'mock.db'}").test_client()
    issued = issue(client)
    assert client.get("/api/crm/crmboardcolumns", headers={"Authorization": f"Bearer {issued['access_token']}"}
                      ).status_code == 200
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("mock.db*"))
    assert issued["access_token"].encode() not in stored and issued["refresh_token"].encode() not in stored


def test_reproducible_tokens_when_asked_for():
    tokens = [issue(create_app("nexudus", reproducible_tokens=True, seed=7).test_client())["access_token"]
              for _ in range(2)]
    assert tokens[0] == tokens[1]


# -- keys files that say what is wrong --------------------------------------------------------------------
@pytest.mark.parametrize("content, named", [
    ("hubspot:\n  - credentials: {ApiKeyAuth: 'x:'}\n", "unknown vendor 'hubspot'"),
    ("close:\n  - credentials: {ApiKey: 'x:'}\n", "unknown security scheme 'ApiKey'"),
    ("close:\n  - credentials: {ApiKeyAuth: 'x:'}\n    role: [Admin]\n", "unknown field 'role'"),
    ("close: {credentials: x}\n", "map vendor names to lists"),
    ("close:\n  - credentials: {ApiKeyAuth: 'x:'}\n    roles: CrmOpportunityHistory-List\n",
     "keys file, close entry 0: roles: must be a list or empty, not a string"),
    ("close:\n  - credentials: {ApiKeyAuth: 5}\n",
     "keys file, close entry 0: credentials.ApiKeyAuth: must be a string, not a number"),
    ("close:\n  - credentials: {ApiKeyAuth: 'x:'}\n  - user: {name: Bo}\n", "keys file, close entry 1: every entry needs"),
    ("close:\n  - credentials: {}\n", "keys file, close entry 0: credentials: must name at least one security scheme"),
])
def test_a_keys_file_with_a_typo_is_refused_at_start_naming_the_entry(tmp_path, content, named):
    keys = tmp_path / "keys.yaml"
    keys.write_text(content)
    result = CliRunner().invoke(main, ["serve", "--keys", str(keys), "--port", "1"])
    assert result.exit_code == 2 and named in result.output, result.output
    with pytest.raises(ValueError, match=named.split("'")[0]):
        create_app("close", keys=str(keys))


@pytest.mark.parametrize("content, named", [
    ("sprinthub:\n  - credentials: {BearerAuth: t, ApiToken: 98765432109876}\n",
     "keys file, sprinthub entry 0: credentials.ApiToken: must be a string, not a number"),
    ("close:\n  - 'api_SUPERSECRETKEY:'\n", "keys file, close entry 0: must be a mapping of credentials, user, roles, "
                                           "not a string"),
    ("close:\n  - credentials: 'api_SUPERSECRETKEY:'\n", "keys file, close entry 0: credentials: must be a mapping, "
                                                        "not a string"),
    ("close:\n  - credentials: {ApiKeyAuth: 'x:'}\n    user: api_SUPERSECRETKEY\n",
     "keys file, close entry 0: user: must be a mapping or empty, not a string"),
    ("close:\n  - credentials: {ApiKeyAuth: 'x:'}\n    roles: [98765432109876]\n",
     "keys file, close entry 0: roles.0: must be a string, not a number"),
    ("98765432109876:\n  - credentials: {ApiKeyAuth: 'x:'}\n", "keys file: a vendor name must be a string"),
])
def test_a_keys_file_error_says_where_and_what_without_the_value(tmp_path, content, named):
    """A value out of place in a keys file is most likely a credential: never repeated on stderr."""
    keys = tmp_path / "keys.yaml"
    keys.write_text(content)
    result = CliRunner().invoke(main, ["serve", "--keys", str(keys), "--port", "1"])
    assert result.exit_code == 2 and named in " ".join(result.output.split()), result.output
    assert "98765432109876" not in result.output and "SUPERSECRET" not in result.output


# -- store URLs: the password never shown -----------------------------------------------------------------
PASSWORD = "PGPASSW0RD"


@pytest.mark.parametrize("url, shown", [
    (f"postgresql://crm:{PASSWORD}@db:5432/crm", "postgresql://crm:***@db:5432/crm"),
    (f"postgresql://host/db?user=postgres&password={PASSWORD}", "postgresql://host/db?user=postgres&password=***"),
    (f"postgres://crm@db/crm?sslmode=require&sslpassword={PASSWORD}",
     "postgres://crm@db/crm?sslmode=require&sslpassword=***"),
    (f"postgresql://crm:{PASSWORD}@h1:5432,h2:5433/crm", "postgresql://crm:***@h1:5432,h2:5433/crm"),
    (f"postgresql://crm:p%40{PASSWORD}@db/crm#{PASSWORD}", "postgresql://crm:***@db/crm"),  # no fragment
    (f"host=db user=crm password='{PASSWORD} x'", "user=crm password=*** host=db"),  # libpq's keyword form
    (f"mysql://crm:{PASSWORD}@db/crm", "mysql://crm:***@db/crm"),
    (f"postgresql://crm:{PASSWORD}@[::1/crm", "***"),  # unreadable: masked whole
    (f"crm:{PASSWORD}@db/crm", "***"),
    ("postgresql://crm@db:5432/crm", "postgresql://crm@db:5432/crm"),
    ("sqlite:/tmp/mock.db", "sqlite:/tmp/mock.db"), ("memory", "memory"),
])
def test_a_store_url_is_shown_with_every_password_masked(url, shown):
    assert shown_url(url) == shown


@pytest.mark.parametrize("store", [f"postgresql://crm:{PASSWORD}@db:5432/crm",
                                   f"postgresql://db/crm?user=postgres&password={PASSWORD}"])
def test_print_config_masks_the_store_password(store):
    result = CliRunner().invoke(main, ["serve", "--store", store, "--print-config"])
    assert result.exit_code == 0 and PASSWORD not in result.output, result.output
    assert "***" in next(line for line in result.output.splitlines() if line.startswith("store"))


@pytest.mark.parametrize("args, named", [
    (["--latency", "50ms~20"], "--latency"), (["--rate-limit", "ten/s"], "--rate-limit"),
    (["--store", f"mysql://crm:{PASSWORD}@x"], "--store"), (["--namespace-ttl", "5"], "--namespace-ttl"),
    (["--error-rate", "2"], "--error-rate"),
])
def test_print_config_refuses_what_serve_refuses(args, named):
    result = CliRunner().invoke(main, ["serve", *args, "--print-config"])
    assert result.exit_code == 2 and named in result.output and PASSWORD not in result.output, result.output


def test_an_unknown_store_is_refused_without_its_password():
    result = CliRunner().invoke(main, ["serve", "--store", f"host=db password={PASSWORD}", "--port", "1"])
    assert result.exit_code == 2 and "unknown store 'password=*** host=db'" in result.output, result.output


def test_the_start_up_log_masks_a_password_in_the_query():
    """The block is written before the store is opened: an unreachable database shows it, then fails."""
    store = f"postgresql://127.0.0.1:1/crm?user=postgres&password={PASSWORD}"
    ended = subprocess.run([sys.executable, "-m", "mock_server", "serve", "--port", str(free_port()), "--store", store],
                           capture_output=True, text=True, timeout=60)
    assert "store      postgresql://127.0.0.1:1/crm?user=postgres&password=***" in ended.stderr, ended.stderr
    assert PASSWORD not in ended.stderr + ended.stdout


# -- overrides that match on a credential -------------------------------------------------------------------
CREDENTIAL = "api_0verr1de-S3CRET:"  # Close's API key as the Basic username, empty password


def test_an_override_keeps_only_the_digest_of_the_credential_it_matches(make_client, store_url, tmp_path):
    """Snapshots, named snapshots, restores and matching all work from the digest; no export holds
    the credential (the listing showed *** before, and still does)."""
    from tests.conftest import basic

    client = make_client("close")
    made = client.post("/__mock/overrides", json={"match": {"credential": CREDENTIAL}, "respond": {"status": 204}})
    assert made.status_code == 201 and made.get_json()["match"] == {"credential": "***"}

    def answered() -> tuple[int, int]:
        mine = client.get("/api/v1/status/opportunity/", headers=basic(CREDENTIAL.rstrip(":"))).status_code
        other = client.get("/api/v1/status/opportunity/", headers=basic("api_someone_else")).status_code
        return mine, other

    assert answered() == (204, 200)
    snapshot = client.get("/__mock/snapshot").get_data(as_text=True)
    listed = client.get("/__mock/overrides").get_data(as_text=True)
    assert client.put("/__mock/snapshots/steered").status_code == 200
    for text in (snapshot, listed, made.get_data(as_text=True)):
        assert CREDENTIAL not in text
    assert '"credential_sha256"' in snapshot and '"credential":"***"' in listed.replace(" ", "")
    if store_url.startswith("sqlite:"):
        assert CREDENTIAL.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("mock.db*"))
    client.post("/__mock/reset")
    assert answered() == (200, 200)  # a reset removes overrides
    client.post("/__mock/reset?to=steered")
    assert client.delete("/__mock/snapshots/steered").status_code == 200  # a shared database keeps it
    assert answered() == (204, 200)
    client.post("/__mock/reset")
    assert client.post("/__mock/restore", data=snapshot, content_type="application/json").status_code == 200
    assert answered() == (204, 200)
    # A snapshot written before credentials were kept as digests still restores and matches.
    older = snapshot.replace('"credential_sha256":', '"credential":').replace(
        json.loads(snapshot)["collections"]["__mock.overrides"][0][1]["match"]["credential_sha256"], CREDENTIAL)
    assert CREDENTIAL in older and "credential_sha256" not in older
    client.post("/__mock/reset")
    assert client.post("/__mock/restore", data=older, content_type="application/json").status_code == 200
    assert answered() == (204, 200)


def test_header_and_query_secrets_an_override_matches_on_are_kept_as_digests(make_client):
    client = make_client("nexudus")  # any bearer token accepted, unknown query parameters ignored
    match = {"headers": {"Authorization": f"Bearer {SECRET}", "X-Trace": "t-1"}, "query": {"api_key": SECRET}}
    assert client.post("/__mock/overrides", json={"match": match, "respond": {"status": 204}}).status_code == 201

    def status(token: str, key: str) -> int:
        return client.get(f"/api/crm/crmboardcolumns?api_key={key}",
                          headers={"Authorization": f"Bearer {token}", "X-Trace": "t-1"}).status_code

    assert (status(SECRET, SECRET), status(SECRET, "other"), status("other", SECRET)) == (204, 200, 200)
    snapshot = client.get("/__mock/snapshot").get_data(as_text=True)
    assert SECRET not in snapshot and '"X-Trace":"t-1"' in snapshot
    verified = client.post("/__mock/verify", json={"match": match, "count": 0}).get_json()
    assert SECRET not in json.dumps(verified) and verified["match"]["headers"]["Authorization"] == "***"
    client.post("/__mock/reset")
    assert client.post("/__mock/restore", data=snapshot, content_type="application/json").status_code == 200
    assert (status(SECRET, SECRET), status(SECRET, "other")) == (204, 200)


def test_body_secrets_an_override_matches_on_are_kept_as_digests(make_client):
    """A body field named like a secret (Nexudus' password grant) is matched by its digest, listed as
    ***, and no snapshot holds it; other body fields stay as given."""
    client = make_client("nexudus")
    match = {"operation": "issueToken", "body": {"password": SECRET, "username": "ops@example.com"}}
    assert client.post("/__mock/overrides", json={"match": match, "respond": {"status": 204}}).status_code == 201

    def grant(password: str) -> int:
        return client.post("/api/token", data={"grant_type": "password", "username": "ops@example.com",
                                               "password": password}).status_code

    assert (grant(SECRET), grant("other")) == (204, 200)
    listed = client.get("/__mock/overrides").get_json()
    assert SECRET not in json.dumps(listed)
    assert listed["overrides"][0]["match"]["body"] == {"password": "***", "username": "ops@example.com"}
    assert secret_digest(SECRET) in client.get("/__mock/snapshot").get_data(as_text=True)  # what a restore matches on
    snapshot = client.get("/__mock/snapshot").get_data(as_text=True)
    assert SECRET not in snapshot and "ops@example.com" in snapshot
    client.post("/__mock/reset")
    assert client.post("/__mock/restore", data=snapshot, content_type="application/json").status_code == 200
    assert (grant(SECRET), grant("other")) == (204, 200)


@pytest.mark.parametrize("match, named", [
    ({"credential": "x", "credential_sha256": "0" * 64}, "not both"),
    ({"credential_sha256": "not-a-digest"}, "match.credential_sha256: the credential's SHA-256"),
    ({"headers": {"Authorization": {"sha256": "x"}}}, 'match.headers.Authorization: a value, or {"sha256"'),
])
def test_a_credential_digest_in_a_match_is_checked(match, named):
    client = create_app("close").test_client()
    refused = client.post("/__mock/overrides", json={"match": match, "respond": {"status": 204}})
    assert refused.status_code == 400 and named in refused.get_json()["error"]
