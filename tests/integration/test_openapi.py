"""The generated OpenAPI document lists every route of the Orthanc surface, each with its own
stable operation id (guards and clients key on them)."""

from __future__ import annotations

import re

from api.app import orthanc_route_handlers
from tests.support.server import ChronicleProcess


def declared_operations() -> set[tuple[str, str]]:
    operations = set()
    for handler in orthanc_route_handlers():
        if not handler.include_in_schema:
            continue
        for path in handler.paths:
            openapi_path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)
            for method in handler.http_methods:
                operations.add((openapi_path, method.lower()))
    return operations


def test_openapi_lists_every_route_with_a_unique_operation_id(server: ChronicleProcess) -> None:
    with server.client() as client:
        response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    listed = {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "delete", "patch", "head", "options"}
    }
    declared = declared_operations()
    assert len(declared) > 100
    assert set(listed) == declared
    ids = [operation.get("operationId") for operation in listed.values()]
    assert all(ids), [key for key, op in listed.items() if not op.get("operationId")]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert duplicates == []
    assert listed[("/tools/projections", "get")]["operationId"] == "getToolsProjections"
    assert listed[("/instances/{resource_id}/file", "get")]["operationId"] == (
        "getInstancesByResourceIdFile"
    )
