"""What talking to a vendor's real API needs to know about that vendor, declared once per vendor
(`mock_server/vendors/<vendor>/live.py`): where its credentials come from, how fast to go, and
what its throttling answer looks like."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


class MissingCredentials(ValueError):
    """A live target's credential variable is not set."""


@dataclass(frozen=True)
class SideEffect:
    """Records a create makes beside its own, and how a run that made them removes them."""

    create: str  # operationId of the create that makes them
    what: str  # for people: "status-change activities"
    delete: str  # operationId deleting one (its one path parameter takes the ID)
    listing: str | None = None  # a list operation finding them ...
    by: str | None = None  # ... by this query parameter, given the created record's ID
    from_answer: str | None = None  # or: the create's answer names one in this field ...
    unless_sent: str | None = None  # ... unless the request itself sent that field


@dataclass(frozen=True)
class LiveProfile:
    rate: str  # client-side pace under the vendor's published limits, e.g. "5/s"
    # env → (credentials by security scheme name, fixed parameter values such as SprintHub's instance)
    credentials: Callable[[Mapping[str, str]], tuple[dict[str, str], dict[str, str]]]
    # (status, headers, body bytes) → is this the vendor's "slow down"? (429 always is)
    throttled: Callable[[int, Mapping, bytes], bool] = lambda status, headers, content: False
    side_effects: tuple[SideEffect, ...] = ()


def need(vendor: str, env: Mapping[str, str], *names: str) -> list[str]:
    """The values of `names` in `env`, or MissingCredentials naming every one that is missing."""
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise MissingCredentials(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: a live {vendor} target "
            "reads its credentials from the environment, never the command line")
    return [env[n] for n in names]
