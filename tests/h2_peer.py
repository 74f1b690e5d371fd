"""A fake HTTP/2 (gRPC) server for frame-level tests of our client: a listening socket on
loopback and a thread per connection that runs a script of the test's own. No real server
sends malformed frames, GOAWAYs or window stalls on demand; this one does.

The script gets a PeerConnection (preface and SETTINGS exchanged) and talks frames with the
client through it; `requests()` yields each request (stream id, headers, body) as it ends.
Response headers are encoded with a real HPACK encoder (dynamic table in use), so a client
that skips a header block desynchronises and fails."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import hpack
from gevent import monkey
from tritonclient.grpc import service_pb2

# The test process may have gevent's patches on (Locust's import): the peer runs in real OS
# threads on real sockets, as the threaded client under test does.
_socket = monkey.get_original("socket", "socket")
start_thread = monkey.get_original("_thread", "start_new_thread")
allocate_lock = monkey.get_original("_thread", "allocate_lock")
sleep = monkey.get_original("time", "sleep")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = 0, 1, 3, 4, 5, 6, 7
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM = ACK = 0x1
END_HEADERS, PADDED = 0x4, 0x8
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = 4, 5


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One frame, built here rather than by the client under test."""
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


def settings(**values: int) -> bytes:
    ids = {"initial_window_size": INITIAL_WINDOW_SIZE, "max_frame_size": MAX_FRAME_SIZE}
    return b"".join(struct.pack(">HI", ids[k], v) for k, v in values.items())


OK_BODY = service_pb2.ModelInferResponse(model_name="m").SerializeToString()


def grpc_message(message: bytes, flag: int = 0, length: int | None = None) -> bytes:
    return bytes([flag]) + (len(message) if length is None else length).to_bytes(4, "big") + message


@dataclass
class PeerConnection:
    sock: socket.socket
    encoder: hpack.Encoder = field(default_factory=hpack.Encoder)
    decoder: hpack.Decoder = field(default_factory=hpack.Decoder)
    buf: bytearray = field(default_factory=bytearray)
    client_settings: dict[int, int] = field(default_factory=dict)
    pings_acked: list[bytes] = field(default_factory=list)
    window_updates: list[tuple[int, int]] = field(default_factory=list)
    frames_seen: list[tuple[int, int, int, int]] = field(default_factory=list)  # kind, flags,
    # stream, length

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> tuple[int, int, int, bytes] | None:
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        length = int.from_bytes(self.buf[:3], "big")
        kind, flags = self.buf[3], self.buf[4]
        stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        payload = bytes(self.buf[9 : 9 + length])
        del self.buf[: 9 + length]
        self.frames_seen.append((kind, flags, stream, length))
        if kind == SETTINGS and not flags & ACK:
            for i in range(0, len(payload), 6):
                key, value = struct.unpack(">HI", payload[i : i + 6])
                self.client_settings[key] = value
            self.send(frame(SETTINGS, ACK, 0))
        elif kind == PING and flags & ACK:
            self.pings_acked.append(payload)
        elif kind == WINDOW_UPDATE:
            self.window_updates.append((stream, int.from_bytes(payload, "big")))
        return kind, flags, stream, payload

    def requests(self) -> Iterator[tuple[int, list[tuple[str, str]], bytes]]:
        """Each request as its stream ends; stops when the client closes."""
        blocks: dict[int, bytearray] = {}
        bodies: dict[int, bytearray] = {}
        headers: dict[int, list[tuple[str, str]]] = {}
        while (got := self.read_frame()) is not None:
            kind, flags, stream, payload = got
            if kind in (HEADERS, CONTINUATION):
                blocks.setdefault(stream, bytearray()).extend(payload)
                if flags & END_HEADERS:
                    headers[stream] = [
                        (str(k), str(v)) for k, v in self.decoder.decode(bytes(blocks.pop(stream)))
                    ]
            elif kind == DATA:
                bodies.setdefault(stream, bytearray()).extend(payload)
            if kind in (HEADERS, DATA) and flags & END_STREAM:
                yield stream, headers.get(stream, []), bytes(bodies.pop(stream, b""))

    def response_frames(
        self,
        stream: int,
        message: bytes | None = None,
        *,
        status: str = "0",
        max_frame: int = 16_384,
        extra_headers: tuple[tuple[str, str], ...] = (),
    ) -> bytes:
        """A whole unary response: headers, one gRPC message, trailers; header blocks split
        into CONTINUATION frames when larger than `max_frame`."""
        message = grpc_message(OK_BODY) if message is None else message
        head = self.encoder.encode(
            [(":status", "200"), ("content-type", "application/grpc"), *extra_headers]
        )
        trailers = self.encoder.encode([("grpc-status", status), ("grpc-message", "")])
        return (
            headers_frames(stream, head, 0, max_frame)
            + frame(DATA, 0, stream, message)
            + headers_frames(stream, trailers, END_STREAM, max_frame)
        )

    def goaway(self, last_stream: int, code: int = 0) -> None:
        self.send(frame(GOAWAY, 0, 0, struct.pack(">II", last_stream, code) + b"bye"))

    def reset(self, stream: int, code: int) -> None:
        self.send(frame(RST_STREAM, 0, stream, struct.pack(">I", code)))


def headers_frames(stream: int, block: bytes, flags: int, max_frame: int) -> bytes:
    parts = [block[i : i + max_frame] for i in range(0, len(block), max_frame)] or [b""]
    out = b""
    for i, part in enumerate(parts):
        last = END_HEADERS if i == len(parts) - 1 else 0
        out += frame(
            HEADERS if i == 0 else CONTINUATION, (flags if i == 0 else 0) | last, stream, part
        )
    return out


def _lingering_close(sock: socket.socket) -> None:
    """Close as nginx does: stop sending, then read what the client still sends (its ACKs,
    WINDOW_UPDATEs) for a while. Closing with those unread would reset the connection, and
    a reset throws away what the client has not read yet: the response just sent."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1.0)
        while sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


Script = Callable[[PeerConnection, int], None]  # the connection, its number (0, 1, ...)


class FakeH2Server:
    """Runs `script` on each accepted connection, in a thread of its own."""

    def __init__(self, script: Script, settings: bytes = b"") -> None:
        self.script = script
        self.settings = settings
        self.listener = _socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections: list[PeerConnection] = []
        self.errors: list[BaseException] = []
        self._closed = False
        start_thread(self._accept, ())

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                # Not accept(): it builds the module's socket class, gevent's once patched.
                fd, _ = self.listener._accept()
                sock = _socket(fileno=fd)
            except OSError:
                return
            conn = PeerConnection(sock)
            number = len(self.connections)
            self.connections.append(conn)
            start_thread(self._serve, (conn, number))

    def _serve(self, conn: PeerConnection, number: int) -> None:
        try:
            preface = b""
            while len(preface) < len(PREFACE):
                chunk = conn.sock.recv(len(PREFACE) - len(preface))
                if not chunk:
                    return
                preface += chunk
            conn.send(frame(SETTINGS, 0, 0, self.settings))
            self.script(conn, number)
        except OSError:
            pass
        except BaseException as exc:  # the test reads these
            self.errors.append(exc)
        finally:
            _lingering_close(conn.sock)

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for conn in self.connections:
            try:
                conn.sock.close()
            except OSError:
                pass
