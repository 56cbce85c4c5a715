"""Storage commitment as SCU, as Orthanc 1.10.1 offers it: ask a modality to commit instances
(`POST /modalities/{id}/storage-commitment`), read the report its N-EVENT-REPORT completes
(`GET /storage-commitment/{id}`), delete what it committed (`POST .../remove`).

Reports are events (domain/storage_commitment.py), so any process serves them and they last:
unlike Orthanc, which keeps its last 100 in memory.
"""

from __future__ import annotations

import json
import re
from typing import Any

from litestar import Request, get, post

from adapters.delivery import Senders
from adapters.dicom.storage_commitment import (
    CommitmentRequestFailed,
    CommitmentTarget,
    StorageCommitmentScu,
    request_commitment,
)
from api.context import read_connection, rest_origin
from api.errors import OrthancCode, OrthancError
from api.request_bodies import json_body
from domain.archive import Archive
from domain.levels import INSTANCE
from domain.modality_config import checked_timeout
from domain.remote_nodes import MODALITY
from domain.storage_commitment import (
    PENDING,
    REQUESTED,
    SUCCEEDED,
    SUCCESS,
    Entry,
    StorageCommitments,
)
from projections.configuration.queries import get_node
from projections.hierarchy import queries as hierarchy
from projections.storage_commitment.queries import get_report

READ_MODEL = "storage_commitment"
RESOURCES, DICOM_INSTANCES = "Resources", "DicomInstances"
_UID_VALUE = re.compile(r"^[\x21-\x7e]{1,64}$")

# Orthanc's descriptions of the Failure Reason values (its EnumerationToString).
FAILURE_DESCRIPTIONS = {
    0x0000: "Success",
    0x0110: "A general failure in processing the operation was encountered",
    0x0112: "One or more of the elements in the Referenced SOP Instance Sequence was not available",
    0x0213: "The SCP does not currently have enough resources to store the requested SOP "
    "Instance(s)",
    0x0122: "Storage Commitment has been requested for a SOP Instance with a SOP Class that "
    "is not supported by the SCP",
    0x0119: "The SOP Class of an element in the Referenced SOP Instance Sequence did not "
    "correspond to the SOP class registered for this SOP Instance at the SCP",
    0x0131: "The Transaction UID of the Storage Commitment Request is already in use",
}
PROCESSING_FAILURE = 0x0110


def _bad(message: str) -> OrthancError:
    return OrthancError(OrthancCode.BAD_FILE_FORMAT, message)


# --- the request -------------------------------------------------------------------------------


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json_body(body) if body.strip() else None
    except OrthancError:
        payload = None
    if not isinstance(payload, dict):
        raise _bad("Must provide a JSON object with a list of resources")
    if RESOURCES not in payload and DICOM_INSTANCES not in payload:
        raise _bad(
            "Empty storage commitment request, one of these fields is mandatory: "
            f'"{RESOURCES}" or "{DICOM_INSTANCES}"'
        )
    return payload


def _of_resources(request: Request, resources: Any) -> list[Entry]:
    """The instances under the Orthanc resources, each once."""
    if not isinstance(resources, list):
        raise _bad(f'The "{RESOURCES}" field must provide an array of Orthanc resources')
    for resource in resources:
        if not isinstance(resource, str):
            raise _bad(
                f'The "{RESOURCES}" field must provide an array of strings, found: '
                + _styled(resource)
            )
    with read_connection(request) as conn:
        known = hierarchy.get_resources(conn, list(resources))
        missing = [resource for resource in resources if resource not in known]
        if missing:
            raise OrthancError(OrthancCode.UNKNOWN_RESOURCE)
        rows = hierarchy.instances_with_identifiers(conn, list(resources))
    return [[row["sop_class_uid"] or "", row["identifiers"]["SOPInstanceUID"]] for row in rows]


def _of_dicom_instances(instances: Any) -> list[Entry]:
    if not isinstance(instances, list):
        raise _bad(f'The "{DICOM_INSTANCES}" field must provide an array of DICOM instances')
    return [_dicom_instance(instance) for instance in instances]


def _dicom_instance(instance: Any) -> Entry:
    if isinstance(instance, list):
        if len(instance) != 2 or not all(isinstance(uid, str) for uid in instance):
            raise _bad(
                "An instance entry must provide an array with 2 strings: "
                "SOP Class UID and SOP Instance UID"
            )
        return list(instance)
    if isinstance(instance, dict):
        entry = [instance.get("SOPClassUID"), instance.get("SOPInstanceUID")]
        if not all(isinstance(uid, str) for uid in entry):
            raise _bad(
                'An instance entry must provide an object with 2 string fiels: "SOPClassUID" '
                'and "SOPInstanceUID'
            )
        return entry
    raise _bad(
        "JSON array or object is expected to specify one instance to be queried, found: "
        + _styled(instance)
    )


def _styled(value: Any) -> str:
    """A JSON value as Orthanc quotes it in its errors (JsonCpp's toStyledString)."""
    return json.dumps(value, indent=3, separators=(",", " : ")) + "\n"


def _checked(instances: list[Entry]) -> list[Entry]:
    """Orthanc refuses empty UIDs; Chronicle also what no UID holds (the values go to events
    and to the modality)."""
    for sop_class, sop_instance in instances:
        if not (_UID_VALUE.match(sop_class) and _UID_VALUE.match(sop_instance)):
            raise OrthancError(
                OrthancCode.PARAMETER_OUT_OF_RANGE,
                f'The SOP class/instance UIDs cannot be empty, found: "{sop_class}" / '
                f'"{sop_instance}"',
            )
    return instances


