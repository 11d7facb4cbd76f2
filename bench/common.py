"""Shared helpers for the benchmarks: a local server on a pre-bound loopback socket."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from fpt.demo.server import free_port, stop_process, wait_for_http

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def uvicorn_server(app: str = "bench.hello_app:app", core: int | None = 1) -> Iterator[str]:
    """Start uvicorn (httptools, uvloop) on 127.0.0.1 on a free port; yield its base URL."""
    # Not `uvicorn --fd`: uvicorn takes an inherited fd for a Unix socket and then never
    # sets TCP_NODELAY, so Nagle and delayed ACKs add ~40 ms to split responses.
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--log-level",
         "warning", "--no-access-log", "--http", "httptools", "--loop", "uvloop", "--backlog", "4096", app],
        env=env, cwd=ROOT,
        preexec_fn=(lambda: os.sched_setaffinity(0, {core})) if core is not None else None)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_for_http(url + "/", proc, 20):
            raise RuntimeError("benchmark server did not start")
        yield url
    finally:
        stop_process(proc)


@contextlib.contextmanager
def nginx_server(core: int | None = 1) -> Iterator[str]:
    """Start nginx (one worker) on 127.0.0.1 answering a small JSON body; yield its URL."""
    import shutil
    import tempfile

    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed: apt-get install nginx")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(f"""
worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type application/json; return 200 '{{"hello":"world"}}'; }}
  }}
}}
""")
        pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
        proc = subprocess.Popen([binary, "-c", str(conf), "-p", tmp], preexec_fn=pin)
        url = f"http://127.0.0.1:{port}"
        try:
            if not wait_for_http(url + "/", proc, 10):
                raise RuntimeError("nginx did not start")
            yield url
        finally:
            stop_process(proc, timeout=10)


def max_in_window(times: list[float], window: float) -> int:
    """Most events in any ``window``-second span (two pointers over sorted times)."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def pin_to_core(core: int) -> None:
    """Keep this process on one core, so 'per core' figures mean what they say."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {core})


def run_locust(url: str, user_class: str, users: int, seconds: float, *, args: tuple[str, ...] = (),
               env: dict[str, str] | None = None) -> bool:
    """Headless Locust on core 0: ``users`` of ``user_class`` (bench/locustfile.py) for ``seconds``.

    All spawned at once; ``args`` are extra Locust options. False when Locust is not installed.
    """
    locust = shutil.which("locust")
    if locust is None:
        return False
    subprocess.run(
        ["taskset", "-c", "0", locust, "-f", str(Path(__file__).parent / "locustfile.py"), user_class,
         "--headless", "-u", str(users), "-r", str(users), "-t", f"{int(seconds)}s", "--host", url,
         "--only-summary", "--loglevel", "ERROR", *args],
        check=False, capture_output=True, timeout=seconds + 60, env=env)
    return True
