"""fpt's exceptions.

Tree::

    FptError                 root of everything fpt raises on purpose
    ├── ConfigError          a bad configuration value (becomes pytest.UsageError)
    ├── FptFailure           a run finished and one or more checks failed
    └── EngineError          the load engine was misused (bad schedule, no users)
"""

from __future__ import annotations


class FptError(Exception):
    """Root of every error fpt raises on purpose."""


class ConfigError(FptError):
    """A configuration value is wrong: names the key, the bad value and what is allowed."""

    def __init__(self, key: str, value: object, allowed: str, source: str = "") -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        self.source = source
        where = f" (from {source})" if source else ""
        super().__init__(f"fpt: {key} must {allowed}; got {value!r}{where}")

    def with_source(self, source: str) -> ConfigError:
        """Return the same error, saying where the value came from."""
        return ConfigError(self.key, self.value, self.allowed, source)


class FptFailure(FptError, AssertionError):
    """A load run ended with failed checks; the message is a readable summary."""


class EngineError(FptError):
    """The load engine was given something it cannot run."""
