"""Redaction of secrets and personal values: the public face of :mod:`fpt.config.redact`.

``fpt.config.redact.register(value)`` adds a secret of your own; ``fpt.config.redact.scrub(text)`` is the
pass fpt applies to every text it emits.
"""

from fpt.config.redact import REDACTED, forget, known, mask, register, scrub

__all__ = ["REDACTED", "forget", "known", "mask", "register", "scrub"]
