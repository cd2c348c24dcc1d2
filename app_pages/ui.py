"""What the pages share: start-up, language, the signed-in user, cached library calls, formats.

Pages stay thin: read widgets, call a typed library function through ``cached`` (or a library
write function), render. No page opens a connection it keeps: every library call opens and
closes its own, and cached results are keyed by the database's data revision, so a change made
by the CLI or a cron job shows on the next rerun without a restart. Units are picked and shown
through ``units`` / ``unit_select`` / ``unit_multiselect``: one label and one order everywhere.
"""

from __future__ import annotations

import gc
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar, cast

import altair as alt
import duckdb
import polars as pl
import streamlit as st
from streamlit import dataframe_util

from portfolio import access, auditview, export, fmt, i18n, local_mode, rules, store, targets, years
from portfolio import units as unit_list

# The app sends Vega-Lite specs built without schema validation (vega_spec: to_dict(validate=False));
# Altair would still validate every object as it is made (a fifth of a chart's build). The library's
# tests validate the finished specs.
alt.utils.schemapi.DEBUG_MODE = False

LANG_KEY = "ui_lang"


# ---------------------------------------------------------------- language and labels
def lang() -> str:
    """The current UI language: 'zh' (default) or 'en'."""
    return st.session_state.get(LANG_KEY, i18n.DEFAULT_LANG)


def t(key: str, **values: object) -> str:
    """A label from the catalogue in the current language."""
    return i18n.t(key, lang(), **values)


def enum(value: str | None) -> str:
    """A stored enumeration value shown in the current language."""
    return i18n.enum_label(value, lang())


def plain(value: object) -> str:
    """User text for any Markdown element (markdown, captions, alerts, subheaders, widget labels).

    Every sign Markdown, Streamlit or HTML reads is backslash-escaped, so a project name, a
    problem, a file name, a user id or an SQL error shows exactly as typed: never as emphasis,
    a link, HTML, LaTeX (``$``), an emoji or icon code (``:x:``) or a colour directive
    (``:red[…]``); a list, heading or quote marker at the start of a line is escaped too.
    Plain words and ids such as ``CC2016-0001`` are left as they are.
    """
    text = _MD_INLINE.sub(r"\\\g<0>", "" if value is None else str(value))
    return _MD_LINE_START.sub(r"\1\\\2", text)


_MD_INLINE = re.compile(r"[\\`*_\[\]{}<>#|$:~&!]")
#: A bullet (- + *), a setext underline (=) or an ordered-list number (1. 1)) opening a line.
_MD_LINE_START = re.compile(r"^([ \t]*|[ \t]*\d+)((?<=\d)[.)]|(?<!\d)[-+=])", re.MULTILINE)


# ---------------------------------------------------------------- database
def db_path() -> Path:
    """The database file the app works on ($PORTFOLIO_DB or data/portfolio.duckdb)."""
    return store.resolve_db(None)


REVISION_KEY = "ui_revision"
_RUN = threading.local()


def read_connection() -> duckdb.DuckDBPyConnection:
    """This run's read-only connection to the database, opened on first use and kept until :func:`release`.

    Opening the file costs 20–40 ms (DuckDB reads the catalog), and a first visit computes a
    dozen cached results: they share one open. ``app.py`` releases it when the run ends, so
    between runs the app holds nothing open and the CLI, a cron job or another session can
    write. Anything that opens the file otherwise for writing, or with other settings (the SQL
    sandbox), calls :func:`release` first: DuckDB refuses such an open in the same process
    while a read-only connection is open.
    """
    path = str(db_path())
    con = getattr(_RUN, "con", None)
    if con is not None and getattr(_RUN, "path", None) == path:
        return cast(duckdb.DuckDBPyConnection, con)
    release()
    con = store.open_connection(path, read_only=True)
    _RUN.con, _RUN.path = con, path
    return con


def release() -> None:
    """Close this run's read connection (:func:`read_connection`), if one is open, once the
    :func:`beside` threads using cursors of it have ended."""
    for thread in getattr(_RUN, "beside", None) or []:
        thread.join()
    _RUN.beside = []
    con = getattr(_RUN, "con", None)
    _RUN.con = None
    if con is not None:
        con.close()


def finish() -> None:
    """End of a run (``app.py``): close its read connection (after its :func:`beside` threads) and
    drop its memo (:func:`run_memo`)."""
    _RUN.memo = None
    release()
    freeze_once()


_FROZEN = threading.Event()


def freeze_once() -> None:
    """After the server's first run: the objects alive then (the modules and what Streamlit, Altair,
    polars and DuckDB made when imported, some hundreds of thousands) leave the cycle collector.

    Python's full collection walks every tracked object; with this app's imports that is ~100 ms,
    and a first visit (a page's charts and frames make garbage enough to trigger one) paid it
    inside the run. Frozen, they are not walked again (``gc.freeze``); they stay alive anyway, and
    the objects of later runs are collected as before. Collected once first, so no garbage of the
    first run is kept for good."""
    if _FROZEN.is_set():
        return
    _FROZEN.set()
    gc.collect()
    gc.freeze()


def read_revision() -> tuple[int, int]:
    """The file's identity and its data revision, read now (on the run's connection)."""
    with read_connection().cursor() as con:
        rev = int(store.get_meta(con, "revision", "0") or 0)
    return db_path().stat().st_ino, rev


