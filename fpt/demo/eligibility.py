"""The downstream the booking service calls: member eligibility (a live dependency)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def eligibility_of(member_id: str) -> dict[str, object]:
    """Deterministic answer: eligible unless the member id ends with 13."""
    return {"member_id": member_id, "eligible": not member_id.endswith("13"), "plan": "standard"}


async def eligibility(request: Request) -> Response:
    """``GET /eligibility/{member_id}``."""
    return JSONResponse(eligibility_of(request.path_params["member_id"]))


async def health(request: Request) -> Response:
    """Liveness."""
    return JSONResponse({"status": "ok"})


def create_eligibility_app() -> Starlette:
    """The eligibility service."""
    return Starlette(routes=[Route("/eligibility/{member_id}", eligibility), Route("/health", health)])
