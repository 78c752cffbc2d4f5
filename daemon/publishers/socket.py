"""The event socket: protocol v1 over a Unix stream socket (and TCP, on explicit opt-in).

An asyncio loop in its own thread serves every client. `publish` only schedules the fan-out,
so the pipeline never waits on a client. Each client has a bounded queue: a client that stops
reading loses events (counted, and reported to it as `dropped` once it reads again) and is
disconnected when its queue has stayed full for `stall_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import ipaddress
import logging
import os
import select
import socket
import stat
import threading
import time
from collections import deque
from collections.abc import Callable

from signd.daemon.config import SocketConfig
from signd.daemon.errors import ConfigError, InputError
from signd.daemon.events import Event, GestureEvent
from signd.daemon.protocol import (
    DEFAULT_WATCH,
    MAX_LINE,
    ByeEvent,
    DescribeEvent,
    DroppedEvent,
    ErrorEvent,
    HelloEvent,
    PongEvent,
    ProtocolError,
    StatusEvent,
    WatchingEvent,
    parse_command,
)

from .base import Publisher

log = logging.getLogger(__name__)

HANGUP_POLL = 0.5
"""Seconds between checks whether a client that closed its sending side has hung up."""


def _hung_up(writer: asyncio.StreamWriter) -> bool:
    """After EOF on read: did the peer close completely, or only its sending side?
    A Unix socket whose peer closed reports POLLHUP; one that only shut down writing does not."""
    sock = writer.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:  # closed under us (the server is shutting down)
        return True
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLOUT)
    return any(ev & (select.POLLHUP | select.POLLERR) for _, ev in poller.poll(0))


def group_id(group: str) -> int:
    """The id of `group`, which owns the socket file; ConfigError when there is no such group."""
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError(f"socket.group: no such group {group!r}") from None


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def encode(event: Event) -> bytes:
    return (event.to_json() + "\n").encode()


class _Client:
    def __init__(self, server: SocketPublisher, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader, self.writer = reader, writer
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(server.config.queue)
        self.types = set(DEFAULT_WATCH)
        self.min_score = 0.0
        self.missed = 0
        self.full_since: float | None = None
        self.closed = False
        # Where events were lost, so the client is told exactly there: [lines before, count].
        self._gaps: deque[list[int]] = deque()
        self._accepted = 0
        self._written = 0

    def offer(self, event: Event, line: bytes) -> None:
        """A broadcast event: queued if this client watches it (a new `hello` goes to everyone)."""
        if event.type not in self.types and not isinstance(event, HelloEvent):
            return
        if isinstance(event, GestureEvent) and event.score < self.min_score:
            return
        self.send(line)

    def _backed_up(self) -> bool:
        transport = self.writer.transport
        return transport.get_write_buffer_size() >= transport.get_write_buffer_limits()[1]

    def send(self, line: bytes) -> None:
        if self.closed or self.writer.transport.is_closing():
            return
        if self.queue.empty() and not self._backed_up():
            # The usual case: the client keeps up, so the line goes straight to the kernel
            # (no task switch on the fan-out path). Only a client that fell behind uses its queue.
            self._accepted += 1
            self._write(line)
            return
        if self.queue.full():
            self.missed += 1
            self.server.dropped += 1
            if self._gaps and self._gaps[-1][0] == self._accepted:
                self._gaps[-1][1] += 1
            else:
                self._gaps.append([self._accepted, 1])
            now = time.monotonic()
            if self.full_since is None:
                self.full_since = now
            elif now - self.full_since >= self.server.config.stall_timeout:
                log.warning("disconnecting a client that stopped reading (%d events dropped)", self.missed)
                self.close(abort=True)
            return
        self.full_since = None
        self._accepted += 1
        self.queue.put_nowait(line)

    def close(self, abort: bool = False) -> None:
        if not self.closed:
            self.closed = True
            if abort:
                self.writer.transport.abort()
            else:
                self.writer.close()

    def _write(self, line: bytes) -> None:
        while self._gaps and self._gaps[0][0] <= self._written:
            self.writer.write(encode(DroppedEvent(self._gaps.popleft()[1])))
        self.writer.write(line)
        self._written += 1

    async def write_loop(self) -> None:
        while not self.closed:
            line = await self.queue.get()
            self._write(line)
            await self.writer.drain()

    def _reply(self, line: bytes) -> None:
        try:
            command = parse_command(line)
        except ProtocolError as exc:
            self.send(encode(exc.event()))
            return
        s = self.server
        if command.cmd == "ping":
            self.send(encode(PongEvent(command.id)))
        elif command.cmd == "status":
            ev = s.status_fn()
            ev.id = command.id
            self.send(encode(ev))
        elif command.cmd == "describe":
            ev = s.describe_fn()
            ev.id = command.id
            self.send(encode(ev))
        elif command.cmd == "watch":
            assert command.types is not None and command.min_score is not None
            self.types, self.min_score = set(command.types), command.min_score
            self.send(encode(WatchingEvent(command.types, command.min_score, command.id)))

    async def read_loop(self) -> None:
        buf = bytearray()
        skipping = False  # inside a line that was too long: drop it up to its newline
        while not self.closed:
            chunk = await self.reader.read(MAX_LINE)
            if not chunk:
                return
            buf += chunk
            while (nl := buf.find(b"\n")) >= 0:
                line, buf = bytes(buf[:nl]), buf[nl + 1 :]
                if skipping:
                    skipping = False
                elif line.strip():
                    self._reply(line)
            if len(buf) >= MAX_LINE:
                if not skipping:
                    self.send(encode(ErrorEvent("line_too_long", f"a line may hold at most {MAX_LINE} bytes")))
                skipping = True
                buf.clear()


class SocketPublisher(Publisher):
    name = "socket"

    def __init__(
        self,
        config: SocketConfig,
        hello: Callable[[], HelloEvent],
        status: Callable[[], StatusEvent],
        describe: Callable[[], DescribeEvent],
        inherited_fds: list[int] | None = None,
    ) -> None:
        self.config = config
        self.hello_fn, self.status_fn, self.describe_fn = hello, status, describe
        self.inherited_fds = inherited_fds or []
        self.dropped = 0
        self.clients: set[_Client] = set()
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: set[asyncio.Task] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="signd-socket", daemon=True)
        self._owns_path = False
        self.addresses: list[str] = []

    # -- lifecycle (called from the daemon's thread) --------------------------------------

    def start(self) -> None:
        """Bind and listen; errors (path taken, permission, unknown group) raise here."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)

    def publish(self, event: Event) -> None:
        line = encode(event)
        if len(line) > MAX_LINE:
            log.error("event of type %s is %d bytes, over the %d-byte line limit: not sent", event.type, len(line), MAX_LINE)
            return
        self._loop.call_soon_threadsafe(self._fanout, event, line)

    def close(self, reason: str = "shutdown") -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(reason), self._loop).result(timeout=1.0)
        except Exception as exc:  # a stuck client must not hold up the daemon's exit
            log.warning("closing the event socket: %r", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=1.0)
        if not self._thread.is_alive():
            self._loop.close()

    @property
    def client_count(self) -> int:
        return len(self.clients)

    def wants_type(self, event_type: str) -> bool:
        # Read from the pipeline's threads while the loop thread may change the set: a stale
        # answer costs one frame's skeleton at most.
        return any(event_type in c.types for c in list(self.clients))

    # -- in the loop thread ----------------------------------------------------------------

    def _fanout(self, event: Event, line: bytes) -> None:
        for c in list(self.clients):
            c.offer(event, line)

    async def _listen(self) -> None:
        unix_inherited = False
        for fd in self.inherited_fds:
            sock = socket.socket(fileno=fd)
            if sock.family == socket.AF_UNIX:
                unix_inherited = True
                self._servers.append(await asyncio.start_unix_server(self._handle, sock=sock, limit=MAX_LINE))
            else:
                self._servers.append(await asyncio.start_server(self._handle, sock=sock, limit=MAX_LINE))
            self.addresses.append(f"fd {fd} ({sock.getsockname()!r}, from systemd)")
        if self.config.path and not unix_inherited:
            self._servers.append(await self._listen_unix(self.config.path))
        if self.config.tcp:
            host, _, port = self.config.tcp.rpartition(":")
            if not _loopback(host):
                log.warning("socket.tcp: listening on %s, which other machines can reach; only "
                            "socket.group limits the Unix socket, nothing limits this one", self.config.tcp)
            server = await asyncio.start_server(self._handle, host or "127.0.0.1", int(port), limit=MAX_LINE)
            self._servers.append(server)
            bound_host, bound_port = server.sockets[0].getsockname()[:2]  # port 0: the one we got
            self.addresses.append(f"tcp://{bound_host}:{bound_port}")

    async def _listen_unix(self, path: str) -> asyncio.AbstractServer:
        gid = group_id(self.config.group) if self.config.group else -1
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise InputError(f"{path} exists and is not a socket; not replacing it")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)  # left behind by a daemon that died: safe to replace
            else:
                raise InputError(f"{path}: another process is already serving events there")
            finally:
                probe.close()
        old_umask = os.umask(0o177)  # no window in which the socket is open to everyone
        try:
            server = await asyncio.start_unix_server(self._handle, path=path, limit=MAX_LINE)
        except OSError as exc:
            raise InputError(f"cannot listen on {path}: {exc.strerror}") from None
        finally:
            os.umask(old_umask)
        self._owns_path = True
        os.chmod(path, int(self.config.mode, 8))
        if gid != -1:
            os.chown(path, -1, gid)
        self.addresses.append(path)
        return server

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(self, reader, writer)
        self.clients.add(client)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        log.debug("client connected (%d clients)", len(self.clients))
        client.send(encode(self.hello_fn()))
        writing = asyncio.ensure_future(client.write_loop())
        try:
            await client.read_loop()
            # The client only closed its sending side (`echo cmd | socat`): keep streaming until
            # it hangs up. Its hang-up is noticed even when nothing is written to it (POLLHUP),
            # or when a write fails; either way it is reaped, so no event goes to a dead socket.
            closed = asyncio.ensure_future(writer.wait_closed())
            closed.add_done_callback(lambda f: f.cancelled() or f.exception())  # seen, not logged
            try:
                while not _hung_up(writer) and not writing.done() and not closed.done():
                    await asyncio.wait({writing, closed}, timeout=HANGUP_POLL,
                                       return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
        except (ConnectionError, OSError):
            pass
        finally:
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writing
            client.close()
            self.clients.discard(client)
            self._tasks.discard(task)
            log.debug("client gone (%d clients)", len(self.clients))

    async def _shutdown(self, reason: str) -> None:
        bye = encode(ByeEvent(reason))
        clients = list(self.clients)
        for c in clients:
            if not c.closed:
                with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                    c.writer.write(bye)  # straight to the transport: the queue may be full
                c.close()
        for s in self._servers:
            s.close()
        if self._owns_path and self.config.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.config.path)
        # Let the transports flush `bye` and finish closing before the loop stops.
        waits = [c.writer.wait_closed() for c in clients]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 0.5)
        # No task may outlive the loop: a pending one would wake up in a closed loop.
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
