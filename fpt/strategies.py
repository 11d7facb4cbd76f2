"""Hypothesis strategies for boundary and negative inputs (for ``fpt_load.explore``)."""

from __future__ import annotations

from typing import Any


def boundary_text(max_size: int = 5000) -> Any:
    """Empty, whitespace, very long, unicode and control-character strings."""
    from hypothesis import strategies as st

    return st.one_of(
        st.just(""),
        st.sampled_from([" ", "\t\n", "\x00", "'; DROP TABLE visits; --", "<script>x</script>",
                         "🩺" * 3, "\uff46\uff55\uff4c\uff4c", "\u202egnp.exe"]),
        st.text(max_size=50),
        st.text(min_size=max_size // 2, max_size=max_size),
    )


def wrong_types() -> Any:
    """Wrong JSON types where a string is expected (all JSON-encodable: no NaN, no inf)."""
    from hypothesis import strategies as st

    return st.one_of(st.none(), st.booleans(), st.integers(),
                     st.floats(allow_nan=False, allow_infinity=False),
                     st.lists(st.integers(), max_size=3),
                     st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


def foreign_ids(low: int = 1, high: int = 10_000) -> Any:
    """Object ids that may belong to other members (for broken object-level authorization)."""
    from hypothesis import strategies as st

    return st.integers(min_value=low, max_value=high)
