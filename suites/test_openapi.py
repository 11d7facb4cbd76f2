"""FPT suite: the whole demo hunted from its OpenAPI document — no flow written, only the sign-in.

``fpt_load.openapi`` reads ``/openapi.json`` from the service, creates each member's visits,
reads, lists, reschedules and cancels them, and hunts every route with every detector; the
coverage table says what each operation got. Watch it fail:
``FPT_DEMO_BUGS=no_owner_check pytest -m fpt suites/test_openapi.py``.
"""

from __future__ import annotations

from fpt.demo import create_app
from suites.flows import sign_in


def test_whole_api_live(fpt_load, demo_url):
    """20 members at the live level through the real server, every operation of the document."""
    r = fpt_load.openapi("/openapi.json", auth=sign_in, target=demo_url, users=20, duration="6s",
                         probe_share=0.3)
    assert r.coverage is not None
    assert r.coverage.op("getVisit").probed > 0


def test_whole_api_virtual(fpt_load):
    """50 members at 50/s in-process; the reschedule (same date again) is safe to replay as others."""
    fpt_load.openapi("/openapi.json", auth=sign_in, profile="virtual", target=create_app(), users=50,
                     duration="4s", replay_writes=True)
