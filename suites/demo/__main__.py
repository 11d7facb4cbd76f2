"""``python -m suites.demo --port 8000 [--bugs shared_cache,...]``: run the demo by hand."""

from __future__ import annotations

import argparse
import os

import uvicorn


def main() -> None:
    """Serve the booking demo on 127.0.0.1 until interrupted."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--bugs", default="", help="comma-separated: shared_cache, request_global, "
                    "no_owner_check, leaky_listing")
    args = ap.parse_args()
    os.environ["FPT_DEMO_BUGS"] = args.bugs
    uvicorn.run("suites.demo.app:create_app_from_env", factory=True, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
