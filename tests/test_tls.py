"""TLS, with perf_analyzer's flags (issue 12). Certificates are made in the tests (trustme).

Pure: the certificate files a context is built from (PEM and DER, PKCS#8, RSA and EC keys),
libcurl's name check without verify-peer, and our clients' TLS against a small TLS peer in a
process of its own: answered requests, a server that stalls after the handshake or never
shakes hands (timeouts within the deadline, in both client_io modes).

Against the real server (`server`): Triton's own gRPC TLS, with and without client
certificates, and nginx (Debian's nginx-light) terminating HTTPS in front of Triton's HTTP
port: the client's request counts are the server's, with no errors; a certificate the
client must refuse is one line and exit 2 before any load."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from analysis.report.settings_words import settings_rows
from analysis.settings import SweepSettings, TlsSettings
from tests.helpers import REPO, load_levels, profile
from tests.nginx_service import https_proxy
from tests.test_profile_e2e import FAST, assert_counts_match_server
from triton_locust.server import SAMPLE_MODELS, GrpcTls, TritonServer, free_ports
from triton_user.wire.grpc_client import GrpcInferClient
from triton_user.wire.http_client import HttpInferClient
from triton_user.wire.tls import (
    TlsError,
    certificate_names,
    check_certificate_name,
    client_tls,
)

PAYLOAD = b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True)
class Certs:
    """A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and a
    second CA that signed neither ("wrong"), as files."""

    folder: Path
    ca: Path
    wrong_ca: Path
    server_cert: Path  # the server's certificate chain
    server_key: Path
    other_name_cert: Path  # signed by the CA, for another host only
    other_name_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("certs")
    ca, wrong = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    other = ca.issue_cert("triton.example")
    client = ca.issue_cert("client@triton-locust.example")

    def write(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return Certs(
        folder=folder,
        ca=write("ca.pem", ca.cert_pem.bytes()),
        wrong_ca=write("wrong-ca.pem", wrong.cert_pem.bytes()),
        server_cert=write("server.pem", b"".join(c.bytes() for c in server.cert_chain_pems)),
        server_key=write("server.key", server.private_key_pem.bytes()),
        other_name_cert=write("other.pem", b"".join(c.bytes() for c in other.cert_chain_pems)),
        other_name_key=write("other.key", other.private_key_pem.bytes()),
        client_cert=write("client.pem", b"".join(c.bytes() for c in client.cert_chain_pems)),
        client_key=write("client.key", client.private_key_pem.bytes()),
    )


# -- the certificate's name, as libcurl's verify-host checks it ---------------------------
def der_of(ca: trustme.CA, *names: str, common_name: str | None = None) -> bytes:
    leaf = ca.issue_cert(*names, common_name=common_name)
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


def test_certificate_names_are_read_from_the_der():
    der = der_of(trustme.CA(), "127.0.0.1", "::1", "triton.example", "*.wild.example")
    dns, addresses, _ = certificate_names(der)
    assert dns == ["triton.example", "*.wild.example"]
    assert addresses == [
        ipaddress.ip_address("127.0.0.1").packed,
        ipaddress.ip_address("::1").packed,
    ]


@pytest.mark.parametrize(
    "host, named",
    [
        ("triton.example", True),
        ("TRITON.example.", True),  # case-blind, a trailing dot ignored
        ("a.wild.example", True),
        ("a.b.wild.example", False),  # '*' is one label
        ("wild.example", False),
        ("127.0.0.1", True),
        ("::1", True),
        ("127.0.0.2", False),
        ("other.example", False),
    ],
)
def test_the_name_check_without_verify_peer(host, named):
    der = der_of(trustme.CA(), "127.0.0.1", "::1", "triton.example", "*.wild.example")
    if named:
        check_certificate_name(der, host)
    else:
        refused = "^the server certificate does not name"  # the message, not a tuple's repr
        with pytest.raises(ssl.SSLCertVerificationError, match=refused):
            check_certificate_name(der, host)


def test_the_name_check_reads_garbage_as_a_refusal():
    with pytest.raises(ssl.SSLCertVerificationError, match="^cannot read"):
        check_certificate_name(b"\x30\x82\xff\xff", "triton.example")


# -- the context: files in PEM and DER, errors in one line naming the flag --------------------
def https_tls(**values: object) -> TlsSettings:
    return TlsSettings(**values)  # type: ignore[arg-type]


def der_key_of(key_pem: bytes, kind: str) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    form = {
        "pkcs8": serialization.PrivateFormat.PKCS8,
        "traditional": serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1 RSA, SEC1 EC
    }[kind]
    return key.private_bytes(serialization.Encoding.DER, form, serialization.NoEncryption())


@pytest.mark.parametrize("key_type", [trustme.KeyType.ECDSA, trustme.KeyType.RSA])
@pytest.mark.parametrize("kind", ["pkcs8", "traditional"])
def test_client_certificates_load_in_pem_and_der(tmp_path, key_type, kind):
    leaf = trustme.CA(key_type=key_type).issue_cert("client.example", key_type=key_type)
    cert_pem = leaf.cert_chain_pems[0].bytes()
    key_pem = leaf.private_key_pem.bytes()
    (tmp_path / "c.der").write_bytes(ssl.PEM_cert_to_DER_cert(cert_pem.decode()))
    (tmp_path / "k.der").write_bytes(der_key_of(key_pem, kind))
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    (tmp_path / "both.pem").write_bytes(cert_pem + key_pem)
    for cert, cert_type, key, key_type_name in [
        ("c.der", "DER", "k.der", "DER"),
        ("c.pem", "PEM", "k.der", "DER"),
        ("c.der", "DER", "k.pem", "PEM"),
        ("c.pem", "PEM", "k.pem", "PEM"),
        ("both.pem", "PEM", "", "PEM"),  # libcurl: the key in the certificate's file
    ]:
        tls = https_tls(
            ssl_https_client_certificate_file=str(tmp_path / cert),
            ssl_https_client_certificate_type=cert_type,
            ssl_https_private_key_file=str(tmp_path / key) if key else "",
            ssl_https_private_key_type=key_type_name,
        )
        assert client_tls(tls, "http").context.verify_mode == ssl.CERT_REQUIRED


def one_line_tls_error(tls: TlsSettings, protocol: str = "http") -> str:
    with pytest.raises(TlsError) as caught:
        client_tls(tls, protocol)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_files_that_cannot_be_used_are_one_line_naming_the_flag(certs, tmp_path):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    assert one_line_tls_error(https_tls(ssl_https_ca_certificates_file=str(not_pem))).startswith(
        f"--ssl-https-ca-certificates-file {str(not_pem)!r}: cannot load"
    )
    assert one_line_tls_error(
        https_tls(ssl_grpc_use_ssl=True, ssl_grpc_root_certifications_file=str(not_pem)), "grpc"
    ).startswith("--ssl-grpc-root-certifications-file")
    # A key that is not the certificate's.
    mismatched = TlsSettings(
        ssl_grpc_use_ssl=True,
        ssl_grpc_certificate_chain_file=str(certs.client_cert),
        ssl_grpc_private_key_file=str(certs.server_key),
    )
    assert one_line_tls_error(mismatched, "grpc").startswith("--ssl-grpc-certificate-chain-file")
    # PEM given as DER.
    assert one_line_tls_error(
        https_tls(
            ssl_https_client_certificate_file=str(certs.client_cert),
            ssl_https_client_certificate_type="DER",
        )
    ).startswith("--ssl-https-client-certificate-file")
    assert one_line_tls_error(
        https_tls(
            ssl_https_client_certificate_file=str(certs.client_cert),
            ssl_https_private_key_file=str(certs.client_key),
            ssl_https_private_key_type="DER",
        )
    ).startswith("--ssl-https-private-key-file")


def test_libcurl_s_verify_options_set_the_context():
    checked = client_tls(TlsSettings(), "http")
    assert checked.context.verify_mode == ssl.CERT_REQUIRED and checked.context.check_hostname
    assert not checked.check_name
    no_name = client_tls(TlsSettings(ssl_https_verify_host=0), "http")
    assert no_name.context.verify_mode == ssl.CERT_REQUIRED and not no_name.context.check_hostname
    name_only = client_tls(TlsSettings(ssl_https_verify_peer=0), "http")
    assert name_only.context.verify_mode == ssl.CERT_NONE and name_only.check_name
    nothing = client_tls(TlsSettings(ssl_https_verify_peer=0, ssl_https_verify_host=0), "http")
    assert nothing.context.verify_mode == ssl.CERT_NONE and not nothing.check_name
    assert client_tls(TlsSettings(), "http") is checked  # built once per settings


def test_the_report_says_how_tls_was_spoken():
    https = SweepSettings(
        model="m",
        url="https://triton.example:8443",
        tls=TlsSettings(
            ssl_https_verify_peer=0,
            ssl_https_client_certificate_file="c.der",
            ssl_https_client_certificate_type="DER",
        ),
    )
    rows = dict(settings_rows(https.to_dict()))
    assert rows["TLS"] == (
        "HTTPS; the server's certificate not checked (verify-peer 0); its name checked; "
        "client certificate c.der (DER)"
    )
    grpc = SweepSettings(
        model="m",
        protocol="grpc",
        tls=TlsSettings(ssl_grpc_use_ssl=True, ssl_grpc_root_certifications_file="ca.pem"),
    )
    assert dict(settings_rows(grpc.to_dict()))["TLS"] == (
        "gRPC over TLS; the server's certificate checked against ca.pem"
    )
    assert dict(settings_rows(SweepSettings(model="m").to_dict()))["TLS"] == "none"


# -- our clients against a TLS peer --------------------------------------------------------
PEER = textwrap.dedent(
    """
    # A TLS server on a free loopback port (printed first): "answer" answers every HTTP/1.1
    # request with a small inference response; "stall" shakes hands, then never answers.
    import socket, ssl, sys, threading
    mode, cert, key, alpn, ca = sys.argv[1:6]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols([alpn])
    if ca != "-":
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(ca)
    BODY = b'{"model_name":"m","outputs":[]}'
    ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(BODY), BODY)

    def serve(raw):
        try:
            conn = context.wrap_socket(raw, server_side=True)
            buf = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                if mode == "stall":
                    continue
                buf += chunk
                while b"\\r\\n\\r\\n" in buf:
                    head, _, buf = buf.partition(b"\\r\\n\\r\\n")
                    conn.sendall(ANSWER)
        except (OSError, ssl.SSLError):
            pass

    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        raw, _ = listener.accept()
        threading.Thread(target=serve, args=(raw,), daemon=True).start()
    """
)


@pytest.fixture
def tls_peer(certs: Certs) -> Iterator[Callable[..., int]]:
    """Start a TLS peer: peer(mode, alpn="http/1.1", cert=..., key=..., client_ca=None)."""
    started: list[subprocess.Popen[str]] = []

    def start(
        mode: str,
        alpn: str = "http/1.1",
        cert: Path | None = None,
        key: Path | None = None,
        client_ca: Path | None = None,
    ) -> int:
        args = [mode, str(cert or certs.server_cert), str(key or certs.server_key), alpn]
        args.append(str(client_ca) if client_ca else "-")
        peer = subprocess.Popen(
            [sys.executable, "-c", PEER, *args], stdout=subprocess.PIPE, text=True
        )
        started.append(peer)
        assert peer.stdout is not None
        return int(peer.stdout.readline())

    yield start
    for peer in started:
        peer.kill()
        peer.wait()


def https_client(port: int, tls: TlsSettings, timeout_s: float = 5.0, client_io: str = "threads"):
    return HttpInferClient(
        f"https://127.0.0.1:{port}",
        timeout_s=timeout_s,
        client_io=client_io,
        tls=client_tls(tls, "http"),
    )


def test_an_https_client_is_answered_over_its_kept_connection(certs, tls_peer):
    port = tls_peer("answer")
    client = https_client(port, TlsSettings(ssl_https_ca_certificates_file=str(certs.ca)))
    for _ in range(3):
        t = client.infer(PAYLOAD)
        assert t.error is None, t.error
    stream = client._sock
    assert stream is not None and stream.selected_alpn_protocol() == "http/1.1"
    assert client.infer(PAYLOAD).error is None and client._sock is stream  # kept alive
    client.close()


@pytest.mark.parametrize(
    "tls, expected",
    [
        ({"ssl_https_ca_certificates_file": "wrong_ca"}, "CERTIFICATE_VERIFY_FAILED"),
        ({"ssl_https_ca_certificates_file": "wrong_ca", "ssl_https_verify_peer": 0}, None),
        ({"ssl_https_ca_certificates_file": "ca", "ssl_https_verify_host": 0}, None),
    ],
)
def test_verify_peer_decides_whether_the_ca_matters(certs, tls_peer, tls, expected):
    port = tls_peer("answer")
    files = {"ca": str(certs.ca), "wrong_ca": str(certs.wrong_ca)}
    settings = TlsSettings(**{k: files.get(v, v) for k, v in tls.items()})  # type: ignore[arg-type]
    t = https_client(port, settings).infer(PAYLOAD)
    if expected is None:
        assert t.error is None, t.error
    else:
        assert t.error is not None and expected in t.error, t.error


@pytest.mark.parametrize(
    "verify_peer, verify_host, refused",
    [(1, 2, True), (0, 2, True), (0, 1, True), (1, 0, False), (0, 0, False)],
)
def test_verify_host_checks_the_name_with_or_without_verify_peer(
    certs, tls_peer, verify_peer, verify_host, refused
):
    # The certificate is the CA's, for triton.example: not for 127.0.0.1.
    port = tls_peer("answer", cert=certs.other_name_cert, key=certs.other_name_key)
    settings = TlsSettings(
        ssl_https_ca_certificates_file=str(certs.ca),
        ssl_https_verify_peer=verify_peer,
        ssl_https_verify_host=verify_host,
    )
    t = https_client(port, settings).infer(PAYLOAD)
    if refused:
        assert t.error is not None and ("match" in t.error or "does not name" in t.error), t.error
    else:
        assert t.error is None, t.error


def test_a_client_certificate_is_presented_when_the_server_asks(certs, tls_peer):
    port = tls_peer("answer", client_ca=certs.ca)
    anonymous = https_client(port, TlsSettings(ssl_https_ca_certificates_file=str(certs.ca)))
    t = anonymous.infer(PAYLOAD)
    assert t.error is not None  # the server closes on a handshake without a certificate
    settings = TlsSettings(
        ssl_https_ca_certificates_file=str(certs.ca),
        ssl_https_client_certificate_file=str(certs.client_cert),
        ssl_https_private_key_file=str(certs.client_key),
    )
    assert https_client(port, settings).infer(PAYLOAD).error is None


def grpc_tls_client(port: int, certs: Certs, timeout_s: float, client_io: str = "threads"):
    tls = TlsSettings(ssl_grpc_use_ssl=True, ssl_grpc_root_certifications_file=str(certs.ca))
    return GrpcInferClient(
        f"127.0.0.1:{port}", timeout_s=timeout_s, client_io=client_io, tls=client_tls(tls, "grpc")
    )


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("stage", ["after the handshake", "in the handshake"])
def test_a_stalled_tls_server_gives_timeouts_within_the_deadline(certs, tls_peer, protocol, stage):
    if stage == "in the handshake":
        silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; no one answers
        port = silent.getsockname()[1]
    else:
        port = tls_peer("stall", alpn="h2" if protocol == "grpc" else "http/1.1")
    if protocol == "grpc":
        client = grpc_tls_client(port, certs, 0.2)
    else:
        client = https_client(port, TlsSettings(ssl_https_ca_certificates_file=str(certs.ca)), 0.2)
    for _ in range(2):  # the second request on a new connection
        began = time.monotonic()
        t = client.infer(PAYLOAD)
        took = time.monotonic() - began
        assert t.error is not None and t.error.startswith("timeout"), t.error
        assert 0.15 <= took < 1.5, took
    client.close()
    if stage == "in the handshake":
        silent.close()


GEVENT_SCRIPT = """
from gevent import monkey; monkey.patch_all()
import sys, time
from pathlib import Path
import gevent
from analysis.settings import TlsSettings
from tests.test_tls import PAYLOAD, Certs, grpc_tls_client, https_client
answering, stalling, stalling_h2 = (int(a) for a in sys.argv[1:4])
ca = sys.argv[4]
certs = Certs(*(Path(ca) for _ in range(9)))
https = TlsSettings(ssl_https_ca_certificates_file=ca)
def answered():
    client = https_client(answering, https, 5.0, "gevent")
    return [client.infer(PAYLOAD).error for _ in range(3)]
