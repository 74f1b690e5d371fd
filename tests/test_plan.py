"""Plan files: the issue's plan reads as written; every perf_analyzer flag has its key;
every mistake is one line naming the file, the line and the key, before any load."""

import textwrap

import pytest

from analysis.flag_table import FLAGS
from analysis.plan import EXAMPLE_PLAN, PLAN_KEYS, PlanError, parse_plan, plan_key

ISSUE_PLAN = """\
scenarios:
  - name: slow-http
    model-name: sleep_5ms
    url: localhost:8000
    protocol: http
    concurrency-range: "1:4"
    measurement-interval: 1000
    percentile: 95
    slos:
      - p95 < 50ms at concurrency 2
      - throughput >= 100 at concurrency 1
      - errors == 0
"""


def plan_error(text: str, path: str = "plan.yaml") -> str:
    with pytest.raises(PlanError) as caught:
        parse_plan(textwrap.dedent(text), path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_issues_plan_reads_as_written():
    (scenario,) = parse_plan(ISSUE_PLAN).scenarios
    assert scenario.name == "slow-http"
    s = scenario.settings
    assert (s.model, s.url, s.protocol, s.percentile) == ("sleep_5ms", "localhost:8000", "http", 95)
    assert (s.concurrency_start, s.concurrency_end, s.measurement_interval_ms) == (1, 4, 1000)
    assert [slo.text for slo in scenario.slos] == [
        "p95 < 50ms at concurrency 2",
        "throughput >= 100 at concurrency 1",
        "errors == 0",
    ]
    assert scenario.argv == [
        "--model-name=sleep_5ms",
        "--url=localhost:8000",
        "--protocol=http",
        "--concurrency-range=1:4",
        "--measurement-interval=1000",
        "--percentile=95",
    ]


def test_every_flag_of_the_table_has_its_plan_key():
    assert set(PLAN_KEYS) == {plan_key(f) for f in FLAGS}
    assert {"model-name", "concurrency-range", "measurement-interval", "url"} <= set(PLAN_KEYS)


def test_the_same_plan_in_toml():
    toml = """\
        [defaults]
        url = "localhost:8001"
        protocol = "grpc"

        [[scenarios]]
        name = "a"
        model-name = "sleep_5ms"
        concurrency-range = "1:2"
        slos = ["p95 < 50ms at concurrency 2"]

        [[scenarios]]
        name = "b"
        model-name = "identity_fp32"
        workers = 2
    """
    a, b = parse_plan(textwrap.dedent(toml), "plan.toml").scenarios
    assert (a.settings.url, a.settings.protocol, b.settings.protocol) == (
        "localhost:8001",
        "grpc",
        "grpc",
    )
    assert b.workers == 2 and b.argv[-2:] == ["--processes", "2"]


def test_toml_errors_name_the_line_too():
    toml = """\
        [[scenarios]]
        name = "a"
        model-name = "m"

        [[scenarios]]
        name = "b"
        model-name = "m"
        percentile = "high"
    """
    assert plan_error(toml, "plan.toml") == (
        "plan.toml:8: scenario 'b': percentile: expected a whole number, got 'high'"
    )
    assert plan_error('scenarios = [\n  { name = "a" ', "plan.toml").startswith("plan.toml:2: ")
    assert (
        plan_error("a = 1\nb = = 2\n", "plan.toml") == "plan.toml:2: not valid TOML: Invalid value"
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        # a wrong type
        (
            ("    percentile: 95", "    percentile: ninety"),
            "plan.yaml:8: scenario 'slow-http': percentile: expected a whole number, got 'ninety'",
        ),
        # an unknown key, with what was probably meant
        (
            ("    protocol: http", "    protocl: http"),
            "plan.yaml:5: scenarios[0]: protocl: unknown key (did you mean 'protocol'?)",
        ),
        # a missing model
        (
            ("    model-name: sleep_5ms\n", ""),
            "plan.yaml:2: scenario 'slow-http': model-name: missing",
        ),
        # the command line's own checks, said against the key
        (
            ("    measurement-interval: 1000", "    measurement-interval: 0"),
            "plan.yaml:7: scenario 'slow-http': measurement-interval: "
            "-p/--measurement-interval must be at least 1 (got 0)",
        ),
        (
            ("    protocol: http", "    protocol: udp"),
            "plan.yaml:5: scenario 'slow-http': protocol: 'udp': expected one of http, grpc",
        ),
        # an SLO the sweep cannot measure, at its own line
        (
            ("p95 < 50ms at concurrency 2", "p95 < 50ms at concurrency 9"),
            "plan.yaml:10: scenario 'slow-http': slos: SLO 'p95 < 50ms at concurrency 9': "
            "concurrency 9 is not a level of the sweep (1, 2, 3, 4)",
        ),
        # a load mode with no levels to judge
        (
            (
                '    protocol: http\n    concurrency-range: "1:4"',
                '    protocol: grpc\n    periodic-concurrency-range: "1:4:1"\n'
                "    streaming: true\n    profile-export-file: e.json",
            ),
            "plan.yaml:6: scenario 'slow-http': periodic-concurrency-range: not in a plan: its "
            "one result is a profile export, with no levels for SLOs, baselines or history; "
            "run it with `triton-locust profile`",
        ),
        (
            ("    percentile: 95", "    percentile: 95\n    percentile: 99"),
            "plan.yaml:9: not valid YAML: key 'percentile' given twice",
        ),
    ],
)
def test_a_malformed_plan_is_one_line_with_its_line_and_key(change, said):
    assert plan_error(ISSUE_PLAN.replace(*change)) == said


