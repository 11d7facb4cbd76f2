"""Foreign personal data: every identity value unique to one user, found in any answer in one pass.

The canary scan proves a swap of whatever carries a canary. A service that mixes two
records field by field (the caller's own email and member id, another member's phone and
address) carries no foreign canary; ``expect_owner`` sees only the fields a flow names.
This index holds every identity value that belongs to exactly one user of the run (email,
phone, address, member id, and name when no other user has the same one) in one
Aho-Corasick automaton (``ahocorasick_rs``, on the Rust ``aho-corasick`` crate), so a body
is searched for all of them at once: the cost follows the body's length and what it
matches, not the number of users (``bench/scan.py`` measures it from 10 to 100,000 users).

What counts, and why (a finding must be proven):

- a value two users share (a common name, a phone faker made twice) is nobody's alone and
  is left out; so are values shorter than :data:`MIN_LENGTH` and parts of values (a
  city is in many addresses: only whole values are indexed);
- a match must stand on its own (no letter or digit right before or after it), so
  ``Ann Lee`` is not found inside ``Joann Leeds``;
- a name is weak evidence (real names collide with the world: a doctor, an author): a
  name alone is counted as unproven, a name next to a stronger value is named with it.

Users join a run as it goes (large pools are built on first use), so the automaton is
built again when users were added, at most so often that building takes a tenth of the
time (a pool of 2,000 users, built before the clock starts, is indexed once).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick_rs

from fpt.run.identity import Identity, OwnerIndex

#: identity fields indexed, strongest first
FIELDS = ("email", "member_id", "phone", "address", "name")
#: fields whose match alone proves whose data it is (a name alone does not)
STRONG = frozenset({"email", "member_id", "phone", "address"})
#: shorter values are left out (too likely to occur by chance)
MIN_LENGTH = 6
#: rebuilding may take at most this share of the time between two rebuilds
BUILD_SHARE = 0.1
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")


@dataclass(frozen=True)
class Match:
    """One value found: whose (user index) and which field."""

    user: int
    field: str
    value: str


class PersonalIndex:
    """The unique identity values of the users ``owners`` knows, in one automaton (see the module)."""

    def __init__(self, owners: OwnerIndex) -> None:
        self.owners = owners
        self._automaton: ahocorasick_rs.BytesAhoCorasick | None = None
        self._meta: list[Match] = []
        self._indexed = -1
        self._next_build = 0.0
        #: times the automaton was built, and the seconds it took in all
        self.builds = 0
        self.build_seconds = 0.0

    def _fresh(self) -> ahocorasick_rs.BytesAhoCorasick | None:
        """The automaton, built again first if users were added (no more often than BUILD_SHARE allows)."""
        users = len(self.owners.by_index)
        if users != self._indexed and (self._automaton is None or time.perf_counter() >= self._next_build):
            self.build(self.owners.by_index.values())
        return self._automaton

    def build(self, identities: Iterable[Identity]) -> None:
        """Index the values of ``identities`` that belong to one of them only."""
        start = time.perf_counter()
        owner: dict[bytes, Match] = {}
        common: set[bytes] = set()
        count = 0
        for ident in identities:
            count += 1
            for name in FIELDS:
                value = str(getattr(ident, name))
                key = value.encode().lower()
                if len(key) < MIN_LENGTH or key in common:
                    continue
                seen = owner.get(key)
                if seen is None:
                    owner[key] = Match(ident.index, name, value)
                elif seen.user != ident.index:
                    del owner[key]  # two users have it: nobody's alone
                    common.add(key)
        keys = list(owner)
        self._meta = list(owner.values())
        self._automaton = ahocorasick_rs.BytesAhoCorasick(keys) if keys else None
        self._indexed = count
        took = time.perf_counter() - start
        self.builds += 1
        self.build_seconds += took
        self._next_build = start + took / BUILD_SHARE

    def find(self, low: bytes) -> list[Match]:
        """Every indexed value in ``low`` (a lowered body) that stands on its own, in order."""
        automaton = self._fresh()
        if automaton is None:
            return []
        meta = self._meta
        out = []
        end_of = len(low)
        for i, start, end in automaton.find_matches_as_indexes(low, overlapping=True):
            if (start and low[start - 1] in _WORD) or (end < end_of and low[end] in _WORD):
                continue
            out.append(meta[i])
        return out


def split(found: list[Match], me: int) -> tuple[list[str], dict[int, list[Match]]]:
    """The fields of user ``me`` in ``found``, and the rest by owner (each field once)."""
    own: list[str] = []
    foreign: dict[int, list[Match]] = {}
    for m in found:
        if m.user == me:
            if m.field not in own:
                own.append(m.field)
        else:
            got = foreign.setdefault(m.user, [])
            if all(x.field != m.field for x in got):
                got.append(m)
    return own, foreign
