"""The history of scheduled runs: one row per scenario per `triton-locust run`, with its
plan, settings, server version, model config, results and checks. A SQLite file by
default; a PostgreSQL URL for a team's shared history. SQLAlchemy Core builds every
statement (values are bound parameters, never spliced into SQL text); psycopg 3 talks to
PostgreSQL."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from analysis.checks import CheckResult
from analysis.run_record import RunRecord

DEFAULT_HISTORY = "results/history.sqlite"
# What the tables hold, recorded in the history itself: a later version that changes them
# knows what it is reading and can migrate.
HISTORY_FORMAT = "triton-locust-history/1"
# A PostgreSQL server that does not answer: fail in seconds, not at the OS's TCP timeout.
CONNECT_TIMEOUT_S = 10

metadata = MetaData()

# Prefixed names: a team's shared database may hold other tables.
runs_table = Table(
    "triton_locust_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch", String, nullable=False, default=""),
    Column("scenario", String, nullable=False, index=True),
    Column("started_at", String, nullable=False),  # ISO 8601, UTC, as the record has it
    Column("exit_code", Integer, nullable=False),
    Column("finished", Boolean, nullable=False),
    Column("model", String, nullable=False, default=""),
    Column("model_version", String, nullable=False, default=""),
    Column("server_version", String, nullable=False, default=""),
    Column("tool_version", String, nullable=False, default=""),
    Column("plan_path", Text, nullable=False, default=""),
    Column("plan_text", Text, nullable=False, default=""),
    Column("settings", JSON, nullable=False),
    Column("model_config", JSON, nullable=False),
    Column("result", JSON, nullable=False),
    Column("checks", JSON, nullable=False),
)

meta_table = Table(
    "triton_locust_history",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)


class HistoryError(Exception):
    """The history cannot be opened, read or written: one line for the user, naming it."""


class NoHistory(HistoryError):
    """Opened without `create` and there is none yet: nothing recorded, not a failure."""


def masked(target: str) -> str:
    """The target as it may be printed: a URL's password replaced by ***. Everything from
    `user:` to the last @ goes: an @ left unencoded in a password does not leak its tail."""
    return re.sub(r"(://[^:/@]*:).*@", r"\1***@", target)


def _finite(value: Any) -> Any:
    """JSON without NaN or infinities (PostgreSQL refuses them): null, as the results file
    writes an infinite figure."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_dumps(value: Any) -> str:
    return json.dumps(_finite(value), allow_nan=False)


