"""Close's list filters: query parameters (`x`, `x__in`, `date__gt`, ...) as store conditions."""
from __future__ import annotations

from mock_server.timefmt import parse_utc
from mock_server.vendors.close.formats import close_datetime

FILTER_OPERATORS = ("gt", "gte", "lt", "lte")


def filters(query: dict, exact: tuple[str, ...], dated: tuple[str, ...]) -> list[tuple]:
    """Close's filter parameters → store conditions (`x`, `x__in`, `date__gt`, ...)."""
    where = []
    for name in exact:
        if name in query:
            where.append((name, "eq", query[name]))
        if f"{name}__in" in query:
            where.append((name, "in", query[f"{name}__in"].split(",")))
    for name in dated:
        for op in FILTER_OPERATORS:
            value = query.get(f"{name}__{op}")
            if value is None:
                continue
            if name == "date_won":  # a date field: compare dates
                value = value[:10]
            elif "T" in value:  # compare in Close's own UTC format, so string order is time order
                value = close_datetime(parse_utc(value, f"{name}__{op}"))
            where.append((name, op, value))
    return where


def only_fields(record: dict, wanted: str) -> dict:
    """Close "Specifying Fields" (`_fields`): only the named keys; `custom` names every custom field."""
    names = wanted.split(",")
    out = {k: record[k] for k in names if k in record}
    if "custom" in names:
        out.update({k: v for k, v in record.items() if k.startswith("custom.")})
    return out
