"""Make tests/ helpers importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# pytester's in-process runs drop the modules a run imported; numpy (under matplotlib,
# used by the HTML report) cannot be imported twice in one process, so load it once here.
import matplotlib.backends.backend_svg
import matplotlib.figure  # noqa: F401
