"""TLS for our wire clients and the control plane, as perf_analyzer sets it up: over gRPC,
grpc's SslCredentials (the server's certificate and name always checked, against the root
certificates file or the system's CAs; a client certificate for mutual TLS); over HTTPS,
libcurl's options (verify-peer, verify-host, a CA bundle, a client certificate and key in
PEM or DER).

An SSLContext is built once per settings (cached): a connection only shakes hands in it, and
the requests after that pay for the record layer alone. The record layer runs in OpenSSL's
memory buffers over the connection's own socket (TlsStream), whichever kind it is: the
original blocking socket of a threaded user (its timeouts in the kernel's poll, as without
TLS) or gevent's. Not ssl.SSLSocket: once gevent has patched the process, the standard
library's SSL socket is built on gevent's socket, and would put every threaded user's wait
through a gevent hub. The control plane (geventhttpclient) wraps gevent's sockets in the
same context. Errors are one line, naming the flag whose file could not be used."""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.settings import SweepSettings, TlsSettings

# ALPN: gRPC is HTTP/2 (grpc servers and proxies expect "h2" offered); our HTTP client speaks
# HTTP/1.1 only, so a proxy that also serves HTTP/2 must not pick that.
ALPN = {"grpc": ["h2"], "http": ["http/1.1"]}
# What one recv on the socket takes: several TLS records at once. A bytes object per read
# (as our plain HTTP client's), not a buffer per connection: thousands of gevent users.
_READ_SIZE = 65_536
_RECORD = 16_384  # the most plaintext a TLS record carries


class TlsError(Exception):
    """A certificate or key file could not be used: one line naming its flag."""


class TlsStream:
    """TLS over a connected socket, through memory buffers: what our clients use of a socket
    (sendall, recv, settimeout, shutdown, close), encrypted. The socket's timeout and a
    Deadline's shutdown act on the socket itself, as without TLS."""

    def __init__(self, sock: Any, context: ssl.SSLContext, host: str) -> None:
        self.sock = sock
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host)

    def handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._feed()
        self._flush()

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self._tls.write(view) :]
            except ssl.SSLWantReadError:  # the peer's handshake messages first (rare)
                self._flush()
                self._feed()
        self._flush()

    def recv(self, size: int) -> bytes:
        """Up to `size` decrypted bytes (one TLS record's at most); b'' when the peer has
        closed the connection, with or without TLS's close_notify."""
        # A record holds at most 16 KiB: asking OpenSSL for more only allocates more.
        size = min(size, _RECORD)
        if not self._incoming.pending and not self._tls.pending() and not self._feed():
            return b""  # nothing buffered: wait on the socket first, not on an exception
        while True:
            try:
                return self._tls.read(size)
            except ssl.SSLWantReadError:
                self._flush()  # what reading may have to answer (TLS 1.3 key updates)
                if not self._feed():
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    def _feed(self) -> bool:
        data = self.sock.recv(_READ_SIZE)
        if not data:
            self._incoming.write_eof()
            return False
        self._incoming.write(data)
        return True

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self.sock.sendall(data)

    def getpeercert(self, binary_form: bool = False) -> Any:
        return self._tls.getpeercert(binary_form)

    def selected_alpn_protocol(self) -> str | None:
        return self._tls.selected_alpn_protocol()

    def settimeout(self, timeout_s: float | None) -> None:
        self.sock.settimeout(timeout_s)

    def setsockopt(self, *args: Any) -> None:
        self.sock.setsockopt(*args)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True, eq=False)
class ClientTls:
    """How one kind of connection speaks TLS: the context, and whether the certificate's name
    is checked here rather than by OpenSSL (libcurl's verify-host with verify-peer 0: the
    name is checked on a certificate that is not)."""

    context: ssl.SSLContext
    check_name: bool = False

    def wrap(self, sock: socket.socket, host: str) -> TlsStream:
        """`sock`, connected, after the TLS handshake with `host` (its SNI and the name its
        certificate is checked against). The socket's timeout bounds the handshake."""
        stream = TlsStream(sock, self.context, host)
        stream.handshake()
        if self.check_name:
            check_certificate_name(stream.getpeercert(binary_form=True) or b"", host)
        return stream


def wire_tls(settings: SweepSettings) -> ClientTls | None:
    """The TLS of the settings' connections (None: plain TCP). Raises TlsError."""
    if not settings.uses_tls:
        return None
    return client_tls(settings.tls, settings.protocol)


