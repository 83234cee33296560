"""Leads: only their deletion is served (Close makes an "Untitled" lead for an opportunity created
without `lead_id`, and a contract run must be able to remove what it made)."""
from __future__ import annotations

from mock_server.store import Query
from mock_server.vendors.base import Call, Reply, operation


class Leads:
    """Mixed into Close."""

    @operation("deleteLead")
    def delete_lead(self, call: Call) -> Reply:
        """The lead and its contacts. Its opportunities and their history stay readable (a narrower
        delete than Close's, which removes them too; see the spec's deleteLead)."""
        lead_id = call.path["id"]
        self.remove("leads", lead_id, "Lead")
        for kind in ("contacts",):
            rows, _ = self.store.query(self.collection(kind), Query([("lead_id", "eq", lead_id)]))
            for row in rows:
                self.store.delete(self.collection(kind), row["id"])
        return Reply(200, {})