def test_header_values_are_never_written_in_a_plan(monkeypatch):
    written = ISSUE_PLAN.replace("    protocol: http", '    H: ["Authorization:Bearer x"]')
    assert "header values are never written in a plan" in plan_error(written)
    from_env = ISSUE_PLAN.replace(
        "    protocol: http", '    header-from-env: ["Authorization:TL_TEST_TOKEN"]'
    )
    assert "the environment variable TL_TEST_TOKEN is not set" in plan_error(from_env)
    monkeypatch.setenv("TL_TEST_TOKEN", "Bearer s3cret")
    (scenario,) = parse_plan(from_env).scenarios
    assert scenario.settings.headers == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in " ".join(scenario.argv)
    assert "--header-from-env=Authorization:TL_TEST_TOKEN" in scenario.argv


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "plan.yaml:1: expected a mapping with 'scenarios:'"),
        ("scenarios: []", "plan.yaml:1: scenarios: expected a list of one or more scenarios"),
        ("scenarios:\n  - 3", "plan.yaml:2: scenarios[0]: expected a mapping"),
        (
            "scenario: []",
            "plan.yaml:1: the plan: scenario: unknown key (did you mean 'scenarios'?)",
        ),
        ("scenarios: [ {name: a", "plan.yaml:1: not valid YAML"),
        (
            "scenarios:\n  - model-name: m\n",
            "plan.yaml:2: scenarios[0]: name: missing",
        ),
        (
            "scenarios:\n  - {name: a, model-name: m}\n  - {name: a, model-name: m}\n",
            "plan.yaml:3: name: scenario name 'a' is used twice",
        ),
        (
            "scenarios:\n  - {name: 'a b', model-name: m}\n",
            "letters, digits, '.', '_', '-' only",
        ),
        (
            "scenarios:\n  - {name: a, model-name: m, workers: 0}\n",
            "plan.yaml:2: scenario 'a': workers: expected a whole number from 1",
        ),
    ],
)
def test_the_plans_shape_is_checked(text, said):
    assert said in plan_error(text)


def test_yaml_numbers_are_read_as_yaml_1_2_reads_them():
    # YAML 1.1 would make an unquoted 1:4 the base-60 number 64, and 010 the octal 8.
    (scenario,) = parse_plan(
        "scenarios:\n  - {name: a, model-name: m, concurrency-range: 1:4, model-version: 010}\n"
    ).scenarios
    assert (scenario.settings.concurrency_start, scenario.settings.concurrency_end) == (1, 4)
    assert scenario.settings.model_version == "10"


def test_odd_yaml_is_one_line_too():
    assert plan_error("scenarios:\n  - {name: a, model-name: m, ? [x, y] : 1}\n") == (
        "plan.yaml:2: not valid YAML: a key must be a plain name"
    )
    assert plan_error("- a\n- b\n") == "plan.yaml:1: expected a mapping with 'scenarios:'"
    assert "slos: expected a list of SLOs" in plan_error(
        "scenarios:\n  - {name: a, model-name: m, slos: 'errors == 0'}\n"
    )
    assert (
        plan_error("defaults: {slos: ['errors == 0']}\nscenarios:\n  - {name: a, model-name: m}\n")
        == "plan.yaml:1: defaults: slos: belongs to each scenario, not to defaults"
    )


def test_the_example_plan_in_the_help_reads(monkeypatch):
    monkeypatch.setenv("TRITON_TOKEN", "Bearer x")
    (scenario,) = parse_plan(EXAMPLE_PLAN).scenarios
    assert scenario.name == "slow-http" and len(scenario.slos) == 3
