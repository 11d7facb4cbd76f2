"""Make tests/ helpers importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# pytester's in-process runs drop the modules a run imported; numpy (under matplotlib,
# used by the HTML report) cannot be imported twice in one process, so load it once here.
import matplotlib.backends.backend_svg
import matplotlib.figure  # noqa: F401


def _outside_any_ci_job() -> None:
    """The repo's tests judge checklist files they make themselves: inside a CI job, `fpt gate`
    would refuse every hand-made one (no CI job recorded). Tests about CI jobs set what they need."""
    import os

    from fpt.evidence.provenance import CI_JOBS

    for _, names in CI_JOBS:
        for name in names:
            os.environ.pop(name, None)


_outside_any_ci_job()
