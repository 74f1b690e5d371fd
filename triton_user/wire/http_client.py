"""KServe v2 inference over HTTP/1.1 keep-alive, on a plain (gevent-patched) socket or TLS
over it (an https:// URL).

The request's wire form is built once per input set and sent as is every time; the client
times what it does, in three parts it can see:
  send: from the start until the request's last byte is handed to the kernel;
  response wait: until the first byte of the response arrives;
  recv: reading the rest of the response and decoding its inference header.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping, Sequence

from analysis.settings import host_port
from triton_user.wire.sockets import Backoff, Deadline, connect
from triton_user.wire.tensor import Region, Tensor, raw_values
from triton_user.wire.timing import ErrorLog, Timing, timeout_message
from triton_user.wire.tls import ClientTls

_CRLF2 = b"\r\n\r\n"
CHUNKED, TO_CLOSE = -1, -2  # body lengths that are not a Content-Length
_MAX_LINE = 65_536


def model_path(model: str, version: str = "") -> str:
    return f"/v2/models/{model}" + (f"/versions/{version}" if version else "")


def encode_request(
    host: str,
    model: str,
    version: str,
    inputs: Sequence[Tensor],
    outputs: Sequence[str],
    headers: Mapping[str, str] | None = None,
    output_regions: Mapping[str, Region] | None = None,
) -> bytes:
    """The whole HTTP request: binary tensor extension, outputs asked for in binary. An
    input with a region (--shared-memory) is named by its parameters and carries no data;
    an output in `output_regions` is written there by the server and not sent back. A
    request with no binary part is JSON alone, as tritonclient sends it."""
    output_regions = output_regions or {}
    raws = [b"" if t.region else t.raw_bytes() for t in inputs]
    inference_header = json.dumps(
        {
            "inputs": [
                {
                    "name": t.name,
                    "shape": list(t.shape),
                    "datatype": t.datatype,
                    "parameters": (
                        t.region.parameters() if t.region else {"binary_data_size": len(raw)}
                    ),
                }
                for t, raw in zip(inputs, raws, strict=True)
            ],
            "outputs": [
                {
                    "name": o,
                    "parameters": (
                        output_regions[o].parameters()
                        if o in output_regions
                        else {"binary_data": True}
                    ),
                }
                for o in outputs
            ],
        },
        separators=(",", ":"),
    ).encode()
    body = inference_header + b"".join(raws)
    binary = not inputs or any(t.region is None for t in inputs)
    lines = [
        f"POST {model_path(model, version)}/infer HTTP/1.1",
        f"Host: {host}",
        *(
            [
                "Content-Type: application/octet-stream",
                f"Inference-Header-Content-Length: {len(inference_header)}",
            ]
            if binary
            else ["Content-Type: application/json"]
        ),
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class SequenceRequest:
    """An encoded request (encode_request's) sent as requests of sequences: each call puts
    the sequence's parameters first in the JSON inference header and rebuilds only that
    header and the two lengths; the binary tensors are reused as they are."""

    def __init__(self, request: bytes) -> None:
        head, _, body = request.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        json_key, lengths = b"inference-header-content-length:", (b"content-length:",)
        json_lines = [line for line in lines if line.lower().startswith(json_key)]
        json_length = int(json_lines[0].split(b":", 1)[1]) if json_lines else len(body)
        self._binary = bool(json_lines)  # else the request is JSON alone
        self._head = b"\r\n".join(
            line for line in lines if not line.lower().startswith((*lengths, json_key))
        )
        assert body[:1] == b"{", "an inference header is a JSON object"
        self._header_rest = body[1:json_length]  # after its opening brace
        self._tensors = body[json_length:]

    def with_sequence(self, sequence_id: int | str, start: bool, end: bool) -> bytes:
        """The request with `parameters` sequence_id, sequence_start and sequence_end."""
        sid = json.dumps(sequence_id).encode()  # a number, or a string in quotes
        header = b'{"parameters":{"sequence_id":%s,"sequence_start":%s,"sequence_end":%s},%s' % (
            sid,
            b"true" if start else b"false",
            b"true" if end else b"false",
            self._header_rest,
        )
        lengths = b"\r\nContent-Length: %d" % (len(header) + len(self._tensors))
        if self._binary:
            lengths += b"\r\nInference-Header-Content-Length: %d" % len(header)
        return self._head + lengths + b"\r\n\r\n" + header + self._tensors


class HttpInferClient:
    """One keep-alive connection: one request in flight at a time."""

    def __init__(
        self,
        url: str,
        timeout_s: float = 60.0,
        client_io: str = "gevent",
        tls: ClientTls | None = None,
    ) -> None:
        """`tls`: HTTPS (an https:// URL), its context built once per settings."""
        self._address = host_port(url)
        self._timeout_s = timeout_s
        self._client_io = client_io
        self._tls = tls
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        # The last response's body and inference header length: decoded only on demand.
        self._body, self._json_length = b"", None
        self._deadline = Deadline(timeout_s, client_io)
        self._backoff = Backoff(client_io)

    def _connect(self) -> socket.socket:
        sock = connect(self._address, self._timeout_s, self._client_io, self._tls)
        self._buf.clear()
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def infer(self, request: bytes) -> Timing:
        """Send one pre-encoded request and read its response. Never raises: a failure is
        the Timing's error."""
        start = time.monotonic_ns()
        sent = first = start
        deadline = self._deadline
        try:
            for _ in range(2):
                reused = self._sock is not None
                if self._sock is None:
                    self._sock = self._connect()
                sock = self._sock
                deadline.arm(sock)
                try:
                    sock.sendall(request)
                    sent = time.monotonic_ns()
                    first = self._fill(sock)
                    break
                except (OSError, ValueError) as exc:
                    # A kept connection the server closed while idle: nothing came back, so
                    # the request goes again on a new one, as libcurl does.
                    if not reused or deadline.timed_out(exc):
                        raise
                    deadline.disarm()
                    self.close()
            status, length, json_length, keep_alive = self._read_head(sock)
            if length >= 0:
                body = self._read_body(sock, length)
            elif length == CHUNKED:
                body = self._read_chunked(sock)
            else:
                body, keep_alive = self._read_to_close(sock), False
        except (OSError, ValueError) as exc:
            deadline.disarm()
            self.close()
            if deadline.timed_out(exc):
                failed = _failed(start, sent, first, timeout_message(self._timeout_s))
            else:
                failed = _failed(start, sent, first, f"HTTP connection failed: {exc}")
            self._backoff.failed()
            return failed
        except Exception as exc:  # a defect of ours: one error of this request, not a crash
            deadline.disarm()
            self.close()
            return _failed(start, sent, first, f"HTTP client error: {type(exc).__name__}: {exc}")
        deadline.disarm()
        self._backoff.succeeded()
        if not keep_alive:
            self.close()
        if status != 200:
            return _failed(start, sent, first, _error_message(status, body))
        self._body, self._json_length = body, json_length
        error = _check_inference_header(body[:json_length] if json_length is not None else body)
        if error is not None:
            ErrorLog.note(error)
        end = time.monotonic_ns()
        return Timing(start, end, sent - start, end - first, len(body), error)

    def last_outputs(self) -> dict[str, bytes]:
        """The last successful response's outputs, raw (validation data is compared with
        them). Raises ValueError when the response cannot be decoded."""
        return response_outputs(self._body, self._json_length)

    def _fill(self, sock: socket.socket) -> int:
        """Block for the next bytes of the response; returns when they arrived."""
        chunk = sock.recv(65536)
        arrived = time.monotonic_ns()
        if not chunk:
            raise ValueError("server closed the connection")
        self._buf += chunk
        return arrived

    def _read_head(self, sock: socket.socket) -> tuple[int, int, int | None, bool]:
        """(status, body length or CHUNKED or TO_CLOSE, inference header length, whether
        the connection stays open). Interim (1xx) responses are skipped."""
        while True:
            while (end := self._buf.find(_CRLF2)) < 0:
                self._fill(sock)
            head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
            del self._buf[: end + 4]
            version, _, rest = head[0].partition(" ")
            code = rest[:3]
            if not (version.startswith("HTTP/1.") and code.isdigit() and rest[3:4] in ("", " ")):
                raise ValueError(f"malformed status line {head[0][:100]!r}")
            status = int(code)
            if status >= 200:
                break
        length, json_length = TO_CLOSE, None
        keep_alive = version != "HTTP/1.0"
        for line in head[1:]:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "content-length":
                value = value.strip()
                if not value.isdigit():
                    raise ValueError(f"malformed Content-Length {value[:40]!r}")
                if length != CHUNKED:  # Transfer-Encoding wins (RFC 9112 6.3)
                    length = int(value)
            elif key == "inference-header-content-length":
                json_length = int(value)
            elif key == "connection":
                value = value.strip().lower()
                keep_alive = value != "close" and (keep_alive or value == "keep-alive")
            elif key == "transfer-encoding" and "chunked" in value.lower():
                length = CHUNKED
        if length == TO_CLOSE and (status in (204, 304)):
            length = 0
        return status, length, json_length, keep_alive

    def _read_body(self, sock: socket.socket, length: int) -> bytes:
        while len(self._buf) < length:
            self._fill(sock)
        body = bytes(self._buf[:length])
        del self._buf[:length]
        return body

    def _read_line(self, sock: socket.socket) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            if len(self._buf) > _MAX_LINE:
                raise ValueError("a chunk line too long")
            self._fill(sock)
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line

    def _read_chunked(self, sock: socket.socket) -> bytes:
        """Transfer-Encoding: chunked (RFC 9112 7.1): sizes in hex, extensions ignored, the
        trailer section read and dropped."""
        body = bytearray()
        while True:
            line = self._read_line(sock)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ValueError(f"malformed chunk size {size_text[:20]!r}") from None
            if size < 0 or not size_text.isalnum():
                raise ValueError(f"malformed chunk size {size_text[:20]!r}")
            if size == 0:
                while self._read_line(sock):  # trailer fields, up to the empty line
                    pass
                return bytes(body)
            body += self._read_body(sock, size)
            if self._read_line(sock):
                raise ValueError("a chunk longer than its size")

    def _read_to_close(self, sock: socket.socket) -> bytes:
        """No Content-Length, not chunked: the body ends when the server closes."""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            self._buf += chunk
        body = bytes(self._buf)
        self._buf.clear()
        return body


def _error_message(status: int, body: bytes) -> str:
    try:
        return f"HTTP {status}: {json.loads(body)['error']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"


def _failed(start: int, sent: int, first: int, error: str) -> Timing:
    ErrorLog.note(error)
    end = time.monotonic_ns()
    return Timing(start, end, sent - start, end - first, 0, error)


def response_outputs(body: bytes, json_length: int | None) -> dict[str, bytes]:
    """An inference response's outputs as raw bytes, as the binary tensor extension carries
    them (BYTES: each element after its 4-byte length); outputs sent as JSON "data" are
    converted to that form. Raises ValueError."""
    header = json.loads(body[:json_length] if json_length is not None else body)
    offset = json_length if json_length is not None else len(body)
    outputs = {}
    for output in header.get("outputs", []):
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if offset + size > len(body):
                raise ValueError(f"output {output['name']}: binary data past the body's end")
            outputs[output["name"]] = body[offset : offset + size]
            offset += size
        else:
            outputs[output["name"]] = raw_values(output["datatype"], output.get("data", []))
    return outputs


def _check_inference_header(header: bytes) -> str | None:
    """Decode the response's JSON part (its binary outputs follow it and are left as bytes),
    as a client library does before handing the result over."""
    try:
        json.loads(header)
    except ValueError as exc:
        return f"malformed inference response: {exc}"
    return None
