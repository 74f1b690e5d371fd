"""The slice of HTTP/2 (RFC 9113) a gRPC unary call needs, over a plain (gevent-patched)
socket or TLS over it (ALPN h2): one connection, one stream at a time, flow control,
SETTINGS, PING, RST_STREAM, GOAWAY, CONTINUATION.

Why not grpcio: under gevent its calls cost about 0.6 ms of CPU and add 0.4 ms of latency
each (measured against perf_analyzer's 80 us); this path costs a fraction of that and lets
us time the request's parts ourselves. Header blocks we receive are decoded with `hpack`,
which keeps the connection's dynamic table in step with the server's: every block is
decoded, whichever stream it belongs to.

Why not python-hyper's h2 state machine: it costs more CPU per request than this whole path
(measured in bench/h2_cost.py); tests/test_h2_frames.py holds this one to the RFC against a
fake server frame by frame, and tests/test_wire_fuzz.py fuzzes it."""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hpack
from gevent import monkey

from triton_user.wire.sockets import connect
from triton_user.wire.tls import ClientTls

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY_FRAME, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = range(8)
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 2, 4, 5
MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65_535
DEFAULT_FRAME = 16_384  # the largest frame we accept: we never raise SETTINGS_MAX_FRAME_SIZE
REFUSED_STREAM = 7
# What we let the server send before it must wait for our WINDOW_UPDATE: the connection's
# window and each stream's. Handed back once half is used.
RECEIVE_WINDOW = MAX_WINDOW
# A connection idle this long is checked for a GOAWAY or a close before a request goes on
# it (a poll: back-to-back requests skip it).
IDLE_NS = 10_000_000
_select = monkey.get_original("select", "select")  # a zero-timeout look, off gevent's hub


class Http2Error(Exception):
    """The stream or the connection failed. `retry`: the server did not process the request
    (a GOAWAY below its stream, REFUSED_STREAM), so it may go again on a new connection.
    `keep_connection`: the stream alone failed; the connection goes on."""

    def __init__(self, message: str, retry: bool = False, keep_connection: bool = False):
        super().__init__(message)
        self.retry = retry
        self.keep_connection = keep_connection


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, flags, stream) + payload


def _int(value: int, prefix_bits: int, first_byte: int = 0) -> bytes:
    """HPACK integer representation (RFC 7541 5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = bytearray([first_byte | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_headers(headers: Sequence[tuple[str, str]]) -> bytes:
    """A header block of literals without indexing: stateless, so it is built once and
    sent with every request without touching the connection's HPACK tables."""
    out = bytearray()
    for name, value in headers:
        n, v = name.encode(), value.encode()
        out += b"\x00" + _int(len(n), 7) + n + _int(len(v), 7) + v
    return bytes(out)


@dataclass(frozen=True)
class Response:
    headers: list[tuple[str, str]]  # response headers, then trailers
    body: bytes
    sent_ns: int  # when the request's last byte was handed to the kernel
    first_byte_ns: int  # when the first bytes of the response arrived