def revision() -> tuple[int, int]:
    """The data revision and the file's identity of this run; cached results are keyed by both.

    Found once per run, at :func:`start` (opening the database costs tens of milliseconds, and
    a page asks for it dozens of times: every cached call, every unit label): kept from the
    session's last run while the database's files are unchanged (:func:`refresh_revision`), else
    read; every write in a page ends with ``st.rerun()``, so the next run reads the new one. A restore or ``init
    --force`` swaps in another file whose revision number may equal one seen before: its inode
    differs, so nothing cached from the replaced file is shown.
    """
    kept = st.session_state.get(REVISION_KEY)
    if kept is not None and kept[0] == str(db_path()):
        return cast(tuple[int, int], kept[1])
    return remember_revision()


def remember_revision() -> tuple[int, int]:
    """Read the revision now and keep it for the rest of this run (:func:`revision`), with the
    files' stamp taken just before (:func:`files_stamp`)."""
    stamp = files_stamp()
    found = read_revision()
    st.session_state[REVISION_KEY] = (str(db_path()), found, stamp)
    return found


def files_stamp() -> tuple[Any, ...] | None:
    """The database file's and its write-ahead log's identity, size, modification and change times.

    A committed write changes the log or the file (DuckDB appends to the log, a checkpoint writes
    the file), and so their stamp; a restore or ``init --force`` is another file. None where the
    clock is too coarse to tell two writes apart (a file system without sub-second times): the
    revision is then read every run."""
    out: list[Any] = []
    for path in (db_path(), store.wal_path(db_path())):
        try:
            st_ = path.stat()
        except FileNotFoundError:
            out.append(None)
            continue
        except OSError:  # unreadable here: read the revision (the open says what is wrong)
            return None
        if st_.st_mtime_ns % 1_000_000_000 == 0 and st_.st_ctime_ns % 1_000_000_000 == 0:
            return None
        out.append((st_.st_dev, st_.st_ino, st_.st_size, st_.st_mtime_ns, st_.st_ctime_ns))
    return tuple(out)


def refresh_revision() -> tuple[int, int]:
    """This run's revision: the one kept from this session's last run when neither file changed
    since it was read (a rerun opens no connection at all), else read now."""
    kept = st.session_state.get(REVISION_KEY)
    if kept is not None and len(kept) == 3 and kept[0] == str(db_path()) and kept[2] is not None \
            and kept[2] == files_stamp():
        return cast(tuple[int, int], kept[1])
    return remember_revision()


@contextmanager
def write_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """A short read-write connection for a save; this run's read connection is closed first (:func:`release`)."""
    release()
    with store.connect(db_path()) as con:
        yield con


P = ParamSpec("P")
R = TypeVar("R")


# cache_resource keeps one shared result per key: no pickling and no copy on every hit, which
# matters for frames of a million projects. Library results are never changed in place (polars
# frames are immutable; pages build new frames), so sharing them across sessions is safe.
# ``_fn`` is not hashed (leading underscore): the key is its module and qualified name.
#: Shown while a cached figure is computed (a first visit of a large library): on a miss only,
#: and only after half a second, so a quick page never flashes it.
COMPUTING = "正在计算…（computing…）"


@st.cache_resource(show_spinner=COMPUTING, max_entries=64, ttl=6 * 3600)
def _call(name: str, db: str, rev: tuple[Any, ...], args: tuple[Any, ...],
          kwargs: tuple[tuple[str, Any], ...], _fn: Callable[..., Any]) -> Any:
    with reading() as con:
        value = _fn(con, *args, **dict(kwargs))
    _computed(name, db, rev, args, kwargs)
    return value


#: The keys :func:`_call` computed in this process, newest last (a bounded record: :func:`beside`
#: starts nothing for a figure computed before; one evicted since is computed on the page's thread).
_DONE: dict[tuple[Any, ...], None] = {}
_DONE_LOCK = threading.Lock()


def _computed(*key: Any) -> None:
    try:
        with _DONE_LOCK:
            _DONE[key] = None
            while len(_DONE) > 4096:
                del _DONE[next(iter(_DONE))]
    except TypeError:  # an unhashable argument: not recorded (beside then computes on the page's thread)
        pass


#: :func:`beside` starts threads below this many projects. A small library's queries are their
#: planning, one core each, and two run side by side; a large one's scans already use both cores,
#: and a second computation beside them only adds its memory (1,000,000 projects: the overview's
#: first visit peaked at 980–1,148 MB with the thread, 800–815 MB without, its time no better
#: within this machine's swing of 3.6–5.4 s).
BESIDE_BELOW = 200_000


