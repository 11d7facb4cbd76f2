"""The embedded demo service: appointment booking for health-plan members."""

from fpt.demo.app import BUGS, create_app

__all__ = ["BUGS", "create_app"]
