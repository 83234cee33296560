"""Live credentials: read from the environment (never the command line), turned into request
headers from the spec's security schemes, and masked in anything printed."""
from __future__ import annotations

import base64
import os
from collections.abc import Mapping


def from_env(vendor: str, env: Mapping[str, str] = os.environ) -> tuple[dict[str, str], dict[str, str]]:
    """(credentials by security scheme name, fixed parameters) for `vendor`, or MissingCredentials."""
    from mock_server.vendors import VENDOR_CLASSES  # the registry imports every vendor's live profile

    return VENDOR_CLASSES[vendor].LIVE.credentials(env)


def auth_headers(schemes: Mapping[str, dict], credentials: Mapping[str, str], security: list[dict]) -> dict[str, str]:
    """Headers satisfying the first of an operation's security requirements we hold credentials for."""
    for requirement in security:
        if all(name in credentials for name in requirement):
            headers = {}
            for name in requirement:
                scheme, value = schemes[name], credentials[name]
                if scheme.get("type") == "apiKey":
                    headers[scheme["name"]] = value
                elif scheme.get("scheme", "").lower() == "basic":
                    headers["Authorization"] = "Basic " + base64.b64encode(value.encode()).decode()
                else:
                    headers["Authorization"] = f"Bearer {value}"
            return headers
    return {}


def secret_forms(credentials: Mapping[str, str]) -> list[str]:
    """Every form a credential can take in output: raw values, both Basic halves, Basic's base64."""
    found = []
    for value in credentials.values():
        found += [value, base64.b64encode(value.encode()).decode(), *value.split(":")]
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
