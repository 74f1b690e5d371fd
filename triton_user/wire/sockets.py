"""Connections for the ways a user can wait on the network: cooperatively, on gevent's
patched sockets (thousands of users in one process), or blocking in an OS thread of its
own, on the original sockets (a tenth of a millisecond less CPU and latency per request:
no trip through gevent's hub for every wait). --async's users are cooperative too, on the
hub of one of a few OS threads (HUB_IO)."""

from __future__ import annotations

import socket
import struct
import time
from typing import TYPE_CHECKING, Any

from gevent import monkey

if TYPE_CHECKING:
    from triton_user.wire.tls import ClientTls, TlsStream


# client_io of an --async user (triton_user/sweep/async_loop.py): gevent's socket on the hub of
# the OS thread it runs in, its name resolved by the standard library's getaddrinfo (gevent's
# resolver would start a thread pool in every such thread).
HUB_IO = "hub"
_get_ident = monkey.get_original("_thread", "get_ident")  # the OS thread's, not a greenlet's


def _original(name: str) -> Any:
    """The standard library's own socket object, even after gevent patched the module."""
    return monkey.get_original("socket", name)


def connect(
    address: tuple[str, int], timeout_s: float, client_io: str, tls: ClientTls | None = None
) -> socket.socket | TlsStream:
    """A TCP connection with Nagle off and keepalive on, and over it TLS when `tls` is given
    (its handshake within `timeout_s`). client_io "threads": the original socket, for a user
    in an OS thread, with `timeout_s` on every operation (the kernel's, no timer of ours);
    "gevent" (and HUB_IO): gevent's, in blocking mode (a timed wait there arms a timer per
    call), its requests' deadlines kept by a Deadline instead."""
    if client_io in ("threads", HUB_IO):
        family, kind, proto, _, where = _original("getaddrinfo")(
            address[0], address[1], 0, socket.SOCK_STREAM
        )[0]
        make = _original("socket") if client_io == "threads" else socket.socket
        sock = make(family, kind, proto)
        sock.settimeout(timeout_s)
        sock.connect(where)
    else:
        sock = socket.create_connection(address, timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if tls is None:
        if client_io == "threads":
            kernel_timeouts(sock, timeout_s)
        else:
            sock.settimeout(None)
        return sock
    try:
        stream = tls.wrap(sock, address[0])  # the handshake within timeout_s
    except BaseException:
        sock.close()
        raise
    stream.settimeout(timeout_s if client_io == "threads" else None)
    return stream


def kernel_timeouts(sock: socket.socket, timeout_s: float) -> None:
    """Blocking, with `timeout_s` kept by the kernel (SO_RCVTIMEO, SO_SNDTIMEO) on every
    operation. Python's own socket timeout polls before each send and receive: two system
    calls instead of one, and the GIL taken back twice, which at 4,000 req/s over HTTP cost
    ~5% of a threaded user's CPU a request. A kernel timeout comes as EAGAIN
    (BlockingIOError), which Deadline.timed_out reads as the deadline passing."""
    sock.settimeout(None)
    whole = int(timeout_s)
    value = struct.pack("@ll", whole, int((timeout_s - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


class Deadline:
    """The deadline of the request in flight on one connection. Threads mode: the socket's
    own timeout, the kernel's (kernel_timeouts: EAGAIN) or, over TLS, Python's
    (TimeoutError). Gevent mode: arming costs a clock read and a dict entry; one watchdog
    greenlet per process, waking every quarter of the shortest timeout (at most once a
    second), shuts down the socket of a request past its deadline, which wakes its reader;
    `expired` then tells the client why its socket failed. Each OS thread with a hub of its
    own (--async) has its own watchdog greenlet."""

    def __init__(self, timeout_s: float, client_io: str) -> None:
        self.timeout_s = timeout_s
        self._ns = int(timeout_s * 1e9)
        self._cooperative = client_io != "threads"
        self._sock: socket.socket | TlsStream | None = None
        self._due_ns = 0
        self._watchdog: _Watchdog | None = None  # its thread's, found on the first arm
        self.expired = False

    def arm(self, sock: socket.socket | TlsStream) -> None:
        self.expired = False
        if self._cooperative:
            self._sock, self._due_ns = sock, time.monotonic_ns() + self._ns
            if self._watchdog is None:
                self._watchdog = _watchdog_here()
            self._watchdog.watch(self)

    def disarm(self) -> None:
        if self._cooperative:
            self._sock = None
            if self._watchdog is not None:
                self._watchdog.forget(self)

    def timed_out(self, exc: BaseException) -> bool:
        """Whether a failure of the request in flight is its deadline passing."""
        if self.expired or isinstance(exc, TimeoutError):
            return True
        return not self._cooperative and isinstance(exc, BlockingIOError)

    def _expire(self, now_ns: int) -> bool:
        if self._sock is None or now_ns < self._due_ns:
            return False
        self.expired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True


class _Watchdog:
    def __init__(self) -> None:
        self._armed: dict[int, Deadline] = {}
        self._tick_s = 1.0
        self._greenlet: Any = None

    def watch(self, deadline: Deadline) -> None:
        self._armed[id(deadline)] = deadline
        if self._greenlet is None or deadline.timeout_s / 4 < self._tick_s:
            self._tick_s = min(self._tick_s, max(deadline.timeout_s / 4, 0.005))
            if self._greenlet is None:
                import gevent

                self._greenlet = gevent.spawn(self._run)

    def forget(self, deadline: Deadline) -> None:
        self._armed.pop(id(deadline), None)

    def _run(self) -> None:
        import gevent

        while True:
            gevent.sleep(self._tick_s)
            now = time.monotonic_ns()
            for key, deadline in list(self._armed.items()):
                if deadline._expire(now):
                    self._armed.pop(key, None)


_watchdogs: dict[int, _Watchdog] = {}


def _watchdog_here() -> _Watchdog:
    """The watchdog of this OS thread's gevent hub (hubs are per thread)."""
    ident = _get_ident()
    watchdog = _watchdogs.get(ident)
    if watchdog is None:
        watchdog = _watchdogs[ident] = _Watchdog()
    return watchdog


class Backoff:
    """The wait after a connection failed (refused, reset, timed out), before the next
    try: 1 ms, doubling to `cap_s`, back to nothing after a success; so that a dead proxy
    sees a few connects a second, not thousands."""

    def __init__(self, client_io: str, first_s: float = 0.001, cap_s: float = 1.0) -> None:
        self._first_s, self._cap_s = first_s, cap_s
        self._next_s = 0.0
        self._sleep = _original_sleep() if client_io == "threads" else _gevent_sleep

    def failed(self) -> None:
        self._next_s = min(self._cap_s, self._next_s * 2) if self._next_s else self._first_s
        self._sleep(self._next_s)

    def succeeded(self) -> None:
        self._next_s = 0.0


def _original_sleep() -> Any:
    return monkey.get_original("time", "sleep")


def _gevent_sleep(seconds: float) -> None:
    import gevent

    gevent.sleep(seconds)