@functools.lru_cache(maxsize=16)
def client_tls(tls: TlsSettings, protocol: str) -> ClientTls:
    """Built once per (settings, protocol). Raises TlsError."""
    import gevent.ssl  # its context is the standard one, but wraps gevent's sockets too

    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_alpn_protocols(ALPN[protocol])
    if protocol == "grpc":
        roots = tls.ssl_grpc_root_certifications_file
        _trust(context, roots, "--ssl-grpc-root-certifications-file")
        if tls.ssl_grpc_certificate_chain_file:
            _load_pem_pair(
                context,
                tls.ssl_grpc_certificate_chain_file,
                tls.ssl_grpc_private_key_file,
                "--ssl-grpc-certificate-chain-file",
            )
        return ClientTls(context)
    check_name = False
    if tls.ssl_https_verify_peer:
        _trust(context, tls.ssl_https_ca_certificates_file, "--ssl-https-ca-certificates-file")
        context.check_hostname = bool(tls.ssl_https_verify_host)
    else:
        context.check_hostname = False  # before CERT_NONE: the context insists
        context.verify_mode = ssl.CERT_NONE
        check_name = bool(tls.ssl_https_verify_host)
    if tls.ssl_https_client_certificate_file:
        _load_client_certificate(context, tls)
    return ClientTls(context, check_name)


def _trust(context: ssl.SSLContext, cafile: str, flag: str) -> None:
    """The CAs a server's certificate is checked against: the file, or the system's (grpc
    honours GRPC_DEFAULT_SSL_ROOTS_FILE_PATH for its own default, and so do we for gRPC)."""
    try:
        if cafile:
            context.load_verify_locations(cafile=cafile)
        elif flag.startswith("--ssl-grpc") and os.environ.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"):
            context.load_verify_locations(cafile=os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"])
        else:
            context.load_default_certs()
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise TlsError(f"{flag} {cafile!r}: cannot load its certificates ({_reason(exc)})") from exc


def _load_pem_pair(context: ssl.SSLContext, certfile: str, keyfile: str, flag: str) -> None:
    try:
        context.load_cert_chain(certfile, keyfile or None)
    except (OSError, ValueError) as exc:
        raise TlsError(
            f"{flag} {certfile!r}: cannot load the client certificate and its key ({_reason(exc)})"
        ) from exc


def _load_client_certificate(context: ssl.SSLContext, tls: TlsSettings) -> None:
    """libcurl's client certificate and key, PEM or DER. OpenSSL's context takes PEM files
    only: DER ones are handed over as PEM in a private temporary folder, removed at once."""
    cert, key = tls.ssl_https_client_certificate_file, tls.ssl_https_private_key_file
    flag = "--ssl-https-client-certificate-file"
    if tls.ssl_https_client_certificate_type == "PEM" and tls.ssl_https_private_key_type == "PEM":
        _load_pem_pair(context, cert, key, flag)
        return
    with tempfile.TemporaryDirectory(prefix="triton-locust-tls-") as folder:
        if tls.ssl_https_client_certificate_type == "DER":
            cert = _as_pem(cert, Path(folder, "cert.pem"), flag, _der_certificate_pem)
        if key and tls.ssl_https_private_key_type == "DER":
            key_flag = "--ssl-https-private-key-file"
            key = _as_pem(key, Path(folder, "key.pem"), key_flag, _der_key_pem)
        _load_pem_pair(context, cert, key, flag)


def _as_pem(path: str, out: Path, flag: str, convert: Callable[[bytes], str]) -> str:
    try:
        pem = convert(Path(path).read_bytes())
    except OSError as exc:
        raise TlsError(f"{flag} {path!r}: cannot read it ({_reason(exc)})") from exc
    except ValueError as exc:
        raise TlsError(f"{flag} {path!r}: not DER ({exc})") from exc
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pem)
    return str(out)


def _der_certificate_pem(der: bytes) -> str:
    if not der or der[0] != 0x30:
        raise ValueError("a certificate is an ASN.1 SEQUENCE")
    return ssl.DER_cert_to_PEM_cert(der)


