"""``python -m fpt.demo --port 8000 [--bugs shared_cache,...]``: the same as ``fpt demo``."""

from __future__ import annotations

import sys

from fpt.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
