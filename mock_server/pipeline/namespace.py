"""namespace: the `X-Crm-Mock-Namespace` header (or a `/__ns/NAME/` base URL) selects the world a
request sees, so parallel CI jobs share one server without seeing each other's data.

Without either, a request is the default namespace's and this stage costs one dict lookup. A new
namespace is seeded on first use from the server's --seed (same seed, same world); a bad name gets
the vendor's own validation answer naming the header.
"""
from __future__ import annotations

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.problems import Problem, validation_failed
from mock_server.store.namespaced import CURRENT, ENVIRON_KEY, HEADER, BadNamespace, check_name


class SelectNamespace(Stage):
    name = "namespace"

    @classmethod
    def build(cls, mount):
        return cls(mount) if mount.namespaces is not None else None

    def __call__(self, exchange: Exchange) -> Outcome:
        name = exchange.request.environ.get(ENVIRON_KEY)
        if name is None:
            assert self.mount.namespaces is not None
            self.mount.namespaces.tick()  # idle namespaces expire whatever namespace the traffic is for
            return None  # the default namespace, set by the runner
        try:
            check_name(name)
        except BadNamespace as error:
            return validation_failed([Problem(HEADER, "invalid", str(error), name)])
        CURRENT.set(name)  # the runner restores the previous value after the request
        assert self.mount.namespaces is not None
        self.mount.namespaces.enter(name)
        return None
