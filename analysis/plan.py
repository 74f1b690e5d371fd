"""A plan file: the scenarios of a scheduled run and the SLOs each must meet, in YAML or TOML
(EXAMPLE_PLAN below). A scenario's keys are perf_analyzer's long flag names, taken from the
one flag table (analysis/flag_table.py), plus `name`, `slos` and `workers` (Locust worker
processes on this machine). `defaults:` holds keys every scenario starts from. Header
values are never written in a plan: `header-from-env` names the environment variables that
hold them.

Everything is checked before any load is sent, by the same rules as the command line; an
error names the file, the line and the key."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis.flag_table import FLAGS, Flag, from_values
from analysis.settings import Outputs, SweepSettings
from analysis.slo import Slo, check_slo_fits, parse_slo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def plan_key(flag: Flag) -> str:
    """A flag's key in a plan: its long perf_analyzer name without the dashes."""
    return flag.pa[-1].lstrip("-")


# The plan `triton-locust run --help` shows: the issue's, as our users' scripts write it.
EXAMPLE_PLAN = """\
scenarios:
  - name: slow-http
    model-name: sleep_5ms
    url: localhost:8000
    protocol: http
    concurrency-range: "1:4"
    measurement-interval: 1000
    percentile: 95
    header-from-env: ["Authorization:TRITON_TOKEN"]
    slos:
      - p95 < 50ms at concurrency 2
      - throughput >= 100 at concurrency 1
      - errors == 0
"""

PLAN_KEYS: dict[str, Flag] = {plan_key(f): f for f in FLAGS}
SCENARIO_KEYS = ("name", "slos", "workers")
# -H's value is a credential: a plan says where to find it, never what it is.
WRITTEN_HEADERS = tuple(plan_key(f) for f in FLAGS if f.secret) + tuple(
    f.dest for f in FLAGS if f.secret
)
PER_SCENARIO = ("name", "slos")  # what `defaults:` cannot hold
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PlanError(ValueError):
    """One line: FILE:LINE: key: what is wrong."""


@dataclass(frozen=True)
class Scenario:
    name: str
    settings: SweepSettings
    outputs: Outputs
    argv: list[str]  # `triton-locust profile`'s flags for this scenario (no header values)
    slos: list[Slo] = field(default_factory=list)
    workers: int | None = None  # Locust worker processes on this machine (profile --processes)


@dataclass(frozen=True)
class Plan:
    path: str
    text: str
    scenarios: list[Scenario]


class _Lines(dict):  # type: ignore[type-arg]
    """A mapping that remembers the line of each of its keys (and its own)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.line = 0
        self.key_lines: dict[str, int] = {}


class _LineList(list):  # type: ignore[type-arg]
    """A list that remembers the line of each of its items (and its own)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.line = 0
        self.item_lines: list[int] = [0] * len(self)


def load_plan(path: str | Path) -> Plan:
    """Raises PlanError (a missing or unreadable file too)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PlanError(f"{path}: no such plan file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read the plan ({exc})") from exc
    return parse_plan(text, str(path))


def parse_plan(text: str, path: str = "plan.yaml") -> Plan:
    """The plan in `text` (TOML when `path` ends in .toml, YAML otherwise), checked."""
    data = _read_toml(text, path) if path.endswith(".toml") else _read_yaml(text, path)
    at = _Where(path)
    if not isinstance(data, _Lines):
        raise PlanError(f"{path}:1: expected a mapping with 'scenarios:'")
    _no_unknown(at, data, ("scenarios", "defaults"), "the plan")
    defaults = data.get("defaults", _Lines())
    if not isinstance(defaults, _Lines):
        raise at.error(data, "defaults", "expected a mapping of scenario keys")
    scenarios = data.get("scenarios")
    if not isinstance(scenarios, _LineList) or not scenarios:
        raise at.error(data, "scenarios", "expected a list of one or more scenarios")
    built, names = [], set()
    for i, raw in enumerate(scenarios):
        if not isinstance(raw, _Lines):
            raise PlanError(f"{path}:{scenarios.item_lines[i]}: scenarios[{i}]: expected a mapping")
        scenario = _scenario(at, defaults, raw, i)
        if scenario.name in names:
            raise at.error(raw, "name", f"scenario name {scenario.name!r} is used twice")
        names.add(scenario.name)
        built.append(scenario)
    return Plan(path, text, built)


class _Where:
    """Errors that name the file, the line and the key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, mapping: _Lines, key: str, problem: str, where: str = "") -> PlanError:
        line = mapping.key_lines.get(key, mapping.line)
        prefix = f"{where}: " if where else ""
        return PlanError(f"{self.path}:{line}: {prefix}{key}: {problem}")