def beside(fn: Callable[Concatenate[duckdb.DuckDBPyConnection, P], R], /,
           *args: P.args, **kwargs: P.kwargs) -> Callable[[], R]:
    """:func:`cached`, computed on a thread of its own while the page goes on; returns the getter.

    A first visit computes figures that do not depend on each other one after the other; DuckDB
    and polars work without Python's lock, so one can run on the second core beside the other
    (the overview's gap analysis beside the check payload). The thread has a cursor of the run's
    connection and runs only the library function (no Streamlit call); the getter waits for it
    and puts the value in the same cache :func:`cached` reads, or raises what the function
    raised. A figure computed before in this process (cached for this revision) starts nothing:
    the getter reads the cache; nor does a library of :data:`BESIDE_BELOW` projects or more. :func:`finish` waits for any thread still running before the
    connection is closed."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    items = tuple(sorted(kwargs.items()))
    db, rev = str(db_path()), revision()
    try:
        known = (name, db, rev, args, items) in _DONE
    except TypeError:
        known = True  # unhashable arguments: computed on the page's thread
    if known or cached(store.project_count) >= BESIDE_BELOW:
        return lambda: cached(fn, *args, **kwargs)
    cur = read_connection().cursor()
    result: Future[R] = Future()

    def work() -> None:
        try:
            result.set_result(fn(cur, *args, **kwargs))
        except BaseException as exc:  # handed to the getter
            result.set_exception(exc)
        finally:
            cur.close()

    thread = threading.Thread(target=work, name=f"beside {fn.__qualname__}", daemon=True)
    thread.start()
    _RUN.beside = [*(getattr(_RUN, "beside", None) or []), thread]

    def get() -> R:
        value = result.result()
        return cast(R, run_memo((name, args, items),
                                lambda: _call(name, db, rev, args, items, _fn=lambda _con, *_a, **_k: value)))

    return get


#: A computation longer than this lets the run's connection go when it ends (see :func:`reading`).
HOLD_S = 0.5


@contextmanager
def reading() -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of the run's read connection for one cached computation (its own results and temp objects).

    After a long computation (a first visit of a large library) the connection is released, so
    a writer waiting for the file (a save in another session, an import from the command line)
    gets it between two computations rather than only at the end of the run; the next miss
    opens it again, which is cheap beside such a computation.
    """
    started = time.monotonic()
    depth = getattr(_RUN, "depth", 0)
    _RUN.depth = depth + 1
    try:
        with read_connection().cursor() as con:
            yield con
    finally:
        _RUN.depth = depth
    if depth == 0 and time.monotonic() - started > HOLD_S:
        release()