def _reason(exc: BaseException) -> str:
    """The driver's own words, first line: 'connection refused', 'unable to open ...'."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0].strip() if text else type(orig).__name__


def _url(target: str) -> URL:
    """A history target as a SQLAlchemy URL: a path is a SQLite file; postgresql:// uses
    psycopg 3 (the driver this package installs)."""
    if "://" not in target:
        return URL.create("sqlite", database=str(Path(target).expanduser()))
    try:
        url = make_url(target)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise HistoryError(
            f"history {masked(target)}: not a valid database URL "
            "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE)"
        ) from exc
    driver = url.drivername
    if driver in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif driver not in ("postgresql+psycopg", "sqlite"):
        raise HistoryError(
            f"history {masked(target)}: {driver}:// is not supported; give a SQLite file's "
            "path or a postgresql:// URL"
        )
    if url.drivername == "sqlite" and not url.database:
        raise HistoryError(f"history {masked(target)}: no file named (sqlite:///PATH)")
    if url.drivername.startswith("postgresql") and not url.host and "host" not in url.query:
        raise HistoryError(f"history {masked(target)}: no host (postgresql://USER@HOST/DB)")
    return url


def open_history(target: str | os.PathLike[str], create: bool = True) -> History:
    """Open (and with `create`, make) the history at `target`: a file path or a URL.
    Without `create`, a missing SQLite file or missing tables raise NoHistory and nothing
    is made (listing an empty history must not create one)."""
    target = os.fspath(target)
    if not target.strip():
        raise HistoryError("history: no file or URL given")
    name = masked(target)
    url = _url(target)
    sqlite = url.drivername == "sqlite"
    if sqlite and url.database and url.database != ":memory:":
        path = Path(url.database)
        if path.is_dir():
            raise HistoryError(f"history {name}: is a folder, not a file")
        if not create and not path.exists():
            raise NoHistory(f"history {name}: no runs recorded yet (no such file)")
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(
                    f"history {name}: cannot make its folder: {exc.strerror or exc}"
                ) from exc
    connect_args: dict[str, Any] = {}
    if not sqlite and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        engine = create_engine(url, json_serializer=_json_dumps, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise HistoryError(f"history {name}: {_reason(exc)}") from exc
    history = History(engine, name, _password(url))
    try:
        history._prepare(create)
    except BaseException:
        history.close()
        raise
    return history


def _password(url: URL) -> str:
    return str(url.password or "")


class History:
    """Runs recorded, read back as RunRecords. Use open_history() to get one."""

    def __init__(self, engine: Engine, name: str, password: str = "") -> None:
        self._engine = engine
        self.name = name  # the target as printable: password masked
        self._password = password

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Any database failure as one HistoryError line naming the history."""
        try:
            yield
        except SQLAlchemyError as exc:
            reason = _reason(exc)
            if self._password:  # a driver that quotes its connection string must not leak it
                reason = reason.replace(self._password, "***")
            raise HistoryError(f"history {self.name}: cannot {doing}: {reason}") from exc

    def _prepare(self, create: bool) -> None:
        with self._errors("open it"):
            if not create:
                names = set(inspect(self._engine).get_table_names())
                if runs_table.name not in names:
                    raise NoHistory(f"history {self.name}: no runs recorded yet")
            else:
                metadata.create_all(self._engine)
                self._claim_format()
            self._check_format()

    def _claim_format(self) -> None:
        try:
            with self._engine.begin() as conn:
                found = conn.execute(
                    select(meta_table.c.value).where(meta_table.c.key == "format")
                ).scalar_one_or_none()
                if found is None:
                    conn.execute(insert(meta_table).values(key="format", value=HISTORY_FORMAT))
        except IntegrityError:  # another run claimed it first: fine, it is checked next
            pass

    def _check_format(self) -> None:
        with self._engine.connect() as conn:
            if meta_table.name not in set(inspect(conn).get_table_names()):
                return  # tables made by hand or by an older build: read as format 1
            found = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "format")
            ).scalar_one_or_none()
        if found not in (None, HISTORY_FORMAT):
            raise HistoryError(
                f"history {self.name}: written in format {found!r}; this triton-locust "
                f"reads {HISTORY_FORMAT!r} (a newer version wrote it?)"
            )

    def add(self, record: RunRecord) -> int:
        """Record one scenario's run; returns its id in the history."""
        with self._errors("record a run"), self._engine.begin() as conn:
            inserted = conn.execute(
                insert(runs_table).values(
                    batch=record.batch,
                    scenario=record.scenario,
                    started_at=record.started_at,
                    exit_code=int(record.exit_code),
                    finished=record.finished,
                    model=record.model,
                    model_version=record.model_version,
                    server_version=record.server_version,
                    tool_version=record.tool_version,
                    plan_path=record.plan_path,
                    plan_text=record.plan_text,
                    settings=record.settings,
                    model_config=record.model_config,
                    result=record.result,
                    checks=[c.to_dict() for c in record.checks],
                )
            )
            key = inserted.inserted_primary_key
            assert key is not None
            return int(key[0])

    def runs(self, scenario: str | None = None) -> list[RunRecord]:
        """Every run (of one scenario), oldest first."""
        query = select(runs_table).order_by(runs_table.c.started_at, runs_table.c.id)
        if scenario is not None:
            query = query.where(runs_table.c.scenario == scenario)
        with self._errors("read it"), self._engine.connect() as conn:
            return [_record(row._mapping) for row in conn.execute(query)]

    def latest(self, scenario: str) -> RunRecord | None:
        """The newest finished run of `scenario` (a baseline is never a partial run)."""
        query = (
            select(runs_table)
            .where(runs_table.c.scenario == scenario, runs_table.c.finished.is_(True))
            .order_by(runs_table.c.started_at.desc(), runs_table.c.id.desc())
            .limit(1)
        )
        with self._errors("read it"), self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row._mapping)


def _record(row: Any) -> RunRecord:
    return RunRecord(
        scenario=row["scenario"],
        started_at=row["started_at"],
        exit_code=int(row["exit_code"]),
        result=dict(row["result"] or {}),
        checks=[CheckResult.from_dict(c) for c in row["checks"] or []],
        plan_path=row["plan_path"],
        plan_text=row["plan_text"],
        model_config=dict(row["model_config"] or {}),
        tool_version=row["tool_version"],
        batch=row["batch"],
        id=int(row["id"]),
    )
