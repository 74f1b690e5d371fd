"""The flag table (analysis/flag_table.py): every perf_analyzer flag has a Locust option, and
a setting given to `triton-locust profile` reaches a Locust worker unchanged; the parsers of
the values it carries fail with one line naming the flag."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from locust import LoadTestShape
from locust.argument_parser import default_args_dict, parse_options
from locust.env import Environment
from locust.rpc.protocol import Message

import triton_user.locustfile  # noqa: F401  (registers the Locust options, as `locust -f` does)
from analysis.flag_table import FLAGS, from_values
from analysis.periodic import PeriodicRange
from analysis.settings import (
    Outputs,
    SweepSettings,
    TlsSettings,
    host_port,
    parse_headers,
    parse_range,
    parse_shapes,
)
from triton_locust.cli import build_parser
from triton_locust.pa_flags import from_pa_namespace
from triton_user.options import (
    RepeatedValues,
    follow_new_settings,
    from_locust_options,
    locust_namespace,
)
from triton_user.user import TritonUser

LOCUSTFILE = str(Path(triton_user.locustfile.__file__))

# Every row of the table, set to something other than its default.
NON_DEFAULT_ARGV: dict[str, list[str]] = {
    "model": ["-m", "dynamic_identity"],
    "model_version": ["-x", "3"],
    "url": ["-u", "triton.example:9000"],
    "protocol": ["-i", "grpc"],
    "batch_size": ["-b", "4"],
    "concurrency_range": ["--concurrency-range", "2:8:3"],
    "measurement_interval_ms": ["-p", "750"],
    "measurement_mode": ["--measurement-mode", "count_windows"],
    "measurement_request_count": ["--measurement-request-count", "120"],
    "stability_pct": ["-s", "7.5"],
    "max_trials": ["-r", "4"],
    "percentile": ["--percentile", "95"],
    "latency_threshold_ms": ["-l", "250"],
    "binary_search": ["--binary-search"],  # 2:8:3 above has an END, and -l is set
    # A data file: the settings check only that it exists (the plan reads it); any does.
    "input_data": ["--input-data", "random", "--input-data", __file__],
    "shape": ["--shape", "INPUT0:16", "--shape", "INPUT1:2,3"],
    "string_length": ["--string-length", "9"],
    "sequence_length": ["--sequence-length", "7"],
    "sequence_length_variation": ["--sequence-length-variation", "5.5"],
    "sequence_id_range": ["--sequence-id-range", "3:103"],  # at least END 8's IDs
    "num_of_sequences": ["--num-of-sequences", "6"],
    "serial_sequences": ["--serial-sequences"],
    "shared_memory": ["--shared-memory", "system"],
    "output_shared_memory_size": ["--output-shared-memory-size", "4096"],
    "header": ["-H", "X-Probe:abc", "-H", "Authorization:Bearer t0k3n"],
    "header_from_env": ["--header-from-env", "X-From-Env:PATH"],  # PATH: always set
    "csv": ["-f", "out.csv"],
    "verbose_csv": ["--verbose-csv"],
    "collect_metrics": ["--collect-metrics"],
    "metrics_url": ["--metrics-url", "triton.example:9002/metrics"],
    "metrics_interval_ms": ["--metrics-interval", "250"],
    "json": ["--json", "out.json"],
    "report": ["--report", "out.html"],
    "profile_export": ["--profile-export-file", "out.export.json"],  # must not exist
    "latency_budget_ms": ["--latency-budget", "40"],
    "client_io": ["--client-io", "gevent"],
    "async_calls": ["--async"],  # with gevent above: every user on Locust's own loop
    "streaming": ["--streaming"],  # with -i grpc above
    "request_timeout_ms": ["--request-timeout-ms", "2500"],
    "verbose": ["-v"],
    # gRPC's TLS, as -i grpc above takes it. The settings check only that a certificate
    # file exists (the wire reads it): any file does here.
    "ssl_grpc_use_ssl": ["--ssl-grpc-use-ssl"],
    "ssl_grpc_root_certifications_file": ["--ssl-grpc-root-certifications-file", __file__],
    "ssl_grpc_private_key_file": ["--ssl-grpc-private-key-file", __file__],
    "ssl_grpc_certificate_chain_file": ["--ssl-grpc-certificate-chain-file", __file__],
}

# HTTPS's TLS flags are refused with -i grpc (a flag of the other protocol): they make a
# round trip of their own, with an https:// URL.
HTTPS_ARGV: dict[str, list[str]] = {
    "url": ["-u", "https://triton.example:8443"],
    "ssl_https_verify_peer": ["--ssl-https-verify-peer", "0"],
    "ssl_https_verify_host": ["--ssl-https-verify-host", "0"],
    "ssl_https_ca_certificates_file": ["--ssl-https-ca-certificates-file", __file__],
    "ssl_https_client_certificate_file": ["--ssl-https-client-certificate-file", __file__],
    "ssl_https_client_certificate_type": ["--ssl-https-client-certificate-type", "der"],
    "ssl_https_private_key_file": ["--ssl-https-private-key-file", __file__],
    "ssl_https_private_key_type": ["--ssl-https-private-key-type", "DER"],
}


# Request-rate mode excludes --concurrency-range, and an intervals file the rate range (as
# perf_analyzer): each makes a round trip of its own.
RATE_ARGV: dict[str, list[str]] = {
    "request_rate_range": ["--request-rate-range", "50.5:200:25"],
    "request_distribution": ["--request-distribution", "poisson"],
    "max_threads": ["--max-threads", "12"],
}
# The file is written by the test (tests/test_request_rate_flags.py) in place of FILE.
INTERVALS_ARGV: dict[str, list[str]] = {"request_intervals": ["--request-intervals", "FILE"]}
# --sync is the default, refused beside --async: a round trip of its own
# (tests/test_async_mode.py).
SYNC_ARGV: dict[str, list[str]] = {"sync_calls": ["--sync"]}
# Periodic concurrency mode is a load mode of its own (no --concurrency-range, no CSV, no
# -l): a round trip of its own, on the settings it needs (--streaming, an export).
PERIODIC_ARGV: dict[str, list[str]] = {
    "periodic_concurrency_range": ["--periodic-concurrency-range", "2:8:3"],
    "request_period": ["--request-period", "4"],
}
PERIODIC_NEEDS = ["-m", "decoupled_stream", "-i", "grpc", "--streaming"]
PERIODIC_NEEDS += ["--profile-export-file", "out.export.json"]


def profile_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["profile", *argv])


def what_a_worker_builds(master_options: argparse.Namespace) -> tuple[SweepSettings, Outputs]:
    """The master's options through Locust's "spawn" message (msgpack, as sent) onto a
    worker's own parsed options, copied as WorkerRunner.worker does it in Locust 2.18."""
    wire = Message("spawn", {"parsed_options": vars(master_options)}, "master").serialize()
    received = Message.unserialize(wire).data["parsed_options"]
    worker_options = parse_options(["-f", LOCUSTFILE, "--worker"])
    locust_own = default_args_dict()
    vars(worker_options).update(
        {
            k: v
            for k, v in received.items()
            if k not in locust_own or k in ["expect_workers", "tags", "exclude_tags"]
        }
    )
    return from_locust_options(worker_options)