def cached(fn: Callable[Concatenate[duckdb.DuckDBPyConnection, P], R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(con, *args, **kwargs)`` on a short read-only connection, cached per database revision.

    ``fn`` is a library function taking the connection first (``targets.check_report``,
    ``chains.gaps`` …); the cache key is its module and qualified name, the database file's
    identity and revision (:func:`revision`) and the arguments.
    """
    name = f"{fn.__module__}.{fn.__qualname__}"
    items = tuple(sorted(kwargs.items()))
    return cast(R, run_memo((name, args, items), lambda: _call(name, str(db_path()), revision(), args, items,
                                                                  _fn=fn)))


def cached_on(key: tuple[Any, ...], fn: Callable[Concatenate[duckdb.DuckDBPyConnection, P], R], /,
              *args: P.args, **kwargs: P.kwargs) -> R:
    """:func:`cached`, keyed on ``key`` instead of the data revision: ``key`` must change whenever
    anything ``fn`` reads in the database does (:func:`portfolio.rules.rules_key` for what reads only
    the rules and targets), so a save of project data does not compute it again."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    items = tuple(sorted(kwargs.items()))
    return cast(R, run_memo((name, args, items, key), lambda: _call(name, str(db_path()), ("key", *key), args, items,
                                                                       _fn=fn)))


def rules_key() -> tuple[Any, ...]:
    """The key of the rules and targets in force (:func:`portfolio.rules.rules_key`), once per data revision."""
    return cached(rules.rules_key)


def run_memo(key: Any, compute: Callable[[], R]) -> R:
    """``compute()`` once per run for ``key`` (hashable; otherwise computed every time).

    A page asks for the same cached result many times (every unit label, every year label);
    Streamlit hashes the arguments on each call, which adds up to tens of milliseconds a run.
    The memo is emptied when a run starts (:func:`start`), so it never outlives the revision.
    """
    memo: dict[Any, Any] | None = getattr(_RUN, "memo", None)
    if memo is None:
        return compute()
    try:
        return cast(R, memo[key])
    except KeyError:
        memo[key] = value = compute()
        return value
    except TypeError:  # an unhashable argument (a dict of filters): Streamlit's own key only
        return compute()


# Altair checks every schema object against Vega-Lite's JSON schema as it is made (its "debug
# mode"), again and again as a chart is layered and sized: a third of building the overview's
# three charts. The app builds only the library's charts, whose whole specs the tests check
# (tests/test_charts.py), so it builds them unchecked; a chart's own to_dict() still validates.
alt.utils.schemapi.disable_debug_mode()


@st.cache_resource(show_spinner=False, max_entries=256, ttl=6 * 3600)
def _spec(key: str, db: str, rev: tuple[int, int], language: str, deps: tuple[Any, ...], natural: bool,
          _build: Callable[[], Any], fit: bool = False) -> dict[str, Any]:
    spec = vega_spec(_build())
    if fit and not any(k in spec for k in ("hconcat", "vconcat", "concat", "facet", "repeat")):
        # the container's width, whatever the screen (a phone, 1024 px, a wide monitor); the
        # height stays the one it was built with
        spec["width"] = "container"
        spec["autosize"] = {"type": "fit-x", "contains": "padding"}
    elif natural:  # set on the spec: Altair's .properties() would deep-copy the chart and its data first
        spec["autosize"] = {"type": "pad", "contains": "padding"}
    return spec


def vega_spec(figure: Any) -> dict[str, Any]:
    """An Altair chart as the Vega-Lite spec ``st.vega_lite_chart`` draws, without schema validation.

    What ``st.altair_chart`` would send, built once: no default theme sizes (Streamlit draws
    Altair charts without the default theme), named datasets as Arrow bytes.
    """
    spec = figure.to_dict(validate=False)
    if alt.theme.active == "default":  # the default theme's view size: Streamlit leaves it out
        config = getattr(figure, "config", alt.Undefined)
        own = {} if config is alt.Undefined else config.to_dict(validate=False)
        view = spec.get("config", {}).get("view", {})
        for name in ("continuousWidth", "continuousHeight"):
            if name not in own.get("view", {}):
                view.pop(name, None)
        if "config" in spec and not view:
            spec["config"].pop("view", None)
            if not spec["config"]:
                del spec["config"]
    if isinstance(spec.get("datasets"), dict):
        spec["datasets"] = {name: dataframe_util.convert_anything_to_arrow_bytes(values)
                            for name, values in spec["datasets"].items()}
    return spec


def chart_spec(build: Callable[[], Any], *, key: str, deps: tuple[Any, ...] = (),
               natural: bool = False, fit: bool = False, content: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """The Vega-Lite spec of ``build()`` (an Altair chart), built once per data revision, language and ``deps``.

    Building an Altair chart and validating it against the schema takes 50–200 ms a chart, on
    every rerun; cached, a rerun only sends the spec. ``deps`` are the values the chart is
    built from beyond the data revision and the language (the month, metric, project …).
    ``natural``: drawn at its natural size, the width it was built for being the plot's (autosize
    pad, padding included). ``fit``: as wide as its container (a single or layered chart; a
    concatenation keeps its natural size). ``content``: every value the chart is drawn from, when the
    page has them at hand (a project's dozen months): the spec is then kept across data revisions
    while they stay the same, so a save that does not touch them does not build the chart again.
    """
    if content is not None:
        return _spec(key, str(db_path()), (0, 0), lang(), (*deps, content), natural, _build=build, fit=fit)
    return _spec(key, str(db_path()), revision(), lang(), deps, natural, _build=build, fit=fit)


def chart(build: Callable[[], Any], *, key: str, deps: tuple[Any, ...] = (), into: Any = st,
          width: int | str = "content", natural: bool = False, fit: bool = False,
          content: tuple[Any, ...] | None = None) -> None:
    """Draw the Altair chart ``build()`` through its cached spec (:func:`chart_spec`); ``fit``: the
    container's width."""
    spec = chart_spec(build, key=key, deps=deps, natural=natural, fit=fit, content=content)
    draw(spec, key=key, into=into, width="stretch" if spec.get("width") == "container" else width)


def draw(spec: dict[str, Any], *, key: str, into: Any = st, width: int | str = "content") -> None:
    """Draw a Vega-Lite spec made by :func:`chart_spec` (Streamlit copies it before changing anything)."""
    into.vega_lite_chart(spec, key=key, width=width)


@st.cache_resource(show_spinner=COMPUTING, max_entries=64, ttl=6 * 3600)
def _derive(name: str, db: str, rev: tuple[int, int], of: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...],
            _fn: Callable[..., Any], _source: Any) -> Any:
    return _fn(_source, **dict(kwargs))


S = TypeVar("S")


def derived(fn: Callable[Concatenate[S, P], R], source: S, /, *, of: tuple[Any, ...], **kwargs: Any) -> R:
    """``fn(source, **kwargs)`` cached per database revision: a figure derived from a cached result.

    ``source`` is itself a cached result (a frame of :func:`payload` …); ``of`` says which (the
    call that made it and its arguments), since a frame is not hashed for the key.
    """
    name = f"{fn.__module__}.{fn.__qualname__}"
    return cast(R, _derive(name, str(db_path()), revision(), of, tuple(sorted(kwargs.items())), _fn=fn,
                           _source=source))


#: Lagging projects and violations listed in the payload's report (its frames hold all of them).
PAYLOAD_LIMIT = 50


def payload(as_of: date) -> targets.CheckPayload:
    """The check payload at ``as_of`` (its plan year): one project frame shared by every page.

    Every page asks for it with the same arguments, so a visit builds the project frame once
    per data revision and month, and the overview, the target checks, the forecast, the lagging
    list and 包保 all read it.
    """
    return cast(targets.CheckPayload, _payload(str(db_path()), revision(), as_of, PAYLOAD_LIMIT))


# a project frame per month: a few months at a time, so that a large library stays within memory
@st.cache_resource(show_spinner=COMPUTING, max_entries=4, ttl=6 * 3600)
def _payload(db: str, rev: tuple[int, int], as_of: date, limit: int) -> targets.CheckPayload:
    with reading() as con:
        # what the payload reads later (every project's row, for a page that needs them all) is
        # read on a connection of the run that asks
        return targets.check_payload(con, as_of=as_of, limit=limit, year=as_of.year, source=reading,
                                     rank_top=FORECAST_TOP, rollups=PAYLOAD_ROLLUPS)


#: Roll-ups the pages show, computed with the payload (the overview's 状态, 包保's levels and leaders).
PAYLOAD_ROLLUPS = ("status", "leader_level", "leader")
#: How many of each forecast ranking the pages show (目标进度).
FORECAST_TOP = 20


def rollup(as_of: date, by: str) -> pl.DataFrame:
    """The payload's projects rolled up ``by`` status, unit, leader … (``targets.rollup_of``)."""
    p = payload(as_of)
    if by in p.rollups:
        return p.rollups[by]
    return derived(targets.rollup_of, p.projects, of=("payload", as_of), by=by)


def lagging(as_of: date) -> pl.DataFrame:
    """Every lagging project of the payload, furthest behind first: read when first asked for
    (only those projects' rows), under the worded spinner."""
    return derived(_lagging_of, payload(as_of), of=("payload", as_of))


def violations(as_of: date) -> pl.DataFrame:
    """Every responsibility violation of the payload, with the projects' names."""
    return derived(_violations_of, payload(as_of), of=("payload", as_of))


def projects(as_of: date) -> pl.DataFrame:
    """Every project's row of the payload's month (``project_status_at``): read when first asked
    for (情景推演 works on them all), under the worded spinner."""
    return derived(_projects_of, payload(as_of), of=("payload", as_of))


def _projects_of(p: targets.CheckPayload) -> pl.DataFrame:
    return p.projects


def _lagging_of(p: targets.CheckPayload) -> pl.DataFrame:
    return p.lagging


def _violations_of(p: targets.CheckPayload) -> pl.DataFrame:
    return p.violations


def forecast(as_of: date, top: int = FORECAST_TOP) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The year-end forecast per metric and the ``top`` projects that drive it, from the payload."""
    return derived(_forecast_of, payload(as_of), of=("payload", as_of), top=top)


def _forecast_of(p: targets.CheckPayload, *, top: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    ranked = p.ranked_top(top) or targets.ranked_of(p.projects, checks=p.checks, cfg=p.settings, top=top)
    return targets.forecast_summary(p.checks, ranked=ranked), targets.drivers_of(ranked)


def ensure_database() -> None:
    """Without a database, the first start creates the sample one."""
    path = db_path()
    if path.exists():
        return
    with st.spinner("首次启动：正在创建示例数据库（1004个项目）… / First start: creating the sample database…"):
        store.init_db(path, sample=True, actor="app")


# ---------------------------------------------------------------- sign-in and user
def client_request() -> local_mode.Client:
    """This session's browser connection: its TCP peer and its handshake headers.

    Reads Streamlit's session client rather than ``st.context.ip_address``, which reports a
    loopback peer and an unknown one alike as None (the same source Streamlit's own
    ``connection_locality`` uses). Whatever cannot be read counts as an unknown peer, which
    local mode refuses. Tests replace this one function to fake a request.
    """
    try:
        from streamlit import runtime
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        if ctx is None or not runtime.exists():
            return local_mode.Client(address=None)
        client = runtime.get_instance().get_client(ctx.session_id)
        context = client.client_context if client is not None else None
        if context is None:
            return local_mode.Client(address=None)
        address = context.remote_ip
        headers = tuple((str(name), str(value)) for name, value in context.headers)
    except Exception:  # a Streamlit without these internals: fail closed
        return local_mode.Client(address=None)
    return local_mode.Client(address=address if isinstance(address, str) else None, headers=headers)


def auth_section() -> object | None:
    """The [auth] table of .streamlit/secrets.toml, or None when there is none.

    Raises :class:`local_mode.SecretsUnreadable` when a secrets file exists but cannot be read:
    that must stop the app, not turn it into local mode.
    """
    try:
        if "auth" not in st.secrets:
            return None
        return st.secrets["auth"]
    except Exception as exc:
        files = [Path(f) for f in st.get_option("secrets.files") or []]
        if any(f.exists() for f in files):
            raise local_mode.SecretsUnreadable(str(exc)) from exc
        return None  # no secrets file at all


def auth_configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] table (OpenID Connect sign-in); read once a run."""
    return run_memo("auth_configured", _auth_configured)


def _auth_configured() -> bool:
    try:
        return auth_section() is not None
    except local_mode.SecretsUnreadable:
        return True  # never local mode on a file that cannot be read (start() stops on it)


def read_only() -> bool:
    """True when the app is served read-only ($PORTFOLIO_READ_ONLY, ``portfolio serve --read-only``)."""
    return local_mode.read_only(os.environ)


def current_user() -> access.User | None:
    """The acting user: the local user without a provider, else the registered signed-in one.

    Read-only mode makes everyone a viewer: the visitor without a provider, the signed-in user
    with the viewer role otherwise. The signed-in user is looked up on the run's connection.
    """
    if not auth_configured():
        return access.VISITOR if read_only() else access.LOCAL_USER
    if not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    subject = st.user.get("sub")
    with read_connection().cursor() as con:
        found = access.find_user(con, email=str(email) if email else None,
                                 subject=str(subject) if subject else None)
    return access.as_viewer(found) if found is not None and read_only() else found


def user() -> access.User | None:
    """The user resolved at the start of this run."""
    return st.session_state.get("ui_user")


def _language_switch() -> None:
    with st.sidebar:
        choice = st.segmented_control(
            i18n.t("app.language", lang()), options=["zh", "en"],
            format_func=lambda v: "中文" if v == "zh" else "English",
            default=lang(), key="ui_lang_switch",
        )
        if choice and choice != lang():
            st.session_state[LANG_KEY] = choice
            st.rerun()


def _stop_with(page: Callable[[], None], title: str) -> NoReturn:
    """Show only ``page`` (whatever URL was asked for) and end the run: no other page, no data."""
    st.navigation([st.Page(page, title=title, url_path="stopped", default=True)], position="hidden").run()
    st.stop()


def _local_only_page(reason: str) -> Callable[[], None]:
    def page() -> None:
        st.title(t("local.title"))
        st.warning(t("local.lead"), icon=":material/lock:")
        st.markdown(t("local.howto", port=st.get_option("server.port")))
        st.caption(t("local.reason", reason=t(f"local.reason.{reason}")))
    return page


def _settings_error_page(lead: str, details: list[str]) -> Callable[[], None]:
    def page() -> None:
        st.title(t("local.auth_title"))
        st.error(lead, icon=":material/error:")
        if details:
            st.markdown("\n".join(f"- {line}" for line in details))
    return page


def start() -> access.User | None:
    """Run at the top of every rerun, before any page: the one gate of the app.

    In order: the language switch (touches nothing); an [auth] table that is present but
    unusable stops the app with its reasons; in local mode a request that is not provably
    from this machine gets the local-only page; only then is the database created if missing,
    this run's data revision read (once: :func:`revision`) and the user resolved, both on the
    run's read connection (:func:`read_connection`; ``app.py`` releases it when the run ends).
    """
    _RUN.memo = {}  # this run's memo (run_memo): nothing carried over from an earlier run
    st.html(FIT_CSS)
    _language_switch()
    try:
        section = auth_section()
    except local_mode.SecretsUnreadable:
        _stop_with(_settings_error_page(t("local.secrets_unreadable"), []), t("local.auth_title"))
    if section is not None:
        problems = local_mode.auth_problems(section)
        if problems:
            _stop_with(_settings_error_page(t("local.auth_stop"), [p.sentence(lang()) for p in problems]),
                       t("local.auth_title"))
    elif not read_only():
        reason = local_mode.refusal_reason(client_request())
        if reason is not None:
            _stop_with(_local_only_page(reason), t("local.title"))
    if read_only() and not db_path().exists():
        _stop_with(_settings_error_page(t("auth.no_database"), []), t("app.title"))
    ensure_database()
    release()  # a connection left by an earlier run that did not end normally
    # the revision: kept while the files are unchanged, else read on this run's connection
    # (read_connection, opened on first use: shared by the user lookup and any cache miss)
    refresh_revision()
    current = current_user()
    st.session_state["ui_user"] = current
    return current


#: What keeps every page readable from a phone to a wide screen: a card's value and label wrap
#: and shrink with the screen instead of ending in "…"; a toggle's or checkbox's label wraps.
FIT_CSS = """<style>
[data-testid="stMetric"] div, [data-testid="stMetric"] p, [data-testid="stMetric"] span {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
}
[data-testid="stMetricValue"], [data-testid="stMetricValue"] > div {
  overflow-wrap: anywhere; font-size: clamp(1.3rem, 2.4vw, 2.25rem); line-height: 1.25;
}
[data-testid="stWidgetLabel"] p, .stCheckbox label p { white-space: normal !important;
  overflow: visible !important; text-overflow: clip !important; }
[data-testid="stVegaLiteChart"] { max-width: 100%; }
[data-testid="stVegaLiteChart"] .vega-embed, [data-testid="stVegaLiteChart"] .chart-wrapper { max-width: 100%; }
[data-testid="stVegaLiteChart"] svg, [data-testid="stVegaLiteChart"] canvas { max-width: 100%; height: auto; }
.st-key-ch_map_full { overflow-x: auto; }
.st-key-ch_map_full [data-testid="stVegaLiteChart"], .st-key-ch_map_full .vega-embed,
.st-key-ch_map_full svg { max-width: none !important; }
</style>"""


def _sign_in_page() -> None:
    st.title(t("app.title"))
    if not st.user.is_logged_in:
        st.info(t("auth.sign_in_prompt"))
        if st.button(t("auth.sign_in"), type="primary", key="auth_login"):
            st.login()
    else:
        st.warning(t("auth.unknown_user", who=plain(st.user.get("email") or st.user.get("sub"))))
        if st.button(t("auth.sign_out"), key="auth_logout"):
            st.logout()


def pages(current: access.User | None) -> list[Any]:
    """The navigation for ``current``: everything for known users, sign-in otherwise."""
    if current is None:
        return [st.Page(_sign_in_page, title=t("auth.sign_in"), url_path="signin")]
    items = [
        st.Page("app_pages/overview.py", title=t("nav.overview"), icon=":material/dashboard:", default=True),
        st.Page("app_pages/projects.py", title=t("nav.projects"), icon=":material/list_alt:"),
        st.Page("app_pages/targets.py", title=t("nav.targets"), icon=":material/flag:"),
        st.Page("app_pages/whatif.py", title=t("nav.whatif"), icon=":material/science:"),
        st.Page("app_pages/chains.py", title=t("nav.chains"), icon=":material/account_tree:"),
        st.Page("app_pages/leaders.py", title=t("nav.leaders"), icon=":material/badge:"),
        st.Page("app_pages/data_import.py", title=t("nav.import"), icon=":material/upload_file:"),
        st.Page("app_pages/sql_console.py", title=t("nav.sql"), icon=":material/terminal:"),
        st.Page("app_pages/reports.py", title=t("nav.report"), icon=":material/description:"),
    ]
    if access.can(current, "manage_users"):
        items.append(st.Page("app_pages/admin.py", title=t("nav.admin"), icon=":material/admin_panel_settings:"))
    return items


def banners(current: access.User | None) -> None:
    """Sample-data and local-mode banners, and who is signed in."""
    if current is None:
        return
    with st.sidebar:
        st.caption(f"{t('app.subtitle')}")
        role = access.ROLE_LABELS.get(current.role, current.role) if lang() == "zh" else current.role
        names = {access.LOCAL_USER.user_id: t("auth.local_user"), access.VISITOR.user_id: t("auth.visitor")}
        name = names.get(current.user_id, current.name) if not auth_configured() else current.name
        who = f"{name} · {current.user_id}" if name else current.user_id
        st.caption(f"👤 {plain(who)} · {plain(role)}" + (f" · {plain(current.unit_id)}" if current.unit_id else ""))
        if auth_configured() and st.button(t("auth.sign_out"), key="auth_logout_sidebar"):
            st.logout()
    if cached(store.is_sample):
        st.info(t("app.sample_banner"), icon=":material/science:")
    # the files differ from the rules in force: compared again only when the rules or the files change
    pending = cached_on(rules_key(), rules.pending_note, files=rules.files_stamp())
    if pending:
        st.warning(plain(pending), icon=":material/rule:")
    if read_only():
        st.warning(t("auth.read_only"), icon=":material/visibility:")
    elif not auth_configured():
        st.caption(t("auth.local_mode"))


# ---------------------------------------------------------------- formats and downloads
def audit_download(me: access.User, chosen: auditview.Filter, total: int, *, key: str) -> None:
    """The modification log's entries the filter ``chosen`` selects (up to ``auditview.EXPORT_ROWS``) as an
    xlsx download, built only when clicked (the 修改日志 page and a project's history)."""
    db, language = db_path(), lang()

    def workbook() -> bytes:
        with store.connect(db, read_only=True) as con:
            return auditview.audit_xlsx(con, me, chosen, lang=language)

    st.download_button(t("audit.export", n=f"{min(total, auditview.EXPORT_ROWS):,}"), data=workbook,
                       file_name=auditview.export_name(chosen, lang=language), key=key,
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/download:", disabled=total == 0, on_click="ignore")


def yi(wan: Any, digits: int = 1) -> str:
    """万元 shown as 亿元 with the unit: 23,520,000 → '2,352.0 亿元' (:func:`portfolio.fmt.yi`)."""
    return fmt.NONE if wan is None else f"{fmt.yi(wan, digits)} {t('unit.yi')}"


def pct(ratio: Any, digits: int = 1) -> str:
    """A ratio as a percentage with one decimal (:func:`portfolio.fmt.pct`)."""
    return fmt.pct(ratio, digits)


def headers(frame: pl.DataFrame) -> pl.DataFrame:
    """Rename database columns to the display headers of the current language."""
    return frame.rename(i18n.translate_columns(frame.columns, lang()))


def export_name(*parts: str | None, as_of: date | None = None, ext: str = "xlsx") -> str:
    """A download's file name that says what it holds (:func:`portfolio.fmt.export_name`)."""
    return fmt.export_name(*parts, as_of=as_of, ext=ext)


def download_xlsx(frames: dict[str, pl.DataFrame] | Callable[[], dict[str, pl.DataFrame]], file_name: str, *,
                  key: str, label: str | None = None, title: str | None = None, as_of: date | None = None,
                  filters: Sequence[str] = ()) -> None:
    """A download button for frames as an xlsx workbook (one sheet each), written only when clicked.

    ``frames`` may be a function giving them: then they too are made only when clicked. Every
    sheet is written as people read it (:func:`portfolio.fmt.for_people`: 红/黄/绿, 是/否,
    headers in the current language with their unit) under a first row saying what it holds
    (``title``, the ``filters`` in force, the month, the number of rows, the day of export)."""
    language = lang()

    def workbook() -> bytes:
        sheets = frames() if callable(frames) else frames
        named = {name: headers(fmt.for_people(f, language)) for name, f in sheets.items()}
        titles = {name: fmt.export_title(title or name, as_of=as_of, filters=filters, rows=f.height, lang=language)
                  for name, f in named.items()}
        return export.write_xlsx(named, titles=titles) or b""

    st.download_button(label or t("ui.download_xlsx"), data=workbook, file_name=file_name,
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key=key, icon=":material/download:", on_click="ignore")


#: Rows a table sends to the browser at most; the downloads hold every row.
TABLE_ROWS = 1000


def table(frame: pl.DataFrame, *, key: str, view: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
          limit: int | None = None, into: Any = st, **kwargs: Any) -> None:
    """``st.dataframe`` of the first ``limit`` (:data:`TABLE_ROWS`) rows of ``frame`` (through ``view``, on those only).

    A million projects make lists of hundreds of thousands of rows (lagging projects, 包保
    violations): sending them all costs seconds on every rerun. When rows are left out a caption
    says how many, and that the download has them all.
    """
    limit = TABLE_ROWS if limit is None else limit
    shown = frame.head(limit)
    into.dataframe(view(shown) if view is not None else shown, key=key, **kwargs)
    if frame.height > limit:
        into.caption(t("ui.capped", n=f"{limit:,}", total=f"{frame.height:,}"))


YEAR_KEY = "ui_year"


def plan_years() -> list[int]:
    """The plan years the database holds, oldest first."""
    return cached(years.plan_years)


def current_year() -> int:
    """The current plan year (the one being planned and reported on)."""
    return cached(years.current_year)


def chosen_year() -> int:
    """The plan year picked in the year picker (shared by every page), else the current one."""
    year = st.session_state.get(YEAR_KEY)
    return year if year in plan_years() else current_year()


def year_closed(year: int | None = None) -> bool:
    """True when ``year`` (default: the chosen one) was closed by opening the next: read-only."""
    return bool(cached(years.is_closed, chosen_year() if year is None else year))


def year_label(year: int) -> str:
    """A year as the picker lists it: the current one and closed ones say so."""
    if year == current_year():
        return t("ui.year_current", year=year)
    return t("ui.year_closed", year=year) if year_closed(year) else t("ui.year_item", year=year)


def year_months(year: int) -> list[date]:
    """The months of ``year`` that have progress rows, oldest first (January when there is none)."""
    return cached(store.progress_months, year) or [date(year, 1, 1)]


def year_has_progress(year: int) -> bool:
    """True when ``year`` has any progress rows (a newly opened year has none until February)."""
    return bool(cached(store.progress_months, year))


def _keep_year(widget_key: str) -> None:
    st.session_state[YEAR_KEY] = st.session_state[widget_key]


def year_picker(key: str, *, into: Any = st) -> int:
    """Pick the plan year; the choice is shared by every page (session state ``ui_year``).

    Each page has its own widget (``key``), set from the shared choice before it is drawn, so
    switching pages carries the year over and never shows a stale one."""
    options = plan_years()
    labels = {y: year_label(y) for y in options}  # built now: a format_func must not read the session later
    st.session_state[key] = chosen_year()
    return int(into.selectbox(t("ui.year"), options, key=key, format_func=labels.__getitem__,
                              on_change=_keep_year, args=(key,)))


def month_picker(key: str, *, default: date | None = None) -> date:
    """Pick the plan year and the as-of month among that year's months with progress.

    Two selects side by side: the year (shared by all pages, :func:`year_picker`) and the month
    (defaults to the latest with progress). A closed year gets a note that it is read-only."""
    year_col, month_col = st.columns(2)
    year = year_picker(f"{key}_year", into=year_col)
    months = year_months(year)
    if st.session_state.get(key) not in months:  # first draw, or another year picked: its latest month
        st.session_state[key] = default if default in months else months[-1]
    month = month_col.selectbox(t("ui.as_of"), months, key=key, format_func=lambda d: f"{d.year}-{d.month:02d}")
    if year_closed(year):
        st.caption(f":material/lock: {t('ui.closed_short')}")
    return month


# ---------------------------------------------------------------- units: one name, one order
def units() -> pl.DataFrame:
    """Every unit in the order of units.toml: ``unit_id``, ``display_name``, ``label``, ``search_text`` …"""
    return cached(unit_list.units_frame)


def unit_options(only: Sequence[str | None] | None = None) -> list[str]:
    """Unit ids in the configured order (``only`` those given, when given; unknown ids last)."""
    ordered = units()["unit_id"].to_list()
    if only is None:
        return ordered
    wanted = {u for u in only if u is not None}
    return [u for u in ordered if u in wanted] + sorted(wanted - set(ordered))


def unit_label(unit_id: str | None) -> str:
    """A unit as a picker shows it: full name (short name, aliases); the id itself if unknown."""
    if unit_id is None:
        return "—"
    return run_memo("unit_labels", lambda: unit_list.labels(units())).get(unit_id, unit_id)


def unit_name(unit_id: str | None) -> str:
    """A unit's display name (its full name); the id itself if unknown."""
    if unit_id is None:
        return "—"
    return run_memo("unit_names", lambda: unit_list.names(units())).get(unit_id, unit_id)


def unit_multiselect(label: str, *, key: str, only: Sequence[str | None] | None = None, into: Any = st,
                     **kwargs: Any) -> list[str]:
    """Pick units by full name, short name or alias, listed in the configured order."""
    options = unit_options(only)
    labels = {u: unit_label(u) for u in options}  # built now: a format_func must not read the session later
    return into.multiselect(label, options, format_func=labels.__getitem__, key=key, **kwargs, select_all=False)


def unit_select(label: str, *, key: str, only: Sequence[str | None] | None = None, optional: bool = False,
                into: Any = st, **kwargs: Any) -> str | None:
    """Pick one unit (``None`` first when ``optional``) by full name, short name or alias."""
    options: list[str | None] = [*([None] if optional else []), *unit_options(only)]
    labels = {u: unit_label(u) for u in options}  # built now: a format_func must not read the session later
    return into.selectbox(label, options, format_func=labels.__getitem__, key=key, **kwargs)
