"""route: (method, path) → the spec operation and its path parameters, or a 404/405."""
from __future__ import annotations

import re

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.problems import MockError
from mock_server.spec import Operation, path_regex


class Router:
    def __init__(self, base_path: str, operations: list[Operation]):
        by_template: dict[str, dict[str, Operation]] = {}
        for op in operations:
            by_template.setdefault(op.path, {})[op.method] = op
        # Literal paths before templated ones, so /things/export never matches /things/{id}.
        ordered = sorted(by_template.items(), key=lambda item: item[0].count("{"))
        self.routes = [(path_regex(base_path, template), methods) for template, methods in ordered]
        self.literal = {base_path + t: m for t, m in by_template.items() if "{" not in t}

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | MockError:
        # Forgiving like the vendors' own frameworks: `//` is one slash, and a trailing slash
        # may be missing or extra (Close's Flask redirects to the slashed URL; here it just serves).
        if "//" in path:
            path = re.sub("/{2,}", "/", path)
        alternative = path[:-1] if path.endswith("/") else path + "/"
        for candidate_path in (path, alternative):
            found = self._find(candidate_path)
            if found:
                methods, params = found
                break
        else:
            return MockError(404, "no_route", f"No route for {method} {path}.")
        op = methods.get("GET" if method == "HEAD" else method)
        if op is None:
            allowed = ", ".join(sorted(methods))
            return MockError(405, "method_not_allowed", f"Method {method} is not allowed here.",
                            headers={"Allow": allowed})
        return op, params

    def _find(self, path: str):
        methods = self.literal.get(path)
        if methods is not None:
            return methods, {}
        for regex, candidate in self.routes:
            found = regex.match(path)
            if found:
                return candidate, found.groupdict()
        return None


class Route(Stage):
    """Finds the spec operation; an unknown path or method is refused in the vendor's shape."""

    name = "route"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.router = Router(mount.base, mount.vendor.spec.operations)

    def __call__(self, exchange: Exchange) -> Outcome:
        found = self.router.match(exchange.request.method, exchange.request.path)
        if isinstance(found, MockError):
            return found
        exchange.op, exchange.path_params = found
        return None
