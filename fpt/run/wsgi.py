"""In-process WSGI apps (Flask, Django) for the virtual profile, through a2wsgi.

``fpt_load(flow, profile="virtual", target=app)`` takes an ASGI app or a WSGI app. A WSGI app
(``app(environ, start_response)``, synchronous) is wrapped in a2wsgi's ``WSGIMiddleware``, which
runs each request in a thread pool, so requests overlap as they do under a threaded WSGI server
(gunicorn's gthread, uWSGI threads, mod_wsgi): a thread-unsafe global shows as it would in
production. a2wsgi is the maintained adapter (used by Starlette's docs since its own WSGI
middleware was deprecated).
"""

from __future__ import annotations

import inspect
from typing import Any

#: threads serving a WSGI app in-process: enough for the virtual profile's 50/s with slow requests
WSGI_THREADS = 32


def is_wsgi(app: Any) -> bool:
    """Whether ``app`` is a WSGI app: a synchronous callable of exactly (environ, start_response).

    ASGI apps are ``async`` (a coroutine function, or an object whose ``__call__`` is one) and take
    three arguments (scope, receive, send); anything fpt cannot tell is left to ASGI, as before.
    """
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else getattr(app, "__call__", None)  # noqa: B004
    if call is None or inspect.iscoroutinefunction(call):
        return False
    try:
        params = [p for p in inspect.signature(call).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    return len(params) == 2


def as_asgi(app: Any) -> Any:
    """``app`` as an ASGI app: a WSGI app behind a2wsgi's thread pool, an ASGI app as it is."""
    if not is_wsgi(app):
        return app
    from a2wsgi import WSGIMiddleware

    return WSGIMiddleware(app, workers=WSGI_THREADS)