def stalled(protocol):
    if protocol == "grpc":
        client = grpc_tls_client(stalling_h2, certs, 0.2, "gevent")
    else:
        client = https_client(stalling, https, 0.2, "gevent")
    began = time.monotonic()
    t = client.infer(PAYLOAD)
    return t.error, time.monotonic() - began
ok = gevent.spawn(answered)
jobs = [gevent.spawn(stalled, p) for p in ("http", "grpc", "http", "grpc")]
gevent.joinall([ok, *jobs], timeout=10)
assert ok.value == [None, None, None], ok.value
for job in jobs:
    error, took = job.value
    assert error.startswith("timeout"), error
    assert 0.15 <= took < 1.5, took
print("ok")
"""


def test_tls_under_gevent_is_answered_and_times_out_within_the_deadline(certs, tls_peer):
    # A shared deadline watchdog shuts down the TLS connection's socket under its reader.
    answering, stalling = tls_peer("answer"), tls_peer("stall")
    stalling_h2 = tls_peer("stall", alpn="h2")
    run = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT]
        + [str(answering), str(stalling), str(stalling_h2), str(certs.ca)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert run.stdout.strip() == "ok", run.stderr


# -- against the real server ----------------------------------------------------------------
MODEL = "identity_fp32"


def one_model_repository(folder: Path) -> Path:
    """The sample identity model alone: a TLS server of the tests' own starts quicker."""
    shutil.copytree(SAMPLE_MODELS / MODEL, folder / MODEL)
    return folder


