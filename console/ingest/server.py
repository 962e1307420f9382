"""The HTTP ingest server: Alertmanager, PagerDuty Events v2 and generic JSON signals in, one sink call per request.

An asyncio loop on its own thread holds the connections, so hundreds of slow or idle clients cost memory, not
threads; parsing and the sink run on a small bounded pool. Each request is read whole (its size known from
Content-Length before a byte of body is read), parsed whole, and only then handed to the sink in one call: a bad
request never reaches the sink, and a good one reaches it exactly once. The token is compared in constant time
and never logged or echoed.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timezone
from email.utils import format_datetime
from typing import Any

from console.clock import Clock
from console.ingest._handler import ROUTES, RequestHandler, Sink, busy_response
from console.ingest._http import (
    MAX_HEAD,
    HttpError,
    Response,
    encode_response,
    error_response,
    parse_head,
)

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0  # seconds a request already with the sink gets to finish when the server stops
LINGER = 1.0  # seconds to drain what a refused client still sends before closing on it
LINGER_BYTES = 1024 * 1024


class IngestServer:
    """Accept signals over HTTP and hand each request's events to a sink.

    The sink is called from up to `workers` threads at once, once per accepted request, with all its events.
    """

    def __init__(self, *, sink: Sink, token: str, clock: Clock, host: str = "127.0.0.1", port: int = 8742,
                 max_body: int = 512 * 1024, workers: int = 4, max_connections: int = 256,
                 max_pending: int = 64, request_timeout: float = 10.0, idle_timeout: float = 15.0) -> None:
        self._handler = RequestHandler(sink=sink, token=token, clock=clock, max_body=max_body)
        self._clock = clock
        self._host, self._requested_port = host, port
        self._workers, self._max_connections, self._max_pending = workers, max_connections, max_pending
        self._request_timeout, self._idle_timeout = request_timeout, idle_timeout
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: socket.socket | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._port = 0
        # Touched only on the loop thread.
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._pending = 0
        self._closing = False

    def __repr__(self) -> str:
        return f"IngestServer(host={self._host!r}, port={self._port or self._requested_port})"

    @property
    def port(self) -> int:
        """The port the server listens on (the one the system picked, when asked for port 0); 0 before start."""
        return self._port

    def __enter__(self) -> IngestServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Bind the socket and serve on a background thread; a bind failure raises here, in the caller."""
        if self._thread is not None:
            raise RuntimeError("the ingest server is already started")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._requested_port), family=family, backlog=512)
        sock.setblocking(False)
        self._port = sock.getsockname()[1]
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="ingest-worker")
        self._loop = asyncio.new_event_loop()
        self._closing = False
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, ready), name=f"ingest-server-{self._port}",
                                        daemon=True)
        self._thread.start()
        ready.wait()
        log.info("ingest server listening on %s port %d", self._host, self._port)

    def stop(self) -> None:
        """Stop accepting, let requests already with the sink finish, close every connection, and return."""
        if self._thread is None or self._loop is None or self._pool is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=SHUTDOWN_GRACE + LINGER + 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._pool.shutdown(wait=True)  # a sink call cut off by the grace period still runs to its end
        self._thread = None
        log.info("ingest server on port %d stopped", self._port)

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        assert self._loop is not None
        loop = self._loop
        asyncio.set_event_loop(loop)
        self._listener = sock
        loop.add_reader(sock, self._accept)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            sock.close()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _accept(self) -> None:
        # Accepting in a plain reader callback, not asyncio.start_server or sock_accept: both can lose a connection
        # accepted at the moment they are closed or cancelled, leaving its socket open. Here an accepted socket
        # is in a task before anything else can run.
        assert self._loop is not None and self._listener is not None
        for _ in range(64):  # a burst at a time, then the loop serves the connections it has
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of file descriptors, say: pause accepting, keep serving
                log.warning("ingest: cannot accept a connection: %s", error)
                self._loop.remove_reader(self._listener)
                self._loop.call_later(0.1, self._resume_accepting)
                return
            task = self._loop.create_task(self._connection(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _resume_accepting(self) -> None:
        if not self._closing and self._loop is not None and self._listener is not None:
            self._loop.add_reader(self._listener, self._accept)

    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        self._closing = True
        if self._listener is not None:
            loop.remove_reader(self._listener)
        deadline = loop.time() + SHUTDOWN_GRACE + LINGER
        while tasks := set(self._tasks):
            for writer in self._idle.values():
                writer.close()  # an idle connection's read ends at once; a busy one finishes its request first
            remaining = deadline - loop.time()
            if remaining <= 0:
                for task in tasks:
                    task.cancel()  # a sink that hangs past the grace period: its connection is dropped
                await asyncio.wait(tasks)
                break
            await asyncio.wait(tasks, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)

    async def _connection(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn, limit=MAX_HEAD)
        except BaseException:
            conn.close()
            raise
        task = asyncio.current_task()
        assert task is not None
        peer = _peer(writer)
        linger = False  # set when this side ends the conversation after a reply
        try:
            if len(self._tasks) > self._max_connections:
                linger = True
                await self._send(writer, error_response(503, "too many connections; retry shortly"), False)
                return
            first, keep_alive = True, True
            while keep_alive and not self._closing:
                self._idle[task] = writer
                try:
                    # A client gets request_timeout to send its first head and idle_timeout between requests:
                    # one that trickles a byte at a time (slowloris) is cut off, never waited on for ever.
                    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                                  self._request_timeout if first else self._idle_timeout)
                except asyncio.LimitOverrunError:
                    linger = True
                    await self._send(writer, error_response(431, "request head over 16 KB"), False)
                    return
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                finally:
                    self._idle.pop(task, None)
                first = False
                response, keep_alive = await self._exchange(data, reader, writer)
                if response is None:
                    return
                if response.status >= 400:
                    log.debug("ingest: %d from %s: %s", response.status, peer, response.reason)
                linger = not keep_alive
                await self._send(writer, response, keep_alive)
        except (ConnectionError, TimeoutError):
            linger = False  # the client is gone or not reading: nothing to wait for
        except asyncio.CancelledError:
            linger = False  # only stop() cancels, past its grace period; the socket is still closed below
        finally:
            self._idle.pop(task, None)
            await self._close(reader, writer, linger=linger)

    async def _exchange(self, data: bytes, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> tuple[Response | None, bool]:
        """Answer one request and say whether to keep the connection; (None, _) when the client went away."""
        try:
            head = parse_head(data)
        except HttpError as error:
            return error_response(error.status, error.message), False
        keep_alive = head.keep_alive and not self._closing
        answer = self._handler.answer_from_head(head)
        route = ROUTES.get(head.path)
        if answer is None and route is not None and self._pending >= self._max_pending:
            answer = busy_response(route)
        expects_continue = head.headers.get("expect", "").lower() == "100-continue"
        if answer is not None:
            if not head.has_body:
                return answer, keep_alive
            # Read and drop a small, framed body so the connection stays usable; anything else is closed on.
            if expects_continue or head.chunked or (head.content_length or 0) > self._handler.max_body:
                return answer, False
            return (answer, keep_alive) if await self._body(head.content_length or 0, reader) is not None \
                else (None, False)
        assert route is not None
        if expects_continue:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._body(head.content_length or 0, reader)
        if body is None:
            return None, False
        authorised = self._handler.bearer_ok(head.headers.get("authorization"))
        self._pending += 1
        try:
            response = await asyncio.get_running_loop().run_in_executor(
                self._pool, lambda: self._handler.process(route, body, authorised=authorised))
        finally:
            self._pending -= 1
        return response, keep_alive and not self._closing

    async def _body(self, length: int, reader: asyncio.StreamReader) -> bytes | None:
        # The caller checked length <= max_body: no more than that is ever read for one request.
        try:
            return await asyncio.wait_for(reader.readexactly(length), self._request_timeout)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return None

    async def _send(self, writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
        date = format_datetime(self._clock.now().astimezone(timezone.utc), usegmt=True)
        writer.write(encode_response(response, keep_alive=keep_alive, date=date))
        # A client that will not read its replies must not hold this connection open either.
        await asyncio.wait_for(writer.drain(), self._request_timeout)

    async def _close(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, linger: bool) -> None:
        try:
            if linger and not writer.is_closing() and writer.can_write_eof():
                # Closing with unread bytes makes the kernel send a reset, which can destroy the reply before
                # the client reads it: half-close, and drop what the client still sends for a moment.
                writer.write_eof()
                await asyncio.wait_for(_drain_input(reader), min(LINGER, self._request_timeout))
        except (ConnectionError, TimeoutError, OSError, asyncio.CancelledError):
            pass
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass


async def _drain_input(reader: asyncio.StreamReader) -> None:
    read = 0
    while read < LINGER_BYTES and (chunk := await reader.read(64 * 1024)):
        read += len(chunk)


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "unknown peer"
