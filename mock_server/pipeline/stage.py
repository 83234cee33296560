"""The one extension seam of the request path: a `Stage`.

A stage is a small object with a `name` and one job. Request stages run in order and each either
lets the request go on (returns None), answers it (returns a `Reply`: later request stages are
skipped) or refuses it (returns a `MockError`, which the envelope stage renders in the vendor's
shape). Response stages then all run, and may replace the reply (return a `Reply`).

Stages are built once per vendor at start-up by `build(mount)`; returning None from `build`
leaves the stage out entirely (a switched-off feature costs nothing per request).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Union

from mock_server.pipeline.exchange import Exchange, Reply
from mock_server.problems import MockError

if TYPE_CHECKING:
    from mock_server.pipeline.runner import Mount

Outcome = Union[Reply, MockError, None]


class Stage:
    """Base class of every pipeline stage. Subclasses set `name` and implement `__call__`."""

    name: ClassVar[str] = ""

    def __init__(self, mount: Mount) -> None:
        self.mount = mount

    @classmethod
    def build(cls, mount: Mount) -> Stage | None:
        """The stage for one vendor mount, or None when its feature is off for this app."""
        return cls(mount)

    def __call__(self, exchange: Exchange) -> Outcome:
        raise NotImplementedError

    def confirm(self, exchange: Exchange) -> None:
        """After the request stages: check what this stage relied on without reading it (the store
        checks it with a later statement, a round trip saved). Raise `store.base.Stale` if it had
        changed; then the request stages from the first stage that confirms run again, with
        `exchange.rerun` set (read it now, this time). Most stages rely on nothing."""

    def reset(self) -> None:
        """Forget what this stage keeps between requests (`POST /__mock/reset`)."""

    def __repr__(self) -> str:
        return f"<stage {self.name}>"