class Http2Connection:
    def __init__(
        self,
        address: tuple[str, int],
        timeout_s: float = 60.0,
        client_io: str = "gevent",
        tls: ClientTls | None = None,
    ) -> None:
        self._sock = connect(address, timeout_s, client_io, tls)
        self._timeout_ns = int(timeout_s * 1e9)
        self._deadline_ns = 0  # of the request under way: a peer trickling frames stops there
        self._buf = bytearray()
        self._buf_ns = 0  # when the oldest byte in _buf arrived
        self._last_fill_ns = 0
        self._frame_ns = 0  # when the first byte of the frame last read arrived
        self._decoder = hpack.Decoder()
        self._block = bytearray()  # a header block awaiting its CONTINUATION frames
        self._block_stream = 0  # its stream; 0: none awaited
        self._block_ends_stream = False
        self._next_stream = 1
        self._send_window = DEFAULT_WINDOW  # connection level, what the server lets us send
        self._peer_initial_window = DEFAULT_WINDOW
        self._stream_window = DEFAULT_WINDOW
        self._max_frame = DEFAULT_FRAME
        self._receive_window = RECEIVE_WINDOW
        self._recv_window = max(RECEIVE_WINDOW, DEFAULT_WINDOW)
        self._goaway_last: int | None = None  # the last stream a GOAWAY promised to process
        self.closed = False
        settings = struct.pack(">HI", SETTINGS_ENABLE_PUSH, 0) + struct.pack(
            ">HI", SETTINGS_INITIAL_WINDOW_SIZE, RECEIVE_WINDOW
        )
        grow = self._recv_window - DEFAULT_WINDOW
        self._sock.sendall(
            PREFACE
            + _frame(SETTINGS, 0, 0, settings)
            + (_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", grow)) if grow else b"")
        )

    @property
    def sock(self) -> Any:
        return self._sock

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._sock.close()

    def request(self, header_block: bytes, body: bytes) -> Response:
        """One request on a new stream; the response's headers, body and trailers. Raises
        Http2Error (its `retry` set when the server did not take the request)."""
        if self.closed:
            raise Http2Error("connection closed")
        sink = _StreamSink(self._next_stream)
        now = time.monotonic_ns()
        self._deadline_ns = now + self._timeout_ns
        if self._buf or now - self._last_fill_ns > IDLE_NS:
            self._before_sending(sink)
        try:
            stream = sink.stream
            self._next_stream += 2
            self._stream_window = self._peer_initial_window
            self._send(stream, self._headers_frames(stream, header_block), body, sink)
            sent = time.monotonic_ns()
            while not sink.ended:
                self._handle(*self._read_frame(), sink)
        except (OSError, ValueError, IndexError, struct.error, hpack.HPACKError) as exc:
            # ValueError: an SSL socket shut down under a read (a deadline) says so.
            self.close()
            if self._goaway_last is not None and sink.stream > self._goaway_last:
                raise Http2Error("GOAWAY: the server did not take the stream", retry=True) from exc
            raise Http2Error(str(exc) or type(exc).__name__) from exc
        except Http2Error as exc:
            if not exc.keep_connection:
                self.close()
            raise
        if self._goaway_last is not None:
            self.close()  # the server answered what it promised; no new streams here
        return Response(sink.headers, bytes(sink.body), sent, sink.first_byte_ns)

    def _before_sending(self, sink: _StreamSink) -> None:
        """What came since the last response: frames already read with it, and on a
        connection idle a while, what the server sent meanwhile (a GOAWAY, its close). A
        connection the server is closing is left before the request goes, not after it is
        lost there."""
        raw = _raw(self._sock)
        try:
            if self._last_fill_ns and _select([raw], [], [], 0)[0]:
                timeout = raw.gettimeout()
                raw.settimeout(0)  # a TLS record with no data for us (a ticket) must not block
                try:
                    self._fill()
                except BlockingIOError:
                    pass
                finally:
                    raw.settimeout(timeout)
            self._handle_buffered(sink)
        except (OSError, ValueError, IndexError, struct.error, hpack.HPACKError, Http2Error) as exc:
            self.close()
            raise Http2Error(f"connection closed while idle ({exc})", retry=True) from exc
        if self._goaway_last is not None:
            self.close()
            raise Http2Error("the server is closing the connection (GOAWAY)", retry=True)

    def _headers_frames(self, stream: int, block: bytes) -> bytes:
        """HEADERS, and CONTINUATION frames after it when the block exceeds the peer's
        frame size (large metadata)."""
        size = self._max_frame
        if len(block) <= size:
            return _frame(HEADERS, END_HEADERS, stream, block)
        parts = [block[i : i + size] for i in range(0, len(block), size)]
        last = len(parts) - 1
        return b"".join(
            _frame(HEADERS if i == 0 else CONTINUATION, END_HEADERS if i == last else 0, stream, p)
            for i, p in enumerate(parts)
        )

    # -- one long-lived stream (gRPC bidirectional streaming) ----------------------
    def open_stream(self, header_block: bytes) -> _StreamSink:
        """A new stream left open for messages both ways: its HEADERS go now, without
        END_STREAM. What arrives for it collects in the returned sink (see `pump`). Raises
        Http2Error."""
        if self.closed:
            raise Http2Error("connection closed")
        sink = _StreamSink(self._next_stream)
        self._deadline_ns = time.monotonic_ns() + self._timeout_ns
        if self._buf or self._last_fill_ns:
            self._before_sending(sink)
        self._next_stream += 2
        self._stream_window = self._peer_initial_window
        frames = self._headers_frames(sink.stream, header_block)
        self._guarded(lambda: self._sock.sendall(frames), sink)
        return sink

    def send_message(self, sink: _StreamSink, body: bytes) -> int:
        """One message on an open stream (DATA without END_STREAM), its deadline from now;
        when it was handed to the kernel. Raises Http2Error."""
        if self.closed:
            raise Http2Error("connection closed")
        now = time.monotonic_ns()
        self._deadline_ns = now + self._timeout_ns
        if self._buf or now - self._last_fill_ns > IDLE_NS:
            self._before_sending(sink)
        self._guarded(lambda: self._send(sink.stream, b"", body, sink, end_stream=False), sink)
        return time.monotonic_ns()

    def pump(self, sink: _StreamSink) -> None:
        """Read and handle one frame; what is the open stream's lands in `sink` (its body
        grows, `ended` when the server closed it). Raises Http2Error."""
        if self.closed:
            raise Http2Error("connection closed")
        self._guarded(lambda: self._handle(*self._read_frame(), sink), sink)

    def _guarded(self, step: Any, sink: _StreamSink) -> None:
        """`step`, its failures made Http2Error as request() makes them."""
        try:
            step()
        except (OSError, ValueError, IndexError, struct.error, hpack.HPACKError) as exc:
            self.close()
            if self._goaway_last is not None and sink.stream > self._goaway_last:
                raise Http2Error("GOAWAY: the server did not take the stream", retry=True) from exc
            raise Http2Error(str(exc) or type(exc).__name__) from exc
        except Http2Error as exc:
            if not exc.keep_connection:
                self.close()
            raise

    @property
    def going_away(self) -> bool:
        """A GOAWAY came: no new streams here."""
        return self._goaway_last is not None

    def _send(
        self, stream: int, headers: bytes, body: bytes, sink: _StreamSink, end_stream: bool = True
    ) -> None:
        """Headers and body in as few writes as flow control allows (one, for most)."""
        out = bytearray(headers)
        view = memoryview(body)
        while True:
            while view and min(self._send_window, self._stream_window) <= 0:
                if out:
                    self._sock.sendall(out)
                    out.clear()
                self._handle(*self._read_frame(), sink)
                if sink.ended:  # answered before the whole body went (an error, say)
                    return
            size = min(len(view), self._max_frame, self._send_window, self._stream_window)
            chunk, view = view[:size], view[size:]
            self._send_window -= size
            self._stream_window -= size
            last = END_STREAM if end_stream else 0
            out += _frame(DATA, 0 if view else last, stream, bytes(chunk))
            if not view:
                self._sock.sendall(out)
                return

    # -- frames ---------------------------------------------------------------------
    def _fill(self) -> None:
        chunk = self._sock.recv(262_144)
        now = self._last_fill_ns = time.monotonic_ns()
        if not chunk:
            raise Http2Error("server closed the connection")
        if not self._buf:
            self._buf_ns = now
        self._buf += chunk
        if now > self._deadline_ns:  # frames keep coming (PINGs), but not ours
            raise TimeoutError("the request's deadline passed")

    def _read_frame(self) -> tuple[int, int, int, bytes]:
        buf = self._buf
        while len(buf) < 9:
            self._fill()
        length = int.from_bytes(buf[:3], "big")
        if length > DEFAULT_FRAME:
            raise Http2Error(f"a frame of {length} bytes, above the {DEFAULT_FRAME} allowed")
        while len(buf) < 9 + length:
            self._fill()
        self._frame_ns = self._buf_ns
        kind, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & MAX_WINDOW
        payload = bytes(buf[9 : 9 + length])
        del buf[: 9 + length]
        # What is left arrived with the last read at the latest.
        self._buf_ns = self._last_fill_ns if buf else 0
        return kind, flags, stream, payload

    def _handle_buffered(self, sink: _StreamSink) -> None:
        """The whole frames already read: housekeeping that arrived after a response."""
        buf = self._buf
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            self._handle(*self._read_frame(), sink)

    def _handle(
        self, kind: int, flags: int, frame_stream: int, payload: bytes, sink: _StreamSink
    ) -> None:
        """React to one frame: connection housekeeping, a header block (decoded whatever its
        stream, for HPACK's table), or data of the stream under way."""
        if self._block_stream and (kind != CONTINUATION or frame_stream != self._block_stream):
            raise Http2Error("a header block interrupted before its END_HEADERS")
        ours = frame_stream == sink.stream
        if ours and kind <= HEADERS and not sink.first_byte_ns:  # DATA or HEADERS
            sink.first_byte_ns = self._frame_ns
        if kind == DATA:
            if not frame_stream:
                raise Http2Error("DATA on stream 0")
            self._count_received(len(payload), sink if ours else None)
            if ours:
                sink.body += _unpad(flags, payload)
                if flags & END_STREAM:
                    sink.ended = True
        elif kind == HEADERS:
            if not frame_stream:
                raise Http2Error("HEADERS on stream 0")
            self._block += _unpad(flags, payload, priority=True)
            self._block_ends_stream = bool(flags & END_STREAM)
            self._block_stream = frame_stream
            if flags & END_HEADERS:
                self._header_block_done(sink)
        elif kind == CONTINUATION:
            if not self._block_stream:
                raise Http2Error("CONTINUATION without a header block")
            self._block += payload
            if flags & END_HEADERS:
                self._header_block_done(sink)
        elif kind == SETTINGS:
            if frame_stream or len(payload) % 6 or (flags & ACK and payload):
                raise Http2Error("malformed SETTINGS frame")
            if not flags & ACK:
                self._apply_settings(payload)
                self._sock.sendall(_frame(SETTINGS, ACK, 0))
        elif kind == PING:
            if frame_stream or len(payload) != 8:
                raise Http2Error("malformed PING frame")
            if not flags & ACK:
                self._sock.sendall(_frame(PING, ACK, 0, payload))
        elif kind == WINDOW_UPDATE:
            if len(payload) != 4:
                raise Http2Error("malformed WINDOW_UPDATE frame")
            increment = int.from_bytes(payload, "big") & MAX_WINDOW
            if frame_stream == 0:
                self._send_window += increment
            elif ours:
                self._stream_window += increment
        elif kind == RST_STREAM:
            if len(payload) != 4 or not frame_stream:
                raise Http2Error("malformed RST_STREAM frame")
            if ours:
                code = int.from_bytes(payload, "big")
                raise Http2Error(
                    f"stream reset by the server (code {code})",
                    retry=code == REFUSED_STREAM,
                    keep_connection=True,
                )
        elif kind == GOAWAY:
            if frame_stream or len(payload) < 8:
                raise Http2Error("malformed GOAWAY frame")
            last = int.from_bytes(payload[:4], "big") & MAX_WINDOW
            code = int.from_bytes(payload[4:8], "big")
            if self._goaway_last is None or last < self._goaway_last:
                self._goaway_last = last
            if sink.stream > last and sink.stream < self._next_stream:  # ours is under way
                why = payload[8:200].decode(errors="replace")
                raise Http2Error(f"GOAWAY (code {code}) before our stream: {why}", retry=True)
        elif kind == PUSH_PROMISE:
            raise Http2Error("PUSH_PROMISE, though push is disabled")
        # PRIORITY and unknown kinds: ignored, as RFC 9113 says.

    def _count_received(self, size: int, sink: _StreamSink | None) -> None:
        """Every DATA frame, padding included, uses the connection's window (and its
        stream's): hand them back once half is used, so big responses never stall."""
        self._recv_window -= size
        if self._recv_window < self._receive_window // 2:
            grow = self._receive_window - self._recv_window
            self._sock.sendall(_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", grow)))
            self._recv_window = self._receive_window
        if sink is not None:
            sink.recv_window -= size
            if sink.recv_window < self._receive_window // 2:
                grow = self._receive_window - sink.recv_window
                self._sock.sendall(_frame(WINDOW_UPDATE, 0, sink.stream, struct.pack(">I", grow)))
                sink.recv_window = self._receive_window

    def _header_block_done(self, sink: _StreamSink) -> None:
        fields = self._decoder.decode(bytes(self._block))
        self._block.clear()
        stream, self._block_stream = self._block_stream, 0
        if stream != sink.stream:
            return  # another stream's: decoded for the table's sake only
        sink.headers += [
            (k if isinstance(k, str) else k.decode(), v if isinstance(v, str) else v.decode())
            for k, v in fields
        ]
        if self._block_ends_stream:
            sink.ended = True

    def _apply_settings(self, payload: bytes) -> None:
        for i in range(0, len(payload), 6):
            key, value = struct.unpack(">HI", payload[i : i + 6])
            if key == SETTINGS_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise Http2Error("SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
                self._stream_window += value - self._peer_initial_window
                self._peer_initial_window = value
            elif key == SETTINGS_MAX_FRAME_SIZE:
                if not DEFAULT_FRAME <= value < 2**24:
                    raise Http2Error(f"SETTINGS_MAX_FRAME_SIZE {value} out of range")
                self._max_frame = value


def _raw(sock: Any) -> Any:
    """The TCP socket under a TlsStream, or the socket itself."""
    return getattr(sock, "sock", sock)


class _StreamSink:
    """What arrives for the stream under way."""

    __slots__ = ("stream", "headers", "body", "ended", "first_byte_ns", "recv_window")

    def __init__(self, stream: int) -> None:
        self.stream = stream
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.ended = False
        self.first_byte_ns = 0
        self.recv_window = RECEIVE_WINDOW


def _unpad(flags: int, payload: bytes, priority: bool = False) -> bytes:
    if flags & PADDED:
        if not payload or payload[0] >= len(payload):
            raise Http2Error("padding longer than its frame")
        pad = payload[0]
        payload = payload[1 : len(payload) - pad]
    if priority and flags & PRIORITY:
        if len(payload) < 5:
            raise Http2Error("a HEADERS frame too short for its priority")
        payload = payload[5:]
    return payload
