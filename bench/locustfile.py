"""Locust users for the throughput comparison: one GET per task, no wait."""

from locust import HttpUser, constant, task
from locust.contrib.fasthttp import FastHttpUser


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
