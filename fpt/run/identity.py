"""Synthetic identities for virtual users, deterministic from the run seed.

User *k* of seed *s* is the same person in every run and on every xdist worker, so
workers given disjoint index ranges never share a user. Each identity carries a
``canary``: a token of one fixed shape (``CANARY_RE``) that appears nowhere but in
that user's own data, so finding it in another user's response proves a swap.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

CANARY_PREFIX = "fptc"
CANARY_RE = re.compile(r"fptc[0-9a-f]{8}x[0-9a-f]{12}")
"""Every canary matches this; one regex pass over a body finds all candidates."""

SOLO_BASE = 10_000_000
"""Indexes from here on are single-user phases' users (alone runs, explore): outside every load pool."""


def make_canary(seed: int, index: int) -> str:
    """The canary of user ``index`` under ``seed``: unique per index by construction."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=6).hexdigest()
    return f"{CANARY_PREFIX}{index:08x}x{digest}"


@dataclass(frozen=True, kw_only=True)
class Identity:
    """A synthetic member: personal fields, credentials and a canary."""

    index: int
    name: str
    email: str
    phone: str
    birth_date: str
    address: str
    member_id: str
    password: str
    canary: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def credentials(self) -> dict[str, str]:
        """What a login form takes: email and password."""
        return {"email": self.email, "password": self.password}

    @property
    def username(self) -> str:
        """A login name: the email's local part with ``_`` for dots (``sandra_reyes_12``); unique per user."""
        return self.email.split("@", 1)[0].replace(".", "_")

    @property
    def label(self) -> str:
        """Short, non-personal name for reports: ``user#12``, or ``solo#0`` for a single-user phase's user."""
        if self.index >= SOLO_BASE:
            return f"solo#{self.index - SOLO_BASE}"
        return f"user#{self.index}"

    def profile(self) -> dict[str, str]:
        """Personal fields without the password, e.g. for a signup body."""
        return {
            "name": self.name, "email": self.email, "phone": self.phone,
            "birth_date": self.birth_date, "address": self.address,
            "member_id": self.member_id, "canary": self.canary,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (includes the synthetic password: never report it)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class IdentityFactory:
    """Makes identity ``k`` for a seed; the same (seed, k) always gives the same person."""

    def __init__(self, seed: int, locale: str = "en_US") -> None:
        from faker import Faker  # heavy import, kept out of `import fpt`

        self.seed = seed
        self._faker = Faker(locale)

    def make(self, index: int) -> Identity:
        """Build the identity of user ``index``."""
        f = self._faker
        f.seed_instance(self.seed * 1_000_003 + index)
        first, last = f.first_name(), f.last_name()
        local = re.sub(r"[^a-z.]", "", f"{first}.{last}".lower()).strip(".") or "member"
        return Identity(
            index=index,
            name=f"{first} {last}",
            # The index keeps emails unique where faker's names repeat.
            email=f"{local}.{index}@example.test",
            phone=f.numerify("+1-555-###-####"),
            birth_date=f.date_of_birth(minimum_age=18, maximum_age=90).isoformat(),
            address=f.address().replace("\n", ", "),
            member_id=f"M{self.seed % 1000:03d}{index:07d}",
            password=f.password(length=14, special_chars=False),
            canary=make_canary(self.seed, index),
        )


OWNER_FIELDS = ("email", "member_id", "canary", "phone")


class OwnerIndex:
    """Maps identity values (email, member id, canary, phone) to the user they belong to."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._by_value: dict[str, str] = {}
        self.canaries: dict[str, str] = {}
        self.by_index: dict[int, Identity] = {}
        self._factory: IdentityFactory | None = None

    def add(self, identity: Identity) -> None:
        """Register a user's identifying values."""
        self.by_index[identity.index] = identity
        for name in OWNER_FIELDS:
            self._by_value[str(getattr(identity, name))] = identity.label
        self.canaries[identity.canary] = identity.label

    def owner_of(self, value: object) -> str:
        """The label of the user ``value`` belongs to, or ``""`` when it is nobody's.

        Values of this seed's users that this run never built (another test's users,
        the single-user phase, another xdist worker) are recognised from the index
        they carry, checked against the identity that index makes.
        """
        s = str(value)
        label = self._by_value.get(s)
        if label is not None or self.seed is None:
            return label or ""
        index = _index_in(s, self.seed)
        if index is None:
            return ""
        if self._factory is None:
            self._factory = IdentityFactory(self.seed)
        ident = self._factory.make(index)
        if s in (ident.canary, ident.email, ident.member_id):
            self.add(ident)
            return ident.label
        return ""


_EMAIL_INDEX = re.compile(r"\.(\d+)@example\.test$")


def _index_in(value: str, seed: int) -> int | None:
    """The user index a canary, email or member id of ``seed`` carries, if any."""
    if CANARY_RE.fullmatch(value):
        return int(value[len(CANARY_PREFIX):len(CANARY_PREFIX) + 8], 16)
    m = _EMAIL_INDEX.search(value)
    if m:
        return int(m.group(1))
    prefix = f"M{seed % 1000:03d}"
    if value.startswith(prefix) and value[len(prefix):].isdigit() and len(value) == len(prefix) + 7:
        return int(value[len(prefix):])
    return None