def test_every_flag_has_a_locust_option():
    # A flag without one would be left at its default on every worker. `profile`'s own
    # console options (--processes, --embedded-server, ...) are not in the table.
    assert [f.pa for f in FLAGS if f.locust is None] == []


def test_the_round_trip_sets_every_flag():
    every = (
        set(NON_DEFAULT_ARGV)
        | set(HTTPS_ARGV)
        | set(RATE_ARGV)
        | set(INTERVALS_ARGV)
        | set(SYNC_ARGV)
        | set(PERIODIC_ARGV)
    )
    assert every == {f.dest for f in FLAGS}, "give the new flag a value here"


def test_every_setting_reaches_a_worker_unchanged():
    ns = profile_args([a for argv in NON_DEFAULT_ARGV.values() for a in argv])
    settings, outputs = from_pa_namespace(ns)
    for name, value in [*vars(settings).items(), *vars(outputs).items()]:
        default = {f.name: f for f in [*fields(SweepSettings), *fields(Outputs)]}[name].default
        # periodic: a load mode of its own (test_every_periodic_setting_reaches_a_worker);
        # sync_forced: --sync, refused beside --async (test_sync_reaches_a_worker_unchanged)
        assert name in ("model", "periodic", "sync_forced") or value != default, (
            f"{name} is left at default"
        )

    assert what_a_worker_builds(locust_namespace(ns)) == (settings, outputs)


