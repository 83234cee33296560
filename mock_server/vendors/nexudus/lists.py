"""Nexudus' paged list envelope: filters, date ranges, ordering and the paging fields."""
from __future__ import annotations

import math

from mock_server.store import Query
from mock_server.vendors.base import Reply, Vendor
from mock_server.vendors.nexudus.formats import normalized


def paged(vendor: Vendor, kind: str, q: dict, filters: dict, ranges: dict) -> Reply:
    """One page in the Nexudus list envelope; FirstItem/LastItem are 1-based, 0 when empty."""
    where = [(field, "eq", q[name]) for name, field in filters.items() if name in q]
    for name, field in ranges.items():
        for prefix, op in (("from_", "gte"), ("to_", "lte")):
            if prefix + name in q:
                where.append((field, op, normalized(q[prefix + name], prefix + name)))
    page, size, order_field = q["page"], q["size"], q["orderBy"]
    descending = q["dir"] != 0  # 1 (.NET ListSortDirection.Descending) or -1 (developers.nexudus.com)
    order = [(order_field, descending)] + ([("Id", descending)] if order_field != "Id" else [])
    offset = (page - 1) * size
    rows, total = vendor.store.page(vendor.collection(kind), Query(where, order, offset, size))
    pages = math.ceil(total / size)
    return Reply(200, {
        "Records": rows, "CurrentPage": page, "CurrentPageSize": size,
        "CurrentOrderField": order_field, "CurrentSortDirection": 1 if descending else 0,
        "FirstItem": offset + 1 if rows else 0, "LastItem": offset + len(rows) if rows else 0,
        "TotalItems": total, "TotalPages": pages,
        "HasNextPage": page < pages, "HasPreviousPage": page > 1,
    })
