"""Orthanc peers: /peers definitions and /peers/{id}/system."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, route

from adapters.node import ReadModelWaiter
from adapters.node_directory import NodeDirectory
from adapters.peer_client import PeerClient, PeerError
from api.context import read_connection
from api.errors import OrthancCode, OrthancError, not_found_without_body
from api.routes.modalities import (
    NodeWrites,
    define_from_rest,
    network_error,
    remove_from_rest,
)
from domain.archive import Archive
from domain.modality_config import normalise_peer, public_peer
from domain.remote_nodes import PEER
from projections.configuration.queries import get_node, list_nodes

PEER_ROUTES = ["configuration", "store", "store-straight", "system"]


def peer_of(request: Request, name: str) -> dict[str, Any]:
    with read_connection(request) as conn:
        configuration = get_node(conn, PEER, name)
    if configuration is None:
        raise OrthancError(OrthancCode.INEXISTENT_ITEM, f"No peer with symbolic name: {name}", 404)
    return configuration


@get("/peers", sync_to_thread=True)
def list_peers(request: Request, expand: str | None = None) -> Any:
    with read_connection(request) as conn:
        rows = list_nodes(conn, PEER)
    if expand is not None:
        return {row["name"]: public_peer(row["configuration"]) for row in rows}
    return [row["name"] for row in rows]


def peer_routes(request: Request, name: str) -> list[str]:
    with read_connection(request) as conn:
        if get_node(conn, PEER, name) is None:
            raise not_found_without_body(f"no peer {name}")
    return PEER_ROUTES


@get("/peers/{name:str}/configuration", sync_to_thread=True)
def peer_configuration(request: Request, name: str) -> dict[str, Any]:
    return public_peer(peer_of(request, name))


def put_peer(request: Request, writes: NodeWrites, name: str, body: bytes) -> Response[bytes]:
    return define_from_rest(request, writes, PEER, name, body, normalise_peer)


def delete_peer(request: Request, writes: NodeWrites, name: str) -> Response[bytes]:
    return remove_from_rest(request, writes, PEER, name, f"Unknown Orthanc peer: {name}")


@route(
    "/peers/{name:str}", http_method=["GET", "PUT", "DELETE"], sync_to_thread=True, status_code=200
)
def peer_resource(
    request: Request, name: str, body: bytes, archive: Archive, wait_for: ReadModelWaiter
) -> Any:
    """One handler for the three methods (see api.routes.modalities.modality_resource)."""
    writes = NodeWrites(archive, wait_for)
    if request.method == "PUT":
        return put_peer(request, writes, name, body)
    if request.method == "DELETE":
        return delete_peer(request, writes, name)
    return peer_routes(request, name)


@get("/peers/{name:str}/system", sync_to_thread=True)
def peer_system(request: Request, name: str, peer_client: PeerClient, nodes: NodeDirectory) -> Any:
    peer_of(request, name)
    try:
        return peer_client.system(nodes.for_sending(PEER, name) or {})
    except PeerError as exc:
        raise network_error(exc) from None


peers_handlers = [list_peers, peer_resource, peer_configuration, peer_system]
