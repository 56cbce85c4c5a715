"""A workaround for a race in pynetdicom 3.0.4, and the check that it is that version.

The association's reactor thread polls the DIMSE queue without blocking while a sender waits on
it blocking; right after a send the reactor's `_is_paused` flag can be stale, and a C-STORE-RSP
(or any response) it takes off the queue is lost: it logs "unexpected ... service message" and
the sender waits out its timeout. `guard_reply_race` makes the reactor leave responses to the
sender. Callers also bound every DIMSE wait and retry an instance left without a response once
on a fresh association.

The patch reaches into pynetdicom's internals, so it must be reviewed for any other release:
importing this module with another version fails loudly instead of misbehaving quietly.
"""

from __future__ import annotations

from typing import Any

import pynetdicom
from pynetdicom.association import Association

WRITTEN_FOR = "3.0.4"

if pynetdicom.__version__ != WRITTEN_FOR:
    raise RuntimeError(
        f"adapters/dicom/reply_race.py patches pynetdicom {WRITTEN_FOR} internals; "
        f"pynetdicom {pynetdicom.__version__} is installed: check whether the race is fixed "
        "there, then update or remove the workaround"
    )


def guard_reply_race(assoc: Association) -> None:
    """Lets the association's reactor thread take only requests off the DIMSE queue
    (responses carry MessageIDBeingRespondedTo; requests do not)."""
    dimse = assoc.dimse
    original = dimse.get_msg
    pending = dimse.msg_queue

    def get_msg(block: bool = False) -> Any:
        if not block:
            with pending.mutex:
                head = pending.queue[0][1] if pending.queue else None
                if head is not None and _is_response(head):
                    return None, None
        return original(block)

    dimse.get_msg = get_msg  # type: ignore[method-assign]


def _is_response(message: Any) -> bool:
    return getattr(message, "MessageIDBeingRespondedTo", None) is not None
