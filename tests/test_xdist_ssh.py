"""xdist over ssh, proven: a real sshd on 127.0.0.1, two workers reached through it, one merged checklist.

The remote host (here the same machine, through sshd) has fpt installed and the suite checked out
at the same path: the spec's ``python=`` is that environment's interpreter and ``chdir=`` the
checkout, so no ``--rsyncdir`` is needed (xdist deprecated it).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_xdist import APP as XDIST_APP

SSHD = Path("/usr/sbin/sshd")

APP = XDIST_APP  # the same app as the local xdist test

TEST = '''
import json, os
import xapp
from xapp import app, flow

def test_load(fpt_load):
    r = fpt_load(flow, profile="virtual", target=app, rate=40, users=8, duration=1, alone=0)
    out = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(f"worker-{out}.json", "w") as fh:
        json.dump({"first": r.first_user, "users": r.users, "started": r.engine.started,
                   "canaries": sorted(xapp.CANARIES), "ssh": os.environ.get("SSH_CONNECTION", ""),
                   "python": os.path.realpath(os.sys.executable)}, fh)
'''


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: .ci/run installs it with apt-get install openssh-server")
    pytest.skip(f"{why} (apt-get install openssh-server)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ssh_config(tmp_path: Path) -> Iterator[Path]:
    """A throw-away sshd on 127.0.0.1 (its own host key, one authorised user key) and an ssh_config
    naming it ``fpt-remote``; the daemon is stopped at the end."""
    if not SSHD.exists():
        _missing(f"{SSHD} not found")
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            _missing(f"{tool} not found")
    privsep = Path("/run/sshd")  # sshd refuses to start without it (Debian's unit makes it)
    if not privsep.is_dir():
        if os.geteuid() != 0:
            _missing(f"{privsep} is missing and only root can make it")
        privsep.mkdir(mode=0o755, parents=True, exist_ok=True)
    user = pwd.getpwuid(os.getuid()).pw_name
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)],
                       check=True, timeout=30)
    (tmp_path / "authorized_keys").write_text((tmp_path / "user_key.pub").read_text())
    port = _free_port()
    (tmp_path / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\nPidFile {tmp_path / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host fpt-remote\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n"
        f"  IdentityFile {tmp_path / 'user_key'}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  BatchMode yes\n  LogLevel ERROR\n")
    log = (tmp_path / "sshd.log").open("w")
    daemon = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(tmp_path / "sshd_config")],
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:  # bounded: the daemon listens within moments or the test says why not
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"sshd did not listen on 127.0.0.1:{port}: "
                                f"{(tmp_path / 'sshd.log').read_text()[-2000:]}")
                time.sleep(0.1)
        yield config
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


def test_dist_each_over_ssh_merges_one_checklist(pytester: pytest.Pytester, ssh_config: Path) -> None:
    pytester.makepyfile(xapp=APP, test_x=TEST)
    probe = subprocess.run(["ssh", "-F", str(ssh_config), "fpt-remote", "echo", "ok"], capture_output=True,
                           text=True, timeout=60, check=False)
    assert probe.stdout.strip() == "ok", probe.stderr
    # -n would replace --tx with local workers: the count goes in the spec (2*ssh=...).
    spec = f"2*ssh=fpt-remote//ssh_config={ssh_config}//python={sys.executable}//chdir={pytester.path}"
    res = pytester.runpytest_subprocess("-m", "fpt", "-p", "no:cacheprovider", "--dist", "each", "--tx", spec,
                                        timeout=300)
    res.assert_outcomes(passed=2)
    assert "rsync" not in res.stdout.str().lower()
    parts = [json.loads((pytester.path / f"worker-gw{i}.json").read_text()) for i in (0, 1)]
    # both workers ran through sshd, with the remote's installed fpt (this environment's interpreter)
    assert all(p["ssh"].startswith("127.0.0.1 ") for p in parts)
    assert {p["python"] for p in parts} == {os.path.realpath(sys.executable)}
    assert sorted((p["first"], p["users"]) for p in parts) == [(0, 4), (4, 4)]  # disjoint slices
    assert not set(parts[0]["canaries"]) & set(parts[1]["canaries"])
    assert sum(p["started"] for p in parts) == 40
    dod = json.loads((pytester.path / "fpt-report" / "fpt-dod.json").read_text())
    (run,) = dod["runs"]
    assert (run["iterations"], run["users"], run["shape"]) == (40, 8, "40/s")
    assert sorted(run["worker"].split(",")) == ["gw0", "gw1"]
    assert dod["tests"] == {"passed": 1, "failed": 0, "skipped": 0}
    assert dod["incomplete"] == []
    res.stdout.fnmatch_lines(["test_x.py::test_load — flow flow * merged from 2 xdist workers (gw*,gw*)"])
