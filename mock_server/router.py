"""(method, path) → the spec operation and its path parameters, or a 404/405."""
from __future__ import annotations

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

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        methods, params = self.literal.get(path), {}
        if methods is None:
            for regex, candidate in self.routes:
                found = regex.match(path)
                if found:
                    methods, params = candidate, found.groupdict()
                    break
            else:
                raise MockError(404, "no_route", f"No route for {method} {path}.")
        op = methods.get("GET" if method == "HEAD" else method)
        if op is None:
            allowed = ", ".join(sorted(methods))
            raise MockError(405, "method_not_allowed", f"Method {method} is not allowed here.",
                            headers={"Allow": allowed})
        return op, params