def _no_unknown(
    at: _Where, mapping: _Lines, known: tuple[str, ...] | list[str], where: str
) -> None:
    for key in mapping:
        if key in WRITTEN_HEADERS:
            raise at.error(
                mapping,
                key,
                "header values are never written in a plan: name the environment variable "
                "that holds each with header-from-env: ['NAME:ENV_VARIABLE']",
                where,
            )
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise at.error(mapping, str(key), f"unknown key{hint}", where)


def _scenario(at: _Where, defaults: _Lines, raw: _Lines, index: int) -> Scenario:
    known = list(PLAN_KEYS) + list(SCENARIO_KEYS)
    for key in PER_SCENARIO:
        if key in defaults:
            raise at.error(defaults, key, "belongs to each scenario, not to defaults", "defaults")
    _no_unknown(at, defaults, [k for k in known if k not in PER_SCENARIO], "defaults")
    where = f"scenarios[{index}]"
    _no_unknown(at, raw, known, where)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problem = "missing" if name is None else f"{name!r}: letters, digits, '.', '_', '-' only"
        raise at.error(raw, "name", problem, where)
    where = f"scenario {name!r}"
    merged = {**defaults, **raw}

    def source(key: str) -> _Lines:  # where a key was written, for its error's line
        return raw if key in raw else defaults

    if "model-name" not in merged:
        raise PlanError(f"{at.path}:{raw.line}: {where}: model-name: missing")
    values: dict[str, Any] = {}
    for key, flag in PLAN_KEYS.items():
        if key in merged:
            values[flag.dest] = _typed(at, source(key), key, merged[key], flag, where)
    workers = merged.get("workers")
    if workers is not None and (type(workers) is not int or workers < 1):
        raise at.error(source("workers"), "workers", "expected a whole number from 1", where)

    def get(dest: str) -> Any:
        flag = next(f for f in FLAGS if f.dest == dest)
        return values.get(dest, flag.default)

    try:
        settings, outputs = from_values(get)
    except ValueError as exc:
        key = _key_named_in(str(exc), merged)
        raise (
            at.error(source(key), key, str(exc), where)
            if key
            else PlanError(f"{at.path}:{raw.line}: {where}: {exc}")
        ) from exc
    if settings.periodic is not None:
        key = "periodic-concurrency-range"
        raise at.error(
            source(key),
            key,
            "not in a plan: its one result is a profile export, with no levels for SLOs, "
            "baselines or history; run it with `triton-locust profile`",
            where,
        )
    slos = _slos(at, raw, settings, outputs, where)
    return Scenario(
        name=name,
        settings=settings,
        outputs=outputs,
        argv=_argv(values) + (["--processes", str(workers)] if workers else []),
        slos=slos,
        workers=workers,
    )


def _typed(at: _Where, mapping: _Lines, key: str, value: Any, flag: Flag, where: str) -> Any:
    """The value as argparse would have parsed it from the command line, or a PlanError."""

    def fail(expected: str) -> PlanError:
        return at.error(mapping, key, f"expected {expected}, got {value!r}", where)

    if flag.action == "store_true":
        if type(value) is not bool:
            raise fail("true or false")
        return value
    if flag.action == "append":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise fail("a list of strings")
        return list(items)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise fail("a number" if flag.type in (int, float) else "a string")
    if flag.type is int and not isinstance(value, int):
        raise fail("a whole number")
    if flag.type is float and not isinstance(value, (int, float)):
        raise fail("a number")
    convert: Callable[[str], Any] = flag.type or str
    try:
        typed = convert(str(value)) if flag.type not in (int, float) else convert(value)
    except ValueError as exc:
        raise at.error(mapping, key, str(exc), where) from exc
    if flag.choices and typed not in flag.choices:
        raise at.error(mapping, key, f"{value!r}: expected one of {', '.join(flag.choices)}", where)
    return typed


def _key_named_in(message: str, merged: Mapping[str, Any]) -> str | None:
    """The plan key a command-line error speaks of ('-p/--measurement-interval must...')."""
    for key, flag in PLAN_KEYS.items():
        if key in merged and any(re.search(rf"(^|/){re.escape(s)}\b", message) for s in flag.pa):
            return key
    return None


