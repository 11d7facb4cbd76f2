"""Run-summary lines about hunting: how arrivals were shaped, unevidenced steps, what each detector did."""


from __future__ import annotations

from fpt.evidence.checks import Evidence


def hunt_lines(ev: Evidence) -> list[str]:
    """Run-summary lines: how arrivals were shaped, checked steps never overlapped, what the detectors did."""
    out = []
    if ev.arrivals:
        n = ev.identity_nonce
        nonce = f"; identities nonce {n} (identity_nonce={n} reproduces them)" if n else ""
        out.append(f"arrivals: {ev.arrivals}{nonce}")
    if ev.steps_without_overlap:
        out.append(f"WEAK not evidenced: checked step(s) {', '.join(ev.steps_without_overlap)} never ran "
                   "concurrently with another user's")
    parts = []
    rp, c, k, pr, su = ev.replay, ev.cache, ev.cancel, ev.pairing, ev.setup
    if rp.enabled:
        parts.append(f"replay {rp.tried} as another user ({rp.denied} refused, {rp.own} own data, "
                     f"{rp.leaked} leaked, {rp.unproven} unproven) and {rp.anon_tried} without credentials "
                     f"({rp.anon_denied} refused, {rp.anon_leaked} leaked)")
    if c.enabled:
        parts.append(f"cache probe {c.tried} ({c.leaked} leaked; {c.storable} authenticated answers a shared "
                     "cache may store)")
    if k.enabled:
        parts.append(f"cancelled {k.cancelled} of {k.tried} ({k.retried_ok} resent ok)")
    if pr.enabled:
        parts.append(f"{pr.header} {pr.checked} paired, {pr.mismatched} mismatched, {pr.missing} not echoed")
    if su.enabled:
        parts.append(f"setup {su.ok}/{su.users} users ok")
    if ev.scan.shared:
        parts.append(f"{ev.scan.shared} foreign canaries on declared shared routes/steps")
    capped = rp.capped + c.capped + k.capped
    if capped:
        parts.append(f"{capped} passed over at hunt_max_rate (replay {rp.capped}, cache probe {c.capped}, "
                     f"cancel {k.capped})")
    if parts:
        out.append("hunting: " + "; ".join(parts))
    return out
