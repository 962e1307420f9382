"""A TCP proxy between a console and PostgreSQL that a test can cut: a real lost connection over real sockets."""
from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self._upstream = upstream
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._accepting = True
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept_loop, name="test-proxy", daemon=True).start()

    def upstream_ports(self) -> set[int]:
        """The local ports of our connections to the server: how pg_stat_activity knows them (client_port)."""
        with self._lock:
            return {upstream.getsockname()[1] for _, upstream in self._pairs if upstream.fileno() != -1}

    def refuse_new(self) -> None:
        """New connections are dropped at once; open ones carry on. No connection completes after this returns."""
        with self._lock:
            self._accepting = False

    def cut(self) -> None:
        """The network is gone: every open connection breaks and new ones are dropped."""
        with self._lock:
            self._accepting = False
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._accepting = True

    def close(self) -> None:
        self.cut()
        _close(self._server)

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            # Decide and connect under the lock: a connection accepted a moment before a cut must not come
            # alive after it (a test taking a snapshot of our connections would miss it).
            with self._lock:
                if not self._accepting:
                    _close(client)
                    continue
                try:
                    upstream = socket.create_connection(self._upstream, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    _close(client)
                    continue
                self._pairs.append((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
