"""The checklist's catalogue: every item and what it asks, the built-in levels, the limits applied
by default, and the file's schema version."""

from __future__ import annotations

from fpt.evidence.narrowing import SELECTION_ITEM, STRENGTH_ITEM
from fpt.judge.outcome import Status

SCHEMA_VERSION = 2
PASSED, FAILED, NOT_EVIDENCED = Status.PASSED, Status.FAILED, Status.NOT_EVIDENCED

ITEMS: dict[str, str] = {
    "suite.executed": "at least one FPT test ran (not all skipped)",
    "functional.single_user": "each flow passes for one user alone",
    "data_swap.multi_user_live": "zero swaps under multi-user load, live profile",
    "data_swap.high_traffic_virtual": "zero swaps at high traffic, virtual profile",
    "data_swap.negative_concurrency": "cross-user access attempts all denied",
    "autoscaling.session_continuity": "no broken session across scale out and in",
    "autoscaling.no_data_loss": "every acknowledged write read back",
    "autoscaling.degradation": "p90 / error rate during scaling within limits",
    "performance.response_time": "p90 (and configured percentiles) within SLA",
    "performance.error_rate": "error rate within limit",
    "performance.throughput": "achieved rate >= 95% of target, dropped within limit",
    "performance.baseline": "no regression against the stored baseline",
    "performance.stress_recovery": "stress: a stair broke (rate and how named) and the service recovered",
    "performance.spike": "spike: errors during it within limit, back to baseline in time",
    "performance.soak_memory": "soak: the service's own RSS growth within limit over a long enough span",
    "performance.volume": "volume: p90 growth with seeded records per user within limit",
    SELECTION_ITEM: "every collected FPT test ran (none deselected by -k, --deselect, --lf)",
    STRENGTH_ITEM: "no check narrowed below its floor (shared/public routes, scan or hunting off, "
                   "loose limits)",
}
"""Every item, in the checklist's order, and what it asks (the item's description in the file)."""
DEFAULT_LEVELS: dict[str, tuple[str, ...]] = {
    "squad": ("suite.executed", "functional.single_user", "data_swap.multi_user_live",
              "data_swap.high_traffic_virtual", "data_swap.negative_concurrency",
              "performance.error_rate", "performance.throughput"),
    "release": tuple(ITEMS),
}
DEFAULT_THROUGHPUT = ("throughput>=95%", "dropped<=1%")
"""Applied to every run that sets no throughput or dropped threshold of its own."""
DEFAULT_SOAK = ("service_rss_growth<10%",)
"""Applied to every run whose service RSS samples span soak_min_span and that sets no limit of its own."""
DEFAULT_VOLUME = ("volume_p90_growth<50%",)
"""Applied to every volume run that sets no volume_p90_growth limit of its own."""
EXAMPLES = 3
"""How many examples (findings, thresholds, runs) an item shows."""