def test_sync_reaches_a_worker_unchanged():
    ns = profile_args(["-m", "accumulator", *SYNC_ARGV["sync_calls"]])
    settings, outputs = from_pa_namespace(ns)
    assert settings.sync_forced and settings.calls == "sync"
    assert SweepSettings.from_dict(settings.to_dict()) == settings
    assert what_a_worker_builds(locust_namespace(ns)) == (settings, outputs)


def test_every_periodic_setting_reaches_a_worker_unchanged():
    ns = profile_args(PERIODIC_NEEDS + [a for argv in PERIODIC_ARGV.values() for a in argv])
    settings, outputs = from_pa_namespace(ns)
    assert settings.periodic == PeriodicRange(2, 8, 3, request_period=4)
    assert SweepSettings.from_dict(settings.to_dict()) == settings
    assert what_a_worker_builds(locust_namespace(ns)) == (settings, outputs)


def test_every_https_setting_reaches_a_worker_unchanged():
    argv = {**NON_DEFAULT_ARGV, "protocol": ["-i", "http"], **HTTPS_ARGV}
    # gRPC's own: TLS, and --streaming (gRPC only).
    for dest in [d for d in argv if d.startswith("ssl_grpc_") or d == "streaming"]:
        del argv[dest]
    ns = profile_args([a for values in argv.values() for a in values])
    settings, outputs = from_pa_namespace(ns)
    assert settings.uses_tls and settings.url == "https://triton.example:8443"
    for f in fields(TlsSettings):
        if f.name.startswith("ssl_https_"):
            assert getattr(settings.tls, f.name) != f.default, f"{f.name} is left at its default"
    assert settings.tls.ssl_https_client_certificate_type == "DER"  # 'der' as PEM/DER read

    assert what_a_worker_builds(locust_namespace(ns)) == (settings, outputs)


def test_grpc_tls_settings_are_set_and_recorded_as_paths():
    settings, _ = from_pa_namespace(profile_args([a for v in NON_DEFAULT_ARGV.values() for a in v]))
    assert settings.uses_tls and settings.tls.ssl_grpc_use_ssl
    recorded = settings.to_dict()["tls"]
    assert recorded["ssl_grpc_private_key_file"] == __file__  # the path, never the key
    assert SweepSettings.from_dict(settings.to_dict()).tls == settings.tls


def test_a_results_file_from_before_tls_reads_as_plain():
    data = SweepSettings(model="m").to_dict()
    del data["tls"]
    assert SweepSettings.from_dict(data).tls == TlsSettings()


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], False),
        (["--ssl-grpc-use-ssl", "true"], True),  # perf_analyzer's help: <bool>
        (["--ssl-grpc-use-ssl", "false"], False),
        (["--ssl-grpc-use-ssl", "-p", "500"], True),
        (["-p", "500", "--ssl-grpc-use-ssl"], True),
    ],
)
def test_ssl_grpc_use_ssl_is_a_switch_that_may_take_a_bool(argv, expected):
    settings, _ = from_pa_namespace(profile_args(["-m", "x", "-i", "grpc", *argv]))
    assert settings.tls.ssl_grpc_use_ssl is expected
    assert settings.uses_tls is expected


def test_an_https_url_is_tls_over_http():
    settings, _ = from_pa_namespace(profile_args(["-m", "x", "-u", "https://triton.example"]))
    assert settings.uses_tls
    assert host_port(settings.url) == ("triton.example", 443)
    plain, _ = from_pa_namespace(profile_args(["-m", "x", "-u", "http://triton.example:8000"]))
    assert not plain.uses_tls


def test_defaults_and_none_reach_a_worker_unchanged():
    ns = profile_args(["-m", "identity_fp32"])
    assert what_a_worker_builds(locust_namespace(ns)) == from_pa_namespace(ns)


def test_a_worker_forgets_requests_built_from_an_earlier_tests_settings():
    options = locust_namespace(profile_args(["-m", "dynamic_identity", "--shape", "INPUT0:16"]))
    old, _ = from_locust_options(options)
    environment = SimpleNamespace(
        parsed_options=options, triton=SimpleNamespace(plan=SimpleNamespace(settings=old))
    )
    follow_new_settings(environment)  # type: ignore[arg-type]
    assert hasattr(environment, "triton")

    options.triton_shape = ["INPUT0:4"]  # the web UI's next test
    follow_new_settings(environment)  # type: ignore[arg-type]
    assert not hasattr(environment, "triton")