@contextmanager
def grpc_tls_triton(certs: Certs, folder: Path, mutual: bool) -> Iterator[TritonServer]:
    tls = GrpcTls(certs.server_cert, certs.server_key, certs.ca, mutual=mutual)
    repository = one_model_repository(folder)
    with TritonServer(*free_ports(3), model_repository=repository, grpc_tls=tls) as server:
        yield server


@pytest.fixture(scope="module")
def tls_triton(certs, tmp_path_factory) -> Iterator[TritonServer]:
    with grpc_tls_triton(certs, tmp_path_factory.mktemp("tls-models"), mutual=False) as server:
        yield server


@pytest.fixture(scope="module")
def mutual_tls_triton(certs, tmp_path_factory) -> Iterator[TritonServer]:
    with grpc_tls_triton(certs, tmp_path_factory.mktemp("mutual-models"), mutual=True) as server:
        yield server


@pytest.fixture(scope="module")
def https_url(certs, triton_server, tmp_path_factory) -> Iterator[str]:
    """nginx terminating HTTPS in front of the session's Triton."""
    folder = tmp_path_factory.mktemp("nginx")
    with https_proxy(folder, triton_server.http_url, certs.server_cert, certs.server_key) as url:
        yield url


@pytest.fixture(scope="module")
def mutual_https_url(certs, triton_server, tmp_path_factory) -> Iterator[str]:
    """nginx requiring a client certificate signed by the CA."""
    folder = tmp_path_factory.mktemp("nginx-mutual")
    with https_proxy(
        folder, triton_server.http_url, certs.server_cert, certs.server_key, client_ca=certs.ca
    ) as url:
        yield url


