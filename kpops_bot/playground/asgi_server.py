"""Run an ASGI app with uvicorn on a free loopback port, in a thread, for the length of a test.

uvicorn looks at its exit flag every tenth of a second and sleeps another tenth after asking connections to close,
so each stop cost about 0.2 s of waiting (the unit lane starts some forty servers). This server is told to stop
through an event and waits for what it still serves to be answered instead.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Any

import uvicorn

_DATE_HEADER_SECONDS = 1.0  # uvicorn refreshes its `date` header once a second


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _PromptServer(uvicorn.Server):
    """uvicorn's server, stopped at once when `stop` is called from another thread."""

    def __init__(self, config: uvicorn.Config, answers_awaited: float) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self._answers_awaited = answers_awaited
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        await super().startup(sockets)
        self.ready.set()

    def stop(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def main_loop(self) -> None:
        assert self._stopping is not None  # set by startup, which runs first
        while not await self.on_tick(0):  # tick 0 refreshes the date header
            try:
                await asyncio.wait_for(self._stopping.wait(), _DATE_HEADER_SECONDS)
            except TimeoutError:
                continue

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's graceful shutdown without its fixed sleeps: requests in flight are answered, then it closes."""
        for server in self.servers:
            server.close()
        for listening in sockets or []:
            listening.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # an idle connection closes now, a busy one after its answer
        if self.server_state.tasks:
            await asyncio.wait(set(self.server_state.tasks), timeout=self._answers_awaited)
        for task in self.server_state.tasks:
            task.cancel()  # an answer that did not come in time (uvicorn cancels it too)
        deadline = asyncio.get_running_loop().time() + self._answers_awaited
        while self.server_state.connections:  # closed transports leave within the loop's next turns
            if asyncio.get_running_loop().time() > deadline:
                for connection in list(self.server_state.connections):
                    connection.transport.close()  # a client that never finishes its request
            await asyncio.sleep(0.001)
        await self.lifespan.shutdown()


class ThreadedServer:
    """`port`: where to listen; without one, a socket bound here to a port the system picks, kept from then on (a
    port merely found free may be taken by another process before the server binds it). At stop, requests in flight
    are answered within `answers_awaited` seconds, or cut off."""

    def __init__(self, app: Any, port: int | None = None, answers_awaited: float = 5.0) -> None:
        self._sockets: list[socket.socket] | None = None
        if not port:
            listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(("127.0.0.1", 0))
            self._sockets, port = [listening], int(listening.getsockname()[1])
        self.port = port
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self._server = _PromptServer(config, answers_awaited)
        self._thread = threading.Thread(
            target=self._server.run, args=(self._sockets,), name=f"asgi-{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self._thread.start()
        # Ready, or the thread ended (uvicorn exits its thread when the port is taken).
        for _ in range(200):
            if self._server.ready.wait(0.1) or not self._thread.is_alive():
                break
        if not self._server.ready.is_set():
            msg = f"server on port {self.port} did not start"
            raise RuntimeError(msg)
        return self

    def stop(self) -> None:
        self._server.stop()
        self._thread.join(timeout=20)
        if self._thread.is_alive():
            msg = f"server on port {self.port} did not stop"
            raise RuntimeError(msg)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
