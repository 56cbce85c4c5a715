"""Who may log in and who did (Chronicle extensions; admins only, see api.permissions).

Bearer tokens for scripts:

    POST /tools/tokens {"User": "…", "Description": "…", "Expires": "2027-01-01T00:00:00Z"}
        → {"ID", "Token", "User", "Description", "Expires"}: the value, this once
    GET /tools/tokens → the live tokens, without their values
    DELETE /tools/tokens/{id} → revokes it (404 if there is no such live token)

A script then sends `Authorization: Bearer <Token>` and acts with its user's role.

    GET /tools/logins[?limit=N] → the newest logins and failed attempts (default 100):
        [{"Time", "User", "Source", "Scheme", "Succeeded"}]
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, post

from adapters.node import ReadModelWaiter
from adapters.user_directory import UserDirectory
from api.context import rest_origin
from api.errors import OrthancCode, OrthancError
from api.request_bodies import json_object
from api.routes.modalities import empty
from domain.archive import Archive
from domain.tokens import InvalidToken

MAX_LISTED = 10_000


@post("/tools/tokens", sync_to_thread=True, status_code=200)
def create_token(
    request: Request,
    archive: Archive,
    users: UserDirectory,
    wait_for: ReadModelWaiter,
    body: bytes,
) -> dict[str, Any]:
    options = json_object(body)
    fields = {key: options.get(key, "") for key in ("User", "Description", "Expires")}
    if not all(isinstance(value, str) for value in fields.values()) or not fields["User"]:
        raise OrthancError(
            OrthancCode.BAD_REQUEST, "User (a user name), Description and Expires are strings"
        )
    origin = rest_origin(request)
    try:
        token = archive.create_token(
            fields["User"], fields["Description"], fields["Expires"], origin.user, origin
        )
    except InvalidToken as error:
        raise OrthancError(OrthancCode.BAD_REQUEST, str(error)) from None
    wait_for(token.position, ("configuration",))
    listed = next(_shown(row) for row in users.tokens() if row["token_id"] == token.token_id)
    return {**listed, "Token": token.value}


@get("/tools/tokens", sync_to_thread=True)
def list_tokens(users: UserDirectory) -> list[dict[str, Any]]:
    return [_shown(row) for row in users.tokens()]


@delete("/tools/tokens/{token_id:str}", sync_to_thread=True, status_code=200)
def revoke_token(
    request: Request, token_id: str, archive: Archive, wait_for: ReadModelWaiter
) -> Response[bytes]:
    origin = rest_origin(request)
    position = archive.revoke_token(token_id, origin.user, origin)
    if position is None:
        raise OrthancError(OrthancCode.INEXISTENT_ITEM, f"No such token: {token_id}", 404)
    wait_for(position, ("configuration",))
    return empty()


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    expires = row["expires"]
    return {
        "ID": row["token_id"],
        "User": row["user_name"],
        "Description": row["description"],
        "Expires": expires.isoformat() if expires else None,
        "CreatedBy": row["created_by"],
    }


@get("/tools/logins", sync_to_thread=True)
def list_logins(users: UserDirectory, limit: str = "100") -> list[dict[str, Any]]:
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LISTED:
        raise OrthancError(OrthancCode.BAD_REQUEST, f"limit: a number from 1 to {MAX_LISTED}")
    return [
        {
            "Time": row["at"].isoformat(),
            "User": row["user_name"],
            "Source": row["source"],
            "Scheme": row["scheme"],
            "Succeeded": row["succeeded"],
        }
        for row in users.logins.recent(int(limit))
    ]


access_handlers = [create_token, list_tokens, revoke_token, list_logins]