def sweep(tmp_path: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    out = tmp_path / "perf.json"
    run = profile("-m", MODEL, *flags, *FAST, "--json", str(out))
    assert "Traceback" not in run.stderr, run.stderr
    return run, (load_levels(out) if out.exists() else [])


def assert_served_without_errors(
    run: subprocess.CompletedProcess[str], levels: list[dict], protocol: str, concurrencies: list
) -> None:
    assert run.returncode in (0, 1), run.stderr  # 1: a level unstable on a noisy machine
    assert [level["concurrency"] for level in levels] == concurrencies
    assert sum(w["error_count"] for level in levels for w in level["windows"]) == 0
    assert_counts_match_server(levels, protocol=protocol)


def one_line_refusal(run: subprocess.CompletedProcess[str]) -> str:
    """A run refused before any load: exit 2 and one line on stderr."""
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


def served(http_url: str) -> int:
    """Triton's success count of the model (its HTTP statistics, in the clear)."""
    with urllib.request.urlopen(f"http://{http_url}/v2/models/{MODEL}/stats") as response:
        stats = json.load(response)["model_stats"]
    return sum(int(s["inference_stats"]["success"]["count"]) for s in stats)


@pytest.mark.server
@pytest.mark.parametrize("client_io", ["threads", "gevent"])
def test_grpc_over_triton_s_own_tls_counts_what_the_server_served(
    certs, tls_triton, tmp_path, client_io
):
    run, levels = sweep(
        tmp_path,
        *("-u", tls_triton.grpc_url, "-i", "grpc", "--concurrency-range", "1:2"),
        *("--ssl-grpc-use-ssl", "--ssl-grpc-root-certifications-file", str(certs.ca)),
        *("--client-io", client_io),
    )
    assert_served_without_errors(run, levels, "grpc", [1, 2])
    assert json.loads((tmp_path / "perf.json").read_text())["settings"]["tls"][
        "ssl_grpc_root_certifications_file"
    ] == str(certs.ca)


@pytest.mark.server
def test_grpc_tls_with_the_wrong_ca_or_in_the_clear_is_refused_before_any_load(
    certs, tls_triton, tmp_path
):
    before = served(tls_triton.http_url)
    refused = sweep(
        tmp_path,
        *("-u", tls_triton.grpc_url, "-i", "grpc", "--ssl-grpc-use-ssl", "true"),
        *("--ssl-grpc-root-certifications-file", str(certs.wrong_ca)),
    )[0]
    assert "cannot reach Triton" in one_line_refusal(refused)
    plain = sweep(tmp_path, "-u", tls_triton.grpc_url, "-i", "grpc")[0]
    assert "cannot reach Triton" in one_line_refusal(plain)
    assert served(tls_triton.http_url) == before


@pytest.mark.server
def test_mutual_grpc_tls_counts_what_the_server_served_and_needs_the_certificate(
    certs, mutual_tls_triton, tmp_path
):
    url = ["-u", mutual_tls_triton.grpc_url, "-i", "grpc", "--ssl-grpc-use-ssl"]
    roots = ["--ssl-grpc-root-certifications-file", str(certs.ca)]
    run, levels = sweep(
        tmp_path,
        *url,
        *roots,
        *("--ssl-grpc-certificate-chain-file", str(certs.client_cert)),
        *("--ssl-grpc-private-key-file", str(certs.client_key)),
        *("--concurrency-range", "2"),
    )
    assert_served_without_errors(run, levels, "grpc", [2])
    before = served(mutual_tls_triton.http_url)
    anonymous = sweep(tmp_path, *url, *roots)[0]
    assert "cannot reach Triton" in one_line_refusal(anonymous)
    assert served(mutual_tls_triton.http_url) == before


@pytest.mark.server
@pytest.mark.parametrize("client_io", ["threads", "gevent"])
def test_https_through_nginx_counts_what_the_server_served(certs, https_url, tmp_path, client_io):
    run, levels = sweep(
        tmp_path,
        *("-u", https_url, "--ssl-https-ca-certificates-file", str(certs.ca)),
        *("--concurrency-range", "1:2", "--client-io", client_io),
    )
    assert_served_without_errors(run, levels, "http", [1, 2])


@pytest.mark.server
def test_https_with_the_wrong_ca_is_refused_before_any_load(
    certs, https_url, triton_server, tmp_path
):
    before = served(triton_server.http_url)
    refused = sweep(
        tmp_path, "-u", https_url, "--ssl-https-ca-certificates-file", str(certs.wrong_ca)
    )
    line = one_line_refusal(refused[0])
    assert "over HTTPS" in line and "CERTIFICATE_VERIFY_FAILED" in line, line
    assert refused[1] == []
    assert served(triton_server.http_url) == before


@pytest.mark.server
def test_https_without_verify_peer_takes_the_wrong_ca(certs, https_url, tmp_path):
    run, levels = sweep(
        tmp_path,
        *("-u", https_url, "--ssl-https-ca-certificates-file", str(certs.wrong_ca)),
        *("--ssl-https-verify-peer", "0", "--concurrency-range", "2"),
    )
    assert_served_without_errors(run, levels, "http", [2])


@pytest.mark.server
def test_mutual_https_with_a_der_client_certificate(certs, mutual_https_url, tmp_path):
    der_cert, der_key = tmp_path / "client.der", tmp_path / "client.key.der"
    der_cert.write_bytes(ssl.PEM_cert_to_DER_cert(certs.client_cert.read_text()))
    der_key.write_bytes(der_key_of(certs.client_key.read_bytes(), "traditional"))
    url = ["-u", mutual_https_url, "--ssl-https-ca-certificates-file", str(certs.ca)]
    run, levels = sweep(
        tmp_path,
        *url,
        *("--ssl-https-client-certificate-file", str(der_cert)),
        *("--ssl-https-client-certificate-type", "DER"),
        *("--ssl-https-private-key-file", str(der_key)),
        *("--ssl-https-private-key-type", "DER"),
        *("--concurrency-range", "2"),
    )
    assert_served_without_errors(run, levels, "http", [2])
    anonymous = sweep(tmp_path, *url)[0]
    assert "No required SSL certificate was sent" in one_line_refusal(anonymous)