def _der_key_pem(der: bytes) -> str:
    """A DER private key as PEM, under the label of its structure (OpenSSL's PEM reader
    needs it): PKCS#8 ('PRIVATE KEY'), PKCS#1 RSA, or SEC1 EC; as OpenSSL's d2i_AutoPrivateKey
    tells them apart, by what follows the version number."""
    items = list(_children(der, *_value(der, 0)[1:]))
    if len(items) < 2 or items[0][0] != 0x02:
        raise ValueError("not a private key")
    label = {0x30: "PRIVATE KEY", 0x02: "RSA PRIVATE KEY", 0x04: "EC PRIVATE KEY"}.get(items[1][0])
    if label is None:
        raise ValueError("not a PKCS#8, RSA or EC private key")
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- the certificate's name, checked without OpenSSL's verification ------------------------
# With --ssl-https-verify-peer 0 OpenSSL checks nothing, yet libcurl still checks the name
# (verify-host): the certificate is read here, as far as its names go (RFC 5280).
_SAN_OID = bytes.fromhex("0603551d11")  # 2.5.29.17 subjectAltName, as a DER OID
_CN_OID = bytes.fromhex("0603550403")  # 2.5.4.3 commonName
_DNS_NAME, _IP_ADDRESS = 0x82, 0x87  # GeneralName's [2] dNSName and [7] iPAddress
_STRINGS = (0x0C, 0x13, 0x16, 0x14)  # UTF8String, PrintableString, IA5String, T61String


def check_certificate_name(der: bytes, host: str) -> None:
    """Raises ssl.SSLCertVerificationError unless the certificate names `host`: a subject
    alternative name of the host's kind (DNS name, wildcard in the leftmost label only; or IP
    address), or, when it has none, its common name; as libcurl's verify-host does."""
    try:
        dns_names, addresses, common_names = certificate_names(der)
    except (ValueError, IndexError) as exc:
        raise _refused(f"cannot read the server certificate's names ({exc})") from None
    try:
        packed: bytes | None = ipaddress.ip_address(host).packed
    except ValueError:
        packed = None
    if packed is not None:
        matched = packed in addresses or (not (dns_names or addresses) and host in common_names)
    elif dns_names or addresses:
        matched = any(_dns_match(name, host) for name in dns_names)
    else:
        matched = any(_dns_match(name, host) for name in common_names)
    if not matched:
        raise _refused(
            f"the server certificate does not name {host} (--ssl-https-verify-host 0 skips "
            "this check)"
        )


def _refused(message: str) -> ssl.SSLCertVerificationError:
    # (errno, strerror): an SSLError given the message alone prints as a tuple.
    return ssl.SSLCertVerificationError(ssl.SSL_ERROR_SSL, message)


def certificate_names(der: bytes) -> tuple[list[str], list[bytes], list[str]]:
    """(DNS names, IP addresses packed, common names) of a DER certificate."""
    _, start, end = _value(der, 0)  # Certificate
    _, start, end = _value(der, start)  # tbsCertificate
    items = list(_children(der, start, end))
    if items and items[0][0] == 0xA0:  # [0] version
        items = items[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, then [1] [2] [3]
    subject = items[4]
    common_names = [
        value
        for rdn in _children(der, subject[1], subject[2])
        for attribute in _children(der, rdn[1], rdn[2])
        for value in _common_name(der, attribute)
    ]
    dns_names: list[str] = []
    addresses: list[bytes] = []
    for tag, s, e in items[6:]:
        if tag != 0xA3:  # [3] extensions
            continue
        ((_, s, e),) = _children(der, s, e)  # Extensions ::= SEQUENCE OF Extension
        for _, es, ee in _children(der, s, e):
            parts = list(_children(der, es, ee))
            if der[parts[0][1] - 2 : parts[0][2]] != _SAN_OID:
                continue
            _, vs, ve = parts[-1]  # extnValue: an OCTET STRING holding GeneralNames
            ((_, gs, ge),) = _children(der, vs, ve)
            for name_tag, ns, ne in _children(der, gs, ge):
                if name_tag == _DNS_NAME:
                    dns_names.append(der[ns:ne].decode("ascii"))
                elif name_tag == _IP_ADDRESS:
                    addresses.append(der[ns:ne])
    return dns_names, addresses, common_names


def _common_name(der: bytes, attribute: tuple[int, int, int]) -> Iterator[str]:
    oid, value = list(_children(der, attribute[1], attribute[2]))[:2]
    if der[oid[1] - 2 : oid[2]] == _CN_OID and value[0] in _STRINGS:
        yield der[value[1] : value[2]].decode("utf-8", "replace")


def _value(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start, end) of the DER element at `pos` (its contents are der[start:end])."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(der: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    while start < end:
        element = _value(der, start)
        yield element
        start = element[2]


def _dns_match(pattern: str, host: str) -> bool:
    """RFC 6125 as libcurl applies it: case-blind, a trailing dot ignored, '*' only as the
    whole leftmost label, never matching more than one label, nor with fewer than two labels
    after it, nor an IP address."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if not pattern.startswith("*."):
        return pattern == host
    rest = pattern[2:]
    if rest.count(".") < 1 or "*" in rest:
        return False
    label, dot, host_rest = host.partition(".")
    return bool(label) and bool(dot) and host_rest == rest
