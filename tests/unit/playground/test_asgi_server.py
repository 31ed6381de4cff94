"""`ThreadedServer` stops promptly, answering what is in flight and not waiting on a client that never finishes."""

from __future__ import annotations

import socket
from typing import Any

import httpx

from kpops_bot.playground.asgi_server import ThreadedServer


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:  # the whole request first, as an app reading a webhook does
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello " + body})


def test_a_client_that_never_finishes_its_request_does_not_hold_the_stop() -> None:
    with ThreadedServer(_hello, answers_awaited=0.2) as server:
        assert httpx.post(server.url, content=b"there").text == "hello there"
        stalled = socket.create_connection(("127.0.0.1", server.port))
        # Its headers promise ten bytes of body; three come, the rest never does.
        stalled.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nabc")
    # Leaving the block stopped the server's thread (it raises when the thread outlives the stop).
    stalled.settimeout(10)
    answer = b""
    while chunk := stalled.recv(4096):  # to its end: the server closed the connection
        answer += chunk
    stalled.close()
    assert not answer or answer.startswith(b"HTTP/1.1 500 "), "cut off, or told its request was not served"
