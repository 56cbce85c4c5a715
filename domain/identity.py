"""Aggregate identities derived from Orthanc identifiers, so that commands are idempotent."""

from __future__ import annotations

from uuid import UUID, uuid5

_NAMESPACE = UUID("6f1c3c1e-5d0f-4c47-9a0e-2f6b3c8f0a11")


def instance_aggregate_id(instance_id: str) -> UUID:
    return uuid5(_NAMESPACE, "instance:" + instance_id)


def resource_aggregate_id(resource_id: str) -> UUID:
    # "stability:" because the Resource aggregate began as the record of stability only:
    # the name space must stay, or existing aggregates would not be found.
    return uuid5(_NAMESPACE, "stability:" + resource_id)


def remote_node_aggregate_id(kind: str, name: str) -> UUID:
    return uuid5(_NAMESPACE, f"{kind}:{name}")


def user_aggregate_id(name: str) -> UUID:
    return uuid5(_NAMESPACE, "user:" + name)


def token_aggregate_id(token_id: str) -> UUID:
    return uuid5(_NAMESPACE, "token:" + token_id)


def runtime_setting_aggregate_id(name: str) -> UUID:
    return uuid5(_NAMESPACE, "setting:" + name)


CHANGES_LOG_ID = uuid5(_NAMESPACE, "changes-log")
EXPORTS_LOG_ID = uuid5(_NAMESPACE, "exports-log")
