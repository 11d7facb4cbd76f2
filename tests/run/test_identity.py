"""Synthetic identities: deterministic, unique, with one canary shape."""

from __future__ import annotations

from fpt.run.identity import CANARY_RE, IdentityFactory, make_canary


def test_same_seed_same_people() -> None:
    a = [IdentityFactory(7).make(i) for i in range(20)]
    b = [IdentityFactory(7).make(i) for i in reversed(range(20))]
    assert a == list(reversed(b))
    c = [IdentityFactory(8).make(i) for i in range(20)]
    assert [x.email for x in a] != [x.email for x in c]


def test_unique_fields_and_canary_shape() -> None:
    f = IdentityFactory(1)
    people = [f.make(i) for i in range(2000)]
    for field in ("email", "member_id", "canary"):
        assert len({getattr(p, field) for p in people}) == 2000, field
    assert all(CANARY_RE.fullmatch(p.canary) for p in people)
    assert all(p.email.endswith("@example.test") for p in people)
    # a canary never contains another user's canary
    assert make_canary(1, 10**6) != make_canary(1, 10**6 + 1)


def test_credentials_and_profile_leave_out_nothing_needed() -> None:
    p = IdentityFactory(3).make(4)
    assert p.credentials == {"email": p.email, "password": p.password}
    assert "password" not in p.profile()
    assert p.label == "user#4"
