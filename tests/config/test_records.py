"""fpt.config.records.changed: the plain form of a reason record keeps what differs from the defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from fpt.config.records import changed


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reason:
    kind: str
    count: int = 0
    words: str = ""
    errors: Mapping[str, int] = dataclasses.field(default_factory=dict)


def test_only_what_differs_from_a_default_and_what_has_none() -> None:
    assert changed(Reason(kind="k")) == {"kind": "k"}
    assert changed(Reason(kind="", count=3, errors={"timeout": 1})) == {"kind": "", "count": 3,
                                                                       "errors": {"timeout": 1}}
    full = Reason(kind="k", count=2, words="w", errors={"x": 1})
    assert Reason(**changed(full)) == full
