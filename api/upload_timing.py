"""Stage timings of REST uploads for the benchmarks (adapters.stage_timing), when enabled.

The outermost layer, so that `total` covers what the server does between the request's first
byte handed over by uvicorn and the last byte of the answer: `receive` is until the body is all
in, `answer` from the handler's return to the answer sent.
"""

from __future__ import annotations

import time

from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from adapters import stage_timing


def time_uploads(app: ASGIApp) -> ASGIApp:
    if not stage_timing.enabled():
        return app

    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and scope["path"] == "/instances"
        ):
            await app(scope, receive, send)
            return
        began = time.perf_counter()

        async def receiving() -> ReceiveMessage:
            message = await receive()
            if not message.get("more_body", False):
                stage_timing.add("receive", time.perf_counter() - began)
            return message

        with stage_timing.ingest("rest"):
            await app(scope, receiving, send)
            stage_timing.add_since_mark("answer")

    return timed
