"""Locust users for the benchmarks: one GET per task.

``Fast`` and ``Plain`` loop without waiting (throughput); ``Paced`` runs its task
once a second per user with ``constant_throughput(1)`` (pacing: N users = N TPS)
and, when ``FPT_BENCH_STARTS`` names a file, writes every task start there as
``user-id start-time`` lines when Locust quits.
"""

import os
import time

from locust import HttpUser, constant, constant_throughput, events, task
from locust.contrib.fasthttp import FastHttpUser

STARTS: list[tuple[int, float]] = []


class Fast(FastHttpUser):
    """geventhttpclient-based user (Locust's fastest)."""

    wait_time = constant(0)

    @task
    def get(self) -> None:
        """One request."""
        self.client.get("/")


class Plain(HttpUser):
    """requests-based user (Locust's default)."""

    wait_time = constant(0)

    @task
    def get(self) -> None:
        """One request."""
        self.client.get("/")


class Paced(FastHttpUser):
    """Locust's own way to hold a rate: each user at most one task per second."""

    wait_time = constant_throughput(1)

    @task
    def get(self) -> None:
        """One request, its start time kept for the pacing figures."""
        STARTS.append((id(self), time.perf_counter()))
        self.client.get("/")


@events.quitting.add_listener
def _write_starts(environment: object, **kwargs: object) -> None:
    path = os.environ.get("FPT_BENCH_STARTS")
    if path:
        with open(path, "w") as fh:
            fh.writelines(f"{u} {t!r}\n" for u, t in STARTS)
