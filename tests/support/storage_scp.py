"""A real DICOM storage SCP (pynetdicom) for tests: what Chronicle sends ends up in `received`."""

from __future__ import annotations

import ssl
from typing import Any

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from adapters.dicom.sockets import NODELAY_HANDLERS
from tests.support.server import free_port


class StorageSCP:
    def __init__(
        self,
        aet: str = "DEST",
        status: int = 0x0000,
        abort_after: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        transfer_syntaxes: list[str] | None = None,
    ) -> None:
        """`status`: the C-STORE answer; `abort_after`: abort the association after that many
        instances were received (a destination that goes away mid-transfer); `ssl_context`:
        the SCP speaks TLS; `transfer_syntaxes`: what it accepts (pynetdicom's uncompressed
        ones by default)."""
        self.transfer_syntaxes = transfer_syntaxes
        self.ssl_context = ssl_context
        self.aet = aet
        self.port = free_port()
        self.status = status
        self.abort_after = abort_after
        self.received: dict[str, bytes] = {}
        self.calling_aets: list[str] = []
        self._server: Any = None

    def _on_store(self, event: Any) -> int:
        self.calling_aets.append(event.assoc.requestor.ae_title)
        if self.abort_after is not None and len(self.received) >= self.abort_after:
            event.assoc.abort()
            return 0xA700
        if self.status == 0x0000:
            self.received[event.request.AffectedSOPInstanceUID] = event.encoded_dataset()
        return self.status

    def start(self) -> StorageSCP:
        ae = AE(ae_title=self.aet)
        ae.supported_contexts = AllStoragePresentationContexts
        if self.transfer_syntaxes is not None:
            for context in ae.supported_contexts:
                ae.add_supported_context(context.abstract_syntax, self.transfer_syntaxes)
        ae.add_supported_context(Verification)
        self._server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[(evt.EVT_C_STORE, self._on_store), *NODELAY_HANDLERS],
            ssl_context=self.ssl_context,
        )
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def modality(self) -> list[Any]:
        """Orthanc's array form of a DicomModalities entry for this SCP."""
        return [self.aet, "127.0.0.1", self.port]