# The web UI's start form -----------------------------------------------------------------
class _Idle(LoadTestShape):
    def tick(self) -> None:
        return None


class _StartForm(HTMLParser):
    """The fields of Locust's start form as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self._in_form = False
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._in_form = a.get("id") == "swarm_form"
        elif self._in_form and tag == "input" and "disabled" not in a and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
            self.types[a["name"]] = a.get("type", "text")
        elif self._in_form and tag == "select":
            self._select = a.get("name")
        elif self._select and tag == "option" and "selected" in a:
            self.fields[self._select] = a["value"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None


def test_web_ui_start_form_carries_repeatable_options_and_masks_the_header(monkeypatch):
    argv = ["-f", LOCUSTFILE, "--model", "dynamic_identity", "--header", "X-Probe:abc"]
    argv += ["--header", "Authorization:Bearer t0k3n", "--shape", "INPUT0:16,16"]
    monkeypatch.setattr(sys, "argv", ["locust", *argv])  # the form shows what Locust parsed
    options = parse_options(argv)
    environment = Environment(user_classes=[TritonUser], parsed_options=options)
    environment.shape_class = _Idle()
    runner = environment.create_local_runner()
    try:
        client = environment.create_web_ui("127.0.0.1", 0).app.test_client()
        form = _StartForm()
        form.feed(client.get("/").get_data(as_text=True))
        assert form.types["triton_header"] == "password"
        assert form.fields["triton_shape"] == "INPUT0:16,16"

        form.fields["triton_header"] += "; X-Other:1"  # the user adds a header
        assert client.post("/swarm", data=form.fields).get_json()["success"]
    finally:
        runner.quit()
    settings, _ = from_locust_options(environment.parsed_options)
    assert settings.headers == {
        "X-Probe": "abc",
        "Authorization": "Bearer t0k3n",
        "X-Other": "1",
    }
    assert settings.shapes == {"INPUT0": [16, 16]}


@pytest.mark.parametrize(
    "text, values",
    [
        ("", []),
        ("X-Probe:abc", ["X-Probe:abc"]),
        ("X-Probe:abc; Authorization:Bearer a,b", ["X-Probe:abc", "Authorization:Bearer a,b"]),
        ("INPUT0:2,3,INPUT1:4", ["INPUT0:2,3", "INPUT1:4"]),  # the modern UI joins with ','
        ("Cookie:a=1; b=2;", ["Cookie:a=1; b=2"]),
    ],
)
def test_repeated_values_in_one_text_field(text, values):
    assert RepeatedValues(text) == values
    assert RepeatedValues(str(RepeatedValues(text))) == values


# The values the flags carry ---------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [("4", (4, 1, 1)), ("1:8", (1, 8, 1)), ("2:8:3", (2, 8, 3)), ("5:0", (5, 0, 1))],
)
def test_parse_range(text, expected):
    assert parse_range(text) == expected


def test_parse_headers_and_shapes():
    assert parse_headers(["X-Probe: abc", "A:b:c"]) == {"X-Probe": "abc", "A": "b:c"}
    assert parse_headers(None) == {}
    assert parse_shapes(["INPUT0:16", "ns:x:2,3"]) == {"INPUT0": [16], "ns:x": [2, 3]}


@pytest.mark.parametrize(
    "url, expected",
    [
        ("localhost:8000", ("localhost", 8000)),
        ("http://10.0.0.1:8001/", ("10.0.0.1", 8001)),
        ("[::1]:8000", ("::1", 8000)),
        ("https://triton.example:8443", ("triton.example", 8443)),
        ("HTTPS://triton.example/", ("triton.example", 443)),  # the scheme's port
        ("http://triton.example", ("triton.example", 80)),
        ("https://[::1]", ("::1", 443)),
    ],
)
def test_host_port(url, expected):
    assert host_port(url) == expected


def one_line_error(call: Any, *args: Any) -> str:
    with pytest.raises(ValueError) as caught:
        call(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("text", ["", "a:b", "1:2:3:4", "0:4", "1:4:0", "-1"])
def test_parse_range_errors_name_the_flag(text):
    assert one_line_error(parse_range, text).startswith("--concurrency-range")


@pytest.mark.parametrize("value", ["NoColon", ":abc"])
def test_parse_headers_errors_name_the_flag(value):
    assert one_line_error(parse_headers, [value]).startswith("-H")


@pytest.mark.parametrize("value", ["INPUT0", "INPUT0:", "INPUT0:0", "INPUT0:2,x", ":4"])
def test_parse_shapes_errors_name_the_flag(value):
    assert one_line_error(parse_shapes, [value]).startswith("--shape")


@pytest.mark.parametrize(
    "url",
    ["localhost", "localhost:http", "grpc://host:8001", ":8000", "https://host/v2", "https://"],
)
def test_host_port_errors_name_the_flag(url):
    assert one_line_error(host_port, url).startswith("-u")


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--concurrency-range", "4"], "-m/--model-name"),
        (["-m", "x", "--concurrency-range", "1:0"], "--concurrency-range"),
        (["-m", "x", "--percentile", "100"], "--percentile"),
        (["-m", "x", "-p", "0"], "-p/--measurement-interval"),
        (["-m", "x", "--measurement-request-count", "0"], "--measurement-request-count"),
        (["-m", "x", "-r", "0"], "-r/--max-trials"),
        (["-m", "x", "-b", "0"], "-b/--batch-size"),
        (["-m", "x", "--string-length", "0"], "--string-length"),
        (["-m", "x", "-s", "-1"], "-s/--stability-percentage"),
        (["-m", "x", "--input-data", "data.json"], "--input-data"),
        (["-m", "x", "--shape", "INPUT0"], "--shape"),
        (["-m", "x", "-H", "nocolon"], "-H"),
        (["-m", "x", "-u", "localhost:abc"], "-u"),
        (["-m", "x", "-u", "::::"], "-u"),
        (["-m", "x", "-u", "ftp://triton:443"], "-u"),
        # TLS: a flag of the other protocol, or a certificate without TLS, would be ignored
        # by perf_analyzer, and what was meant to be encrypted sent in the clear.
        (["-m", "x", "-i", "grpc", "-u", "https://triton:443"], "-u"),
        (["-m", "x", "--ssl-grpc-use-ssl"], "--ssl-grpc-use-ssl"),
        (["-m", "x", "-i", "grpc", "--ssl-https-verify-peer", "0"], "--ssl-https-verify-peer"),
        (["-m", "x", "--ssl-https-ca-certificates-file", __file__], "--ssl-https-ca-cert"),
        (
            ["-m", "x", "-i", "grpc", "--ssl-grpc-root-certifications-file", __file__],
            "--ssl-grpc-root-certifications-file",
        ),
        (
            ["-m", "x", "-i", "grpc", "--ssl-grpc-use-ssl"]
            + ["--ssl-grpc-private-key-file", __file__],
            "--ssl-grpc-private-key-file",
        ),
        (
            ["-m", "x", "-i", "grpc", "--ssl-grpc-use-ssl"]
            + ["--ssl-grpc-root-certifications-file", "/no/such/ca.pem"],
            "--ssl-grpc-root-certifications-file",
        ),
        (
            ["-m", "x", "-u", "https://h:1", "--ssl-https-ca-certificates-file", "/no/ca.pem"],
            "--ssl-https-ca-certificates-file",
        ),
        (["-m", "x", "-u", "https://h:1", "--ssl-https-verify-peer", "2"], "--ssl-https-verify-p"),
        (["-m", "x", "-u", "https://h:1", "--ssl-https-verify-host", "3"], "--ssl-https-verify-h"),
        (
            ["-m", "x", "-u", "https://h:1", "--ssl-https-private-key-file", __file__],
            "--ssl-https-private-key-file",
        ),
    ],
)
def test_from_values_errors_name_the_flag(argv, named):
    ns = profile_args(argv)
    assert one_line_error(from_values, lambda dest: getattr(ns, dest)).startswith(named)


def test_from_values_refuses_an_unknown_protocol_or_mode():
    # argparse's choices stop these on the command line; the web UI's form does not.
    base = vars(profile_args(["-m", "x"]))
    for dest, value, named in [
        ("protocol", "udp", "-i"),
        ("measurement_mode", "forever", "--measurement-mode"),
        ("url", "https://h:1", None),
    ]:
        if named is None:  # the form's https:// URL with a certificate type argparse never saw
            values = {**base, "url": value, "ssl_https_client_certificate_type": "P12"}
            message = one_line_error(from_values, values.__getitem__)
            assert message.startswith("--ssl-https-client-certificate-type 'P12'")
            continue
        values = {**base, dest: value}
        assert one_line_error(from_values, values.__getitem__).startswith(named)