def _destination(request: Request, name: str, payload: dict[str, Any]) -> CommitmentTarget:
    with read_connection(request) as conn:
        configuration = get_node(conn, MODALITY, name)
    if configuration is None:
        raise OrthancError(OrthancCode.INEXISTENT_ITEM, f"No modality with symbolic name: {name}")
    if "Timeout" in payload:
        timeout = checked_timeout(
            payload["Timeout"],
            _bad,
            lambda message: OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, message),
        )
        configuration = {**configuration, "Timeout": timeout}
    return CommitmentTarget(name, configuration)


def _scu(senders: Senders) -> StorageCommitmentScu:
    scu = senders.get(MODALITY)
    if not isinstance(scu, StorageCommitmentScu):
        raise OrthancError(OrthancCode.NOT_IMPLEMENTED, "no DICOM client for storage commitment")
    return scu


@post("/modalities/{name:str}/storage-commitment", status_code=200, sync_to_thread=True)
def storage_commitment_scu(
    request: Request, name: str, body: bytes, archive: Archive, senders: Senders, wait_for: Any
) -> dict[str, str]:
    """Ask the modality to commit instances (`Resources`: Orthanc IDs, `DicomInstances`: UIDs);
    answers the report's ID, Pending until the modality's N-EVENT-REPORT comes."""
    payload = _payload(body)
    instances: list[Entry] = []
    if RESOURCES in payload:
        instances += _of_resources(request, payload[RESOURCES])
    if DICOM_INSTANCES in payload:
        instances += _of_dicom_instances(payload[DICOM_INSTANCES])
    destination = _destination(request, name, payload)
    commitments = StorageCommitments(archive)
    try:
        uid, position = request_commitment(
            commitments, _scu(senders), destination, _checked(instances), rest_origin(request)
        )
    except CommitmentRequestFailed as failed:
        wait_for(failed.position, (READ_MODEL,))
        details = f"{failed.reason} (report /storage-commitment/{failed.transaction_uid})"
        raise OrthancError(OrthancCode.NETWORK_PROTOCOL, details) from None
    wait_for(position, (READ_MODEL,))
    return {"ID": uid, "Path": f"/storage-commitment/{uid}"}


# --- the report --------------------------------------------------------------------------------


def _report(request: Request, transaction_uid: str) -> dict[str, Any]:
    with read_connection(request) as conn:
        report = get_report(conn, transaction_uid)
    if report is None:
        raise OrthancError(
            OrthancCode.INEXISTENT_ITEM,
            f"No storage commitment transaction with UID: {transaction_uid}",
        )
    return report


def _failure(entry: dict[str, Any], reason: int) -> dict[str, Any]:
    return {
        "Description": FAILURE_DESCRIPTIONS.get(reason, "Unknown failure reason"),
        "FailureReason": reason,
        "SOPClassUID": entry["sop_class_uid"],
        "SOPInstanceUID": entry["sop_instance_uid"],
    }


def report_json(report: dict[str, Any]) -> dict[str, Any]:
    """Orthanc's Format() of a report; a request the modality did not take lists every
    instance as a processing failure, with the reason in `Details`."""
    answer: dict[str, Any] = {"RemoteAET": report["remote_aet"], "Status": report["status"]}
    if report["status"] == PENDING:
        return answer
    entries = report["entries"]
    if report["reports"] == 0:  # the request failed: no report came
        failures = [_failure(e, PROCESSING_FAILURE) for e in entries.get(REQUESTED, [])]
        return {**answer, "Details": report["details"], "Failures": failures, "Success": []}
    return {
        **answer,
        "Failures": [_failure(e, e["failure_reason"]) for e in entries.get("failed", [])],
        "Success": [
            {"SOPClassUID": e["sop_class_uid"], "SOPInstanceUID": e["sop_instance_uid"]}
            for e in entries.get(SUCCEEDED, [])
        ],
    }


@get("/storage-commitment/{transaction_uid:str}", sync_to_thread=True)
def storage_commitment_report(request: Request, transaction_uid: str) -> dict[str, Any]:
    """The report: `Status` Pending, Success or Failure; `Success` and `Failures` once done."""
    return dict(sorted(report_json(_report(request, transaction_uid)).items()))  # as Orthanc


@post("/storage-commitment/{transaction_uid:str}/remove", status_code=200, sync_to_thread=True)
def remove_after_storage_commitment(
    request: Request, transaction_uid: str, archive: Archive, wait_for: Any
) -> dict[str, Any]:
    """Deletes the instances the modality committed; only after a report of Success."""
    report = _report(request, transaction_uid)
    if report["status"] != SUCCESS:
        raise OrthancError(  # Orthanc 1.10.1 maps this code to no HTTP status: a 500
            OrthancCode.BAD_SEQUENCE_OF_CALLS,
            "Cannot remove DICOM instances after failure in storage commitment transaction: "
            + transaction_uid,
            http_status=500,
        )
    uids = [entry["sop_instance_uid"] for entry in report["entries"].get(SUCCEEDED, [])]
    with read_connection(request) as conn:
        rows = hierarchy.instances_by_dicom_keys(conn, INSTANCE, "SOPInstanceUID", uids)
        vanishing = hierarchy.vanishing_with(conn, rows)
    ids = [row["id"] for row in rows]
    wait_for(archive.delete_instances(ids, rest_origin(request), vanishing))
    return {}


storage_commitment_handlers = [
    storage_commitment_scu,
    storage_commitment_report,
    remove_after_storage_commitment,
]