def _slos(
    at: _Where, raw: _Lines, settings: SweepSettings, outputs: Outputs, where: str
) -> list[Slo]:
    items = raw.get("slos", _LineList())
    if not isinstance(items, _LineList) or not all(isinstance(s, str) for s in items):
        raise at.error(raw, "slos", "expected a list of SLOs, e.g. '- p95 < 20ms'", where)
    slos = []
    for item, line in zip(items, items.item_lines, strict=True):
        try:
            slo = parse_slo(item)
            check_slo_fits(slo, settings, outputs.latency_budget_ms)
        except ValueError as exc:
            raise PlanError(f"{at.path}:{line}: {where}: slos: {exc}") from exc
        slos.append(slo)
    return slos


def _argv(values: Mapping[str, Any]) -> list[str]:
    """`triton-locust profile`'s flags for these values: the same table parses them back."""
    argv: list[str] = []
    for flag in FLAGS:
        if flag.dest not in values:
            continue
        value, spelling = values[flag.dest], flag.pa[-1]
        if flag.action == "store_true":
            argv += [spelling] if value else []
        elif flag.action == "append":
            for item in value:
                argv += [f"{spelling}={item}"]  # `=`: a value may start with '-'
        else:
            argv += [f"{spelling}={value}"]
    return argv


# -- reading YAML and TOML with the line of every key ------------------------------------


class _LineLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with keys' lines, and numbers as YAML 1.2 reads them: YAML 1.1
    would take an unquoted `concurrency-range: 1:4` for the base-60 number 64, and
    `model-version: 010` for 8."""


_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
# Decimal, whatever the leading zeros (PyYAML's constructor would read 010 as octal).
_LineLoader.add_constructor(_INT, lambda loader, node: int(loader.construct_scalar(node), 10))
_LineLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+)$"
    ),
    list("-+.0123456789"),
)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Lines:
    loader.flatten_mapping(node)
    mapping = _Lines()
    mapping.line, mapping.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.MarkedYAMLError(
                problem="a key must be a plain name", problem_mark=key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.MarkedYAMLError(
                problem=f"key {key!r} given twice", problem_mark=key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _LineList:
    items = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    items.line = node.start_mark.line + 1
    items.item_lines = [child.start_mark.line + 1 for child in node.value]
    return items


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _read_yaml(text: str, path: str) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise PlanError(f"{path}:{line}: not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise PlanError(f"{path}: not valid YAML: {exc}") from exc


_TOML_TABLE = re.compile(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(r"""\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")


def _read_toml(text: str, path: str) -> Any:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        at_end = "end of document" in str(exc)
        line = found[1] if found else str(max(1, len(text.splitlines()))) if at_end else "1"
        raise PlanError(f"{path}:{line}: not valid TOML: {str(exc).split(' (at')[0]}") from exc
    # tomllib keeps no positions: find each table's keys by their `key =` lines, which is
    # all a plan's shape (top-level keys, [defaults], [[scenarios]]) needs.
    tables: dict[tuple[str, int], dict[str, int]] = {("", 0): {}}
    table_lines: dict[tuple[str, int], int] = {("", 0): 1}
    current, counts = ("", 0), {"scenarios": -1}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TOML_TABLE.fullmatch(line)
        if header:
            name = header[1].strip()
            if line.strip().startswith("[["):
                counts[name] = counts.get(name, -1) + 1
            current = (name, counts.get(name, 0))
            tables.setdefault(current, {})
            table_lines[current] = number
            continue
        key = _TOML_KEY.match(line)
        if key:
            tables.setdefault(current, {}).setdefault(next(k for k in key.groups() if k), number)

    def wrap(value: Any, table: tuple[str, int]) -> Any:
        if isinstance(value, dict):
            mapping = _Lines(value)
            # An inline table has no header line of its own: the line that holds the list.
            mapping.line = table_lines.get(table, tables[("", 0)].get(table[0], 1))
            mapping.key_lines = dict(tables.get(table, {}))
            return mapping
        return value

    top = wrap(data, ("", 0))
    for key in list(top):
        value = top[key]
        if key == "scenarios" and isinstance(value, list):
            items = _LineList(wrap(v, ("scenarios", i)) for i, v in enumerate(value))
            items.line = top.key_lines.get(key, 1)
            items.item_lines = [
                table_lines.get(("scenarios", i), items.line) for i in range(len(value))
            ]
            for item in items:
                if isinstance(item, _Lines) and isinstance(item.get("slos"), list):
                    slos = _LineList(item["slos"])
                    slos.line = item.key_lines.get("slos", item.line)
                    slos.item_lines = [slos.line] * len(slos)
                    item["slos"] = slos
            top[key] = items
        elif isinstance(value, dict):
            top[key] = wrap(value, (key, 0))
    return top
