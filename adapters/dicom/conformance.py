"""/tools/dicom-conformance: what the DICOM server accepts, written from the presentation
contexts it actually offers (so it cannot drift from them)."""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.uid import UID

from adapters.dicom.scp import SERVICES, accepted_transfer_syntaxes, service_contexts
from adapters.dicom.storage_commitment import scp_context

_TITLES = {
    "echo": "Echo SCP (C-ECHO)",
    "store": "Storage SCP (C-STORE)",
    "find": "Query SCP (C-FIND)",
    "move": "Retrieve SCP (C-MOVE)",
    "get": "Retrieve SCP (C-GET)",
}


def conformance_statement(syntaxes: Sequence[str], unknown_sop_class_accepted: bool) -> str:
    ordered = accepted_transfer_syntaxes(syntaxes)
    contexts = service_contexts(ordered)
    lines = ["=" * 40, "DICOM Conformance Statement of Chronicle", "=" * 40, ""]
    for service in SERVICES:
        title = _TITLES[service]
        lines += ["", "-" * len(title), title, "-" * len(title), ""]
        lines += [f"  {_named(str(cx.abstract_syntax))}" for cx in contexts[service]]
    title = "Storage Commitment Push Model (N-ACTION SCP, N-EVENT-REPORT SCU and SCP)"
    lines += ["", "-" * len(title), title, "-" * len(title), ""]
    lines += [f"  {_named(str(scp_context().abstract_syntax))}"]
    if unknown_sop_class_accepted:
        lines += ["", "Storage of any other SOP class is accepted (UnknownSopClassAccepted)."]
    title = "Transfer syntaxes accepted for storage, in order of preference"
    lines += ["", "-" * len(title), title, "-" * len(title), ""]
    lines += [f"  {_named(uid)}" for uid in ordered]
    return "\n".join(lines) + "\n"


def _named(uid: str) -> str:
    name = UID(uid).name
    return f"{name} | {uid}" if name != uid else uid
