"""A second service, written with FastAPI, hunted from its own generated /openapi.json.

Notes of signed-in users, with three switchable data-swap bugs as they get into services:

- ``read_no_owner``: ``GET /notes/{note_id}`` loads the note by id and never checks whose it is;
- ``write_no_owner``: ``PUT /notes/{note_id}`` replaces any user's note and answers with it;
- ``leaky_list``: ``GET /notes`` lists every user's notes (a filter forgotten in a refactor).

And operations the derived flow cannot or must not call, so the coverage table has every
reason to show: a file upload, an admin report (403 to members), a parameter nobody can
build, the sign-in routes.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterable
from typing import Annotated

from fastapi import Cookie, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field

BUGS = ("read_no_owner", "write_no_owner", "leaky_list")


class SignUp(BaseModel):
    email: str = Field(max_length=200)
    password: str = Field(min_length=8, max_length=100)
    name: str = Field(max_length=200)


class Login(BaseModel):
    email: str
    password: str


class NoteIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=2000)
    pinned: bool = False


class Note(NoteIn):
    id: int
    owner: str


class Notes(BaseModel):
    notes: list[Note]


class Me(BaseModel):
    email: str
    name: str


def create_app(bugs: Iterable[str] = ()) -> FastAPI:
    """The notes service; ``bugs`` from :data:`BUGS`."""
    chosen = frozenset(bugs)
    unknown = chosen - set(BUGS)
    if unknown:
        raise ValueError(f"unknown bug {sorted(unknown)[0]!r}")
    app = FastAPI(title="Notes")
    users: dict[str, dict[str, str]] = {}
    sessions: dict[str, str] = {}
    notes: dict[int, dict[str, object]] = {}
    ids = itertools.count(1)

    def who(sid: str | None) -> str:
        email = sessions.get(sid or "")
        if email is None:
            raise HTTPException(401, "sign in first")
        return email

    def owned(note_id: int, email: str, unchecked: bool) -> dict[str, object]:
        note = notes.get(note_id)
        if note is None or (note["owner"] != email and not unchecked):
            raise HTTPException(404, "no such note")
        return note

    @app.post("/signup", status_code=201, operation_id="signUp")
    async def sign_up(body: SignUp) -> Me:
        if body.email in users:
            raise HTTPException(409, "exists")
        users[body.email] = body.model_dump()
        return Me(email=body.email, name=body.name)

    @app.post("/login", operation_id="logIn")
    async def log_in(body: Login, response: Response) -> dict[str, str]:
        user = users.get(body.email)
        if user is None or not secrets.compare_digest(user["password"], body.password):
            raise HTTPException(401, "bad credentials")
        sid = secrets.token_urlsafe(16)
        sessions[sid] = body.email
        response.set_cookie("sid", sid, httponly=True)
        return {"ok": "yes"}

    @app.get("/me", operation_id="getMe")
    async def me(sid: Annotated[str | None, Cookie()] = None) -> Me:
        email = who(sid)
        return Me(email=email, name=users[email]["name"])

    @app.post("/notes", status_code=201, operation_id="createNote", tags=["notes"])
    async def create_note(body: NoteIn, sid: Annotated[str | None, Cookie()] = None) -> Note:
        email = who(sid)
        note = {**body.model_dump(), "id": next(ids), "owner": email}
        await asyncio.sleep(0.001)  # the database write
        notes[int(note["id"])] = note  # type: ignore[call-overload]
        return Note(**note)  # type: ignore[arg-type]

    @app.get("/notes", operation_id="listNotes", tags=["notes"])
    async def list_notes(sid: Annotated[str | None, Cookie()] = None) -> Notes:
        email = who(sid)
        await asyncio.sleep(0.001)  # the database read
        rows = [n for n in notes.values() if "leaky_list" in chosen or n["owner"] == email]
        return Notes(notes=[Note(**n) for n in rows[-20:]])  # type: ignore[arg-type]

    @app.get("/notes/{note_id}", operation_id="getNote", tags=["notes"])
    async def get_note(note_id: int, sid: Annotated[str | None, Cookie()] = None) -> Note:
        await asyncio.sleep(0.001)  # the database read
        return Note(**owned(note_id, who(sid), "read_no_owner" in chosen))  # type: ignore[arg-type]

    @app.put("/notes/{note_id}", operation_id="updateNote", tags=["notes"])
    async def update_note(note_id: int, body: NoteIn, sid: Annotated[str | None, Cookie()] = None) -> Note:
        note = owned(note_id, who(sid), "write_no_owner" in chosen)
        await asyncio.sleep(0.001)  # the database write
        note.update(body.model_dump())
        return Note(**note)  # type: ignore[arg-type]

    @app.delete("/notes/{note_id}", status_code=204, operation_id="deleteNote", tags=["notes"])
    async def delete_note(note_id: int, sid: Annotated[str | None, Cookie()] = None) -> Response:
        owned(note_id, who(sid), False)
        del notes[note_id]
        return Response(status_code=204)

    upload = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}}}

    @app.post("/notes/{note_id}/attachments", status_code=201, operation_id="attachFile", tags=["notes"],
              openapi_extra=upload)
    async def attach(note_id: int, request: Request,
                     sid: Annotated[str | None, Cookie()] = None) -> dict[str, int]:
        owned(note_id, who(sid), False)
        return {"size": len(await request.body())}

    @app.get("/admin/stats", operation_id="adminStats", tags=["admin"])
    async def stats(sid: Annotated[str | None, Cookie()] = None) -> dict[str, int]:
        who(sid)
        raise HTTPException(403, "admins only")

    @app.get("/clinics/{clinic_code}/slots", operation_id="clinicSlots", tags=["clinics"])
    async def slots(clinic_code: str) -> dict[str, list[str]]:
        return {"slots": []}

    return app


async def auth(user: object) -> None:
    """Sign the user up (once) and in: the session cookie stays on ``user.http``."""
    import fpt

    u: fpt.User = user  # type: ignore[assignment]
    async with u.step("signup", expect_status={201, 409}):
        await u.http.post("/signup", json={"email": u.identity.email, "password": u.identity.password,
                                           "name": u.identity.name})
    async with u.step("login"):
        r = await u.http.post("/login", json=u.identity.credentials)
        fpt.check(r.status_code == 200, f"login refused ({r.status_code})")
