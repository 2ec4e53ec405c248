"""The ``arachne`` command: run, check and draw graph documents; list components; scaffold.

Each command imports what it needs when it runs, so ``arachne --help`` starts quickly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from arachne.model.errors import ArachneError

__all__ = ["app", "main"]

_HELP = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="arachne",
    help="Run, check and draw Arachne graph documents (JSON or YAML).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=_HELP,
)
new_app = typer.Typer(
    help="Write a new node or subgraph module and its test.",
    no_args_is_help=True,
    context_settings=_HELP,
)
app.add_typer(new_app, name="new")


def _version(shown: bool) -> None:
    if shown:
        from arachne import __version__

        typer.echo(f"arachne {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Run, check and draw Arachne graph documents (JSON or YAML)."""


# Into a pipe or a file, messages are never wrapped: a line break inside a quoted value or a
# path would change what it says.
err = Console(stderr=True, soft_wrap=not sys.stderr.isatty())
out = Console(soft_wrap=not sys.stdout.isatty())

FileArg = Annotated[Path, typer.Argument(help="A graph document (.json, .yaml or .yml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _rate(value: float | None) -> float | None:
    if value is not None and not 0 < value <= 1:
        raise typer.BadParameter(f"{value} is not a share: give a number above 0, at most 1")
    return value


LineageOpt = Annotated[
    float | None,
    typer.Option(
        callback=_rate,
        help="Record which inputs and nodes explain each output for this share of the "
        "messages (1: all; docs/query-plane.md); the query plane answers it.",
    ),
]

ComponentsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--components",
        "-c",
        help="Load a module's Node classes as components MODULE:Class (repeatable).",
    ),
]

AllowCodeOpt = Annotated[
    bool,
    typer.Option(
        "--allow-code",
        help="Run code components (JavaScript, WebAssembly) in confined worker processes.",
    ),
]


@app.command()
def run(
    file: FileArg,
    input: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="A JSON-lines file to feed in ('-' for stdin)."),
    ] = None,
    inject: Annotated[
        list[str] | None, typer.Option(help="Feed one value: NODE:PORT=JSON (repeatable).")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Where --input goes: NODE[:PORT].")] = None,
    tag: Annotated[bool, typer.Option(help="Print {node, port, value} per output.")] = False,
    progress: Annotated[
        bool | None, typer.Option(help="Live display (default: on a terminal).")
    ] = None,
    top: Annotated[
        bool,
        typer.Option(
            "--top",
            help="Live view instead: rates, p99 latency, busy and held-back time, queues, "
            "backpressure causes (once, at the end, off a terminal).",
        ),
    ] = False,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No display, no summary, warnings only.")
    ] = False,
    log_level: Annotated[
        str | None,
        typer.Option(help="Level of node logs on stderr (default INFO; WARNING with -q)."),
    ] = None,
    check_types: Annotated[
        bool, typer.Option(help="Check every value a node emits against its port's schema.")
    ] = False,
    components: ComponentsOpt = None,
    allow_code: AllowCodeOpt = False,
    log_format: Annotated[
        str,
        typer.Option(help="Log lines as 'text' or 'json' (one object per record, with ids)."),
    ] = "text",
    trace: Annotated[
        bool, typer.Option(help="Give every value a trace id (in headers and log records).")
    ] = False,
    lineage: LineageOpt = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Serve Prometheus metrics on 127.0.0.1:PORT (0: any free)."
        ),
    ] = None,
    dashboard: Annotated[
        bool,
        typer.Option(
            "--dashboard",
            help="Serve the live dashboard of this run on 127.0.0.1 and print its address "
            "(on a desktop terminal, open it; on a terminal, it stays up after the run until "
            "Ctrl-C).",
        ),
    ] = False,
    dashboard_port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="Port of --dashboard (0: any free port)."),
    ] = 0,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Reload the document into the run each time it is saved: the changes are "
            "committed live (configs hot-reloaded, nodes and links added or removed).",
        ),
    ] = False,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="Checkpoint the run into this SQLite file; run the same command again after "
            "a crash or a kill and it resumes from its last checkpoint (docs/durable.md). With "
            "--hosts: a folder, one SQLite file per process.",
        ),
    ] = None,
    checkpoint_every: Annotated[
        float | None,
        typer.Option(min=0.001, help="Seconds between checkpoints, with --store (1)."),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="With --store: start the run over, not from its checkpoint."),
    ] = False,
    upgrade: Annotated[
        bool,
        typer.Option(
            "--upgrade",
            help="With --store: resume the run with this changed document, each node's saved "
            "state following it (renamedFrom included); refused, naming the nodes, when some "
            "state cannot follow. `arachne diff` shows the changes.",
        ),
    ] = False,
    record: Annotated[
        list[str] | None,
        typer.Option(
            "--record",
            help="With --store: keep every message of this edge (its id) in the run's event "
            "log, for arachne replay (repeatable).",
        ),
    ] = None,
    log_keep: Annotated[
        int | None,
        typer.Option(
            min=1, help="With --store: entries the run's event log keeps, the oldest go (1000000)."
        ),
    ] = None,
    hosts: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Split the graph over this many worker processes on this machine, joined by "
            "TCP mesh links (docs/distributed.md).",
        ),
    ] = None,
    shard: Annotated[
        list[str] | None,
        typer.Option(
            "--shard",
            help="With --hosts: run NODE as one replica per process, each item sent to the "
            "one that owns its KEY (a field of the item): NODE=KEY (repeatable).",
        ),
    ] = None,
    on_ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="With --hosts: run the N partitions as Ray actors (a local Ray cluster, or "
            "the one RAY_ADDRESS names) instead of worker processes; needs the ray extra.",
        ),
    ] = False,
) -> None:
    """Run a graph document; print what leaves its output nodes as JSON lines."""
    from arachne.cli.run import RunOptions, run_document

    if log_level is None:
        log_level = "WARNING" if quiet else "INFO"
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise typer.BadParameter(
            f"{log_level!r}; use DEBUG, INFO, WARNING or ERROR", param_hint="--log-level"
        )
    if log_format not in ("text", "json"):
        raise typer.BadParameter(f"{log_format!r}; use text or json", param_hint="--log-format")
    options = RunOptions(
        input or [],
        inject or [],
        to,
        tag,
        progress,
        timeout,
        quiet,
        check_types=check_types,
        components=components or [],
        allow_code=allow_code,
        trace=trace,
        lineage=lineage,
        metrics_port=metrics_port,
        top=top,
        watch=file if watch else None,
        dashboard=dashboard_port if dashboard else None,
        store=store,
        checkpoint_every=checkpoint_every,
        fresh=fresh,
        upgrade=upgrade,
        record=record or [],
        log_keep=log_keep,
        hosts=hosts,
        shards=shard or [],
        ray=on_ray,
    )
    if shard and hosts is None:
        raise typer.BadParameter("--shard goes with --hosts N", param_hint="--shard")
    if on_ray and hosts is None:
        raise typer.BadParameter("--ray goes with --hosts N", param_hint="--ray")
    if hosts is not None:
        from arachne.cli.hosts import run_on_hosts  # (only a split run needs it)

        with _logging(log_level, json_lines=log_format == "json"):
            status = _guarded(lambda: run_on_hosts(file, options, err, sys.stdin))
        raise typer.Exit(status)
    with _logging(log_level, json_lines=log_format == "json"):
        status = _guarded(lambda: run_document(file, options, err, sys.stdin))
    raise typer.Exit(status)


@app.command()
def replay(
    store: Annotated[Path, typer.Argument(help="The store arachne run --store wrote.")],
    run_name: Annotated[
        str | None, typer.Option("--run", help="Which run (default: the newest).")
    ] = None,
    tag: Annotated[bool, typer.Option(help="Print {node, port, value} per output.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No display, no summary, warnings only.")
    ] = False,
    components: ComponentsOpt = None,
    allow_code: AllowCodeOpt = False,
) -> None:
    """Run a stored run's document again on the messages its recorded edges carried."""
    from arachne.cli.replay import replay_store
    from arachne.cli.run import RunOptions

    options = RunOptions(
        tag=tag,
        quiet=quiet,
        progress=False,
        components=components or [],
        allow_code=allow_code,
    )
    with _logging("WARNING" if quiet else "INFO", json_lines=False):
        status = _guarded(lambda: replay_store(store, run_name, options, err))
    raise typer.Exit(status)


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on (ARACHNE_HOST, 127.0.0.1; another needs credentials)."
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port to listen on (PORT, 5006).")
    ] = None,
    max_concurrent_executions: Annotated[
        int | None, typer.Option(min=1, help="Executions running at once (100).")
    ] = None,
    default_execution_timeout: Annotated[
        int | None, typer.Option(min=1, help="Milliseconds an execution may run (300000).")
    ] = None,
    max_backpressure_queue: Annotated[
        int | None,
        typer.Option(
            min=1, help="Injected messages waiting per input before inject waits (10000)."
        ),
    ] = None,
    max_events_per_second: Annotated[
        int | None,
        typer.Option(min=1, help="Per-message events sent to one event client a second (200)."),
    ] = None,
    data_root: Annotated[
        str | None,
        typer.Option(
            help="Directory graphs loaded over the API may read and write files in (DATA_ROOT; "
            "unset: no files)."
        ),
    ] = None,
    enable_metrics: Annotated[
        bool | None, typer.Option("--metrics/--no-metrics", help="Collect metrics (on).")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="SQLite file keeping graphs, execution records and checkpoints (ARACHNE_STORE); "
            "started again on it, the service resumes the executions that were running."
        ),
    ] = None,
    allow_code: Annotated[
        bool | None,
        typer.Option(
            "--allow-code",
            help="Take code components (POST /api/components; ARACHNE_ALLOW_CODE): their code "
            "runs in confined worker processes.",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="Level of node logs on stderr (INFO by default).")
    ] = "INFO",
) -> None:
    """Run the Runtime Service: a REST API to load graphs, run, feed and watch them.

    Settings come from the environment (PORT, MAX_CONCURRENT_EXECUTIONS,
    DEFAULT_EXECUTION_TIMEOUT, MAX_BACKPRESSURE_QUEUE, ENABLE_METRICS, ...); options override
    them. The API's documentation is served at /docs.
    """
    from pydantic import ValidationError

    from arachne.server import ServerSettings

    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise typer.BadParameter(
            f"{log_level!r}; use DEBUG, INFO, WARNING or ERROR", param_hint="--log-level"
        )
    from arachne.server import serve as run_service

    chosen: dict[str, Any] = {
        "host": host,
        "port": port,
        "max_concurrent_executions": max_concurrent_executions,
        "default_execution_timeout": default_execution_timeout,
        "max_backpressure_queue": max_backpressure_queue,
        "max_events_per_second": max_events_per_second,
        "data_root": data_root,
        "enable_metrics": enable_metrics,
        "store": store,
        "allow_code": allow_code,
    }
    try:
        settings = ServerSettings(**{k: v for k, v in chosen.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            name = "ARACHNE_HOST" if field == "host" else field.upper()
            option = "--metrics" if field == "enable_metrics" else f"--{field.replace('_', '-')}"
            where = f"{name} ({option})" if field in chosen else name or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            err.print(f"[red]error:[/] {where}: {message}", highlight=False)
        raise typer.Exit(2) from None
    with _logging(log_level.upper()):
        run_service(settings)


@app.command("mcp")
def mcp_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE...", help="Graph documents to load and start (.json, .yaml or .yml)."
        ),
    ] = None,
    token_env: Annotated[
        str,
        typer.Option(
            help="Environment variable holding the operator token that control tools ask for "
            "(unset: they refuse). Never put the token itself on the command line."
        ),
    ] = "ARACHNE_MCP_TOKEN",  # noqa: S107  # (a variable's name, not a token)
    components: ComponentsOpt = None,
    lineage: LineageOpt = None,
    log_level: Annotated[
        str, typer.Option(help="Level of logs on stderr (INFO by default).")
    ] = "INFO",
) -> None:
    """Serve the query plane and execution controls as MCP tools on stdin/stdout (docs/mcp.md).

    Each document is loaded and started; the executions stop when the client disconnects.
    Service settings come from the environment, as for arachne serve.
    """
    level = log_level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise typer.BadParameter(
            f"{log_level!r}; use DEBUG, INFO, WARNING or ERROR", param_hint="--log-level"
        )
    try:
        from arachne.server.mcp import serve_mcp
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "mcp":
            raise
        err.print(
            "[red]error:[/] arachne mcp needs the mcp package: "
            "pip install 'arachne-runtime\\[mcp]' (or uv add 'arachne-runtime\\[mcp]')",
            highlight=False,
        )
        raise typer.Exit(2) from None
    from arachne.cli.info import load_registry

    with _logging(level):
        status = _guarded(
            lambda: serve_mcp(
                files or [],
                load_registry(components or []),
                token_env=token_env,
                log_level=level,  # type: ignore[arg-type]  # (checked above)
                lineage=lineage,
            )
        )
    raise typer.Exit(status)


@app.command()
def sim(
    file: Annotated[Path, typer.Argument(help="The graph document (.json, .yaml or .yml).")],
    seeds: Annotated[int, typer.Option(min=1, help="Seeds to run: 0, 1, ... N-1.")] = 100,
    seed: Annotated[
        int | None, typer.Option(help="Run this one seed (the replay a failure prints).")
    ] = None,
    faults: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Probability a fault point fires when reached.")
    ] = 0.0,
    crashes: Annotated[
        bool, typer.Option("--crashes", help="Let nodes crash before a value (node.crash).")
    ] = False,
    mode: Annotated[
        str, typer.Option(help="liveness (faults capped per run) or safety (no cap).")
    ] = "liveness",
    twice: Annotated[
        bool, typer.Option("--twice", help="Run each seed twice and compare the traces.")
    ] = False,
    inject: Annotated[
        list[str] | None,
        typer.Option(help="A value for an input, NODE:PORT=JSON (repeatable), fed every run."),
    ] = None,
    components: ComponentsOpt = None,
) -> None:
    """Run a graph document under deterministic simulation over many seeds (docs/simulation.md)."""
    from arachne.cli.info import load_registry
    from arachne.cli.sim import SimOptions, sim_document

    if mode not in ("liveness", "safety"):
        raise typer.BadParameter(f"{mode!r}; use liveness or safety", param_hint="--mode")
    options = SimOptions(
        seeds=seeds,
        seed=seed,
        faults=faults,
        crashes=crashes,
        mode=mode,  # type: ignore[arg-type]  # (checked above)
        twice=twice,
        injects=inject or [],
    )
    with _logging("CRITICAL"):  # (each failure is in the report, with its replay)
        status = _guarded(
            lambda: sim_document(file, options, load_registry(components or []), sys.stdout)
        )
    raise typer.Exit(status)


@app.command()
def query(
    kind: Annotated[
        str,
        typer.Argument(
            help=(
                "executions, or one of topology, flow, load, backpressure, lineage, taints, "
                "primitives, watermarks."
            )
        ),
    ],
    execution_id: Annotated[
        str | None, typer.Argument(metavar="[EXECUTION]", help="The execution to ask about.")
    ] = None,
    url: Annotated[
        str, typer.Option(help="The service's address (arachne serve, or run --dashboard).")
    ] = "http://127.0.0.1:5006",
    node: Annotated[
        str | None, typer.Option(help="With lineage: the node whose outputs to explain.")
    ] = None,
    last: Annotated[int, typer.Option(min=1, max=1024, help="With lineage: how many.")] = 10,
    key_env: Annotated[
        str,
        typer.Option(help="Environment variable holding the service's API key, if it wants one."),
    ] = "ARACHNE_API_KEY",
) -> None:
    """Print one query-plane snapshot of a running service's execution as JSON."""
    import os

    from arachne.cli.query import query as ask

    def action() -> int:
        text = ask(
            kind, execution_id, url=url, node=node, last=last, environ=os.environ, key_env=key_env
        )
        sys.stdout.write(text + "\n")
        return 0

    raise typer.Exit(_guarded(action))


@app.command()
def top(
    endpoint: Annotated[
        str,
        typer.Argument(
            help="A run's metrics: a URL, or PORT / HOST:PORT (for http://HOST:PORT/metrics, "
            "HOST 127.0.0.1 by default)."
        ),
    ],
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between two refreshes.")] = 1.0,
    iterations: Annotated[
        int | None,
        typer.Option(
            "--iterations", "-n", min=1, help="Stop after N frames (default: until the run ends)."
        ),
    ] = None,
) -> None:
    """Watch a run started with --metrics-port: rates, latency, queues and backpressure."""
    raise typer.Exit(_guarded(lambda: _top(endpoint, interval, iterations)))


def _top(endpoint: str, interval: float, iterations: int | None) -> int:
    """Show the view of each execution ``endpoint`` serves, every ``interval`` seconds.

    On a terminal the view is redrawn in place; into a pipe or a file each frame is printed
    after the previous one. When the endpoint stops answering, the run has ended: exit 0.
    """
    import time
    import urllib.error
    import urllib.request

    from rich.console import Group
    from rich.live import Live

    from arachne.observability.top import Frame, TopView, read_metrics

    url = _metrics_url(endpoint)
    views: dict[str, TopView] = {}

    def frame() -> Group:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310  # http(s) only
            scrapes = read_metrics(response.read().decode())
        if not scrapes:
            raise ValueError(f"{url} answers but serves no Arachne execution")
        now = time.monotonic()
        frames: list[Frame] = []
        for scrape in scrapes:
            title = " · ".join(filter(None, (scrape.graph, scrape.stats.id)))
            view = views.setdefault(scrape.stats.id, TopView(title))
            frames.append(view.update(scrape.stats, now=now, backpressure=scrape.backpressure))
        return Group(*frames)

    try:
        first = frame()
    except urllib.error.HTTPError as exc:
        raise ValueError(
            f"{url} answered {exc.code} {exc.reason}; give a run's /metrics URL"
        ) from None
    except OSError as exc:
        raise ValueError(
            f"nothing answers at {url} ({getattr(exc, 'reason', exc)}); start a run that serves "
            "its metrics, e.g. arachne run DOC --metrics-port 9100, then: arachne top 9100"
        ) from None
    live = Live(first, console=out, auto_refresh=False) if out.is_terminal else None
    if live is None:
        out.print(first)
    shown = 1
    try:
        with live if live is not None else contextlib.nullcontext():
            while iterations is None or shown < iterations:
                time.sleep(interval)
                try:
                    current = frame()
                except OSError:  # the run ended and took its endpoint with it
                    err.print(f"{url} stopped answering: the run has ended", highlight=False)
                    return 0
                if live is not None:
                    live.update(current, refresh=True)
                else:
                    out.print(current)
                shown += 1
    except KeyboardInterrupt:
        return 0
    return 0


def _metrics_url(endpoint: str) -> str:
    """Return the URL of the metrics ``endpoint`` names (a URL, PORT or HOST:PORT)."""
    if endpoint.isdigit():
        endpoint = f"127.0.0.1:{endpoint}"
    if "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    scheme, _, rest = endpoint.partition("://")
    if scheme not in ("http", "https"):
        raise ValueError(f"{endpoint!r}: give an http:// URL, a PORT or HOST:PORT")
    return endpoint if "/" in rest else f"{endpoint}/metrics"


@app.command()
def validate(
    file: FileArg,
    as_json: JsonOpt = False,
    components: ComponentsOpt = None,
    allow_code: AllowCodeOpt = False,
) -> None:
    """Check a graph document and print its topology (inputs, outputs, order)."""
    from arachne.cli import info

    raise typer.Exit(
        _guarded(
            lambda: info.validate(
                file, out, as_json=as_json, modules=components or (), allow_code=allow_code
            )
        )
    )


@app.command()
def dot(
    file: FileArg,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    components: ComponentsOpt = None,
    allow_code: AllowCodeOpt = False,
) -> None:
    """Print the graph in Graphviz DOT (render with: dot -Tsvg)."""

    def write() -> int:
        from arachne.cli import info

        text = info.dot(file, components or (), allow_code=allow_code)
        if output is None:
            sys.stdout.write(text + "\n")
        else:
            output.write_text(text + "\n", encoding="utf-8")
        return 0

    raise typer.Exit(_guarded(write))


@app.command()
def manifest(
    file: FileArg,
    digest: Annotated[
        bool, typer.Option("--digest", help="Print only the manifest's SHA-256.")
    ] = False,
    components: ComponentsOpt = None,
    allow_code: AllowCodeOpt = False,
) -> None:
    """Print the graph's manifest: nodes, routes and edges as sorted JSON, the same every time.

    Its SHA-256 (--digest) changes exactly when the graph does: components, config, ports,
    schemas, flow policies. Diff two with any text diff.
    """

    def write() -> int:
        from arachne.cli import info

        text = info.manifest(file, components or (), allow_code=allow_code, digest=digest)
        sys.stdout.write(text + "\n")
        return 0

    raise typer.Exit(_guarded(write))


@app.command("diff")
def diff_graphs(
    old: FileArg,
    new: Annotated[
        Path,
        typer.Argument(help="The newer graph document, or a manifest `arachne manifest` wrote."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 if a change loses a node's saved state."),
    ] = False,
    components: ComponentsOpt = None,
    allow_code: AllowCodeOpt = False,
) -> None:
    """Print what changed between two graphs: nodes, routes and edges, renames included.

    Either side may be a graph document or a manifest saved with `arachne manifest`. A
    change a stateful node's saved state cannot survive (the node removed, its component or
    a schema changed) is marked: a run checkpointed with OLD would not resume with NEW.
    """

    def write() -> int:
        from arachne.cli import info

        made = info.diff(old, new, components or (), allow_code=allow_code)
        if as_json:
            sys.stdout.write(json.dumps(made.to_dict(), indent=2, sort_keys=True) + "\n")
        else:
            sys.stdout.write(made.text() + "\n")
        return 1 if check and made.flagged else 0

    raise typer.Exit(_guarded(write))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the graph document format."""
    from arachne.cli import info

    sys.stdout.write(info.schema() + "\n")


@app.command()
def primitives(
    name: Annotated[
        str | None, typer.Argument(help="Show this primitive's page: options, failure rows.")
    ] = None,
    as_json: JsonOpt = False,
    docs: Annotated[
        Path | None, typer.Option(help="Write every primitive's page and an index here.")
    ] = None,
    check: Annotated[
        Path | None,
        typer.Option(help="Check the pages here match the contracts (exit 1 if not)."),
    ] = None,
) -> None:
    """List the primitives (contract, layer, maturity), show one, or write their docs pages."""
    from arachne.cli.primitives import primitives as report

    raise typer.Exit(
        _guarded(lambda: report(sys.stdout, name=name, as_json=as_json, docs=docs, check=check))
    )


@app.command()
def components(
    component: Annotated[
        str | None,
        typer.Argument(
            help="Show this one: ports, config options, defaults. Or 'add' (a code "
            "component's JSON file) or 'remove' (an added code component's id)."
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Argument(help="For add: the JSON file; for remove: the id.")
    ] = None,
    as_json: JsonOpt = False,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    modules: ComponentsOpt = None,
    allow_code: AllowCodeOpt = False,
) -> None:
    """List the registered components (built-ins, installed packages', added), or show one.

    `arachne components add FILE --allow-code` checks a code component's JSON definition
    and keeps it in .arachne/components (or $ARACHNE_COMPONENTS_DIR) for later runs;
    `arachne components remove ID` takes it out.
    """
    from arachne.cli import info

    if component in ("add", "remove"):
        raise typer.Exit(_guarded(lambda: _add_or_remove(component, target, allow_code)))
    if target is not None:
        raise typer.BadParameter(
            f"unexpected {target!r}; give one component id, or add FILE / remove ID"
        )
    raise typer.Exit(
        _guarded(
            lambda: info.components(
                out,
                as_json=as_json,
                category=category,
                component=component,
                modules=modules or (),
                allow_code=allow_code,
            )
        )
    )


@app.command()
def demo(
    count: Annotated[int, typer.Option(min=1, max=1_000_000, help="Orders to generate.")] = 12,
) -> None:
    """Run the bundled demo graph over generated orders and show what it did."""
    from arachne.cli.demo import run_demo

    with _logging("WARNING"):  # the big orders print as JSON lines; only rejections logged
        status = _guarded(lambda: run_demo(out, err, count))
    raise typer.Exit(status)


@new_app.command("node")
def new_node(
    name: Annotated[str, typer.Argument(help="The node's name, e.g. OrderParser.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to write.")] = Path(),
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Write NAME's module (a Node subclass) and a passing test for it."""
    raise typer.Exit(_guarded(lambda: _new("node", name, directory, force)))


@new_app.command("subgraph")
def new_subgraph(
    name: Annotated[str, typer.Argument(help="The subgraph's name, e.g. ingest.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to write.")] = Path(),
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Write NAME's module (a Subgraph builder) and a passing test for it."""
    raise typer.Exit(_guarded(lambda: _new("subgraph", name, directory, force)))


def _new(kind: str, name: str, directory: Path, force: bool) -> int:
    from arachne.cli.scaffold import scaffold

    for path in scaffold(kind, name, directory, force=force):
        out.print(f"wrote {path}", highlight=False)
    return 0


def _add_or_remove(action: str, target: str | None, allow_code: bool) -> int:
    from arachne.cli import code
    from arachne.cli.info import load_registry

    if target is None:
        what = "FILE (a code component's JSON definition)" if action == "add" else "ID"
        raise ValueError(f"arachne components {action} needs {what}")
    if action == "remove":
        path = code.remove(target)
        out.print(f"removed {target} ({path})", highlight=False)
        return 0
    if not allow_code:
        raise ValueError(
            "adding a code component builds its source (third-party code): confirm with "
            "--allow-code, which later runs need too"
        )
    registry = load_registry(allow_code=True)
    component_id, copy, replaced = code.add_component(registry, Path(target))
    done = "replaced" if replaced else "added"
    out.print(f"[green]{done}[/] {component_id} ({copy})", highlight=False)
    out.print("run graphs that use it with --allow-code", highlight=False)
    return 0


def _guarded(action: Callable[[], int | None]) -> int:
    """Run ``action``; turn the errors a user can fix into a message and exit status 2."""
    try:
        return action() or 0
    except (ArachneError, ValueError, OSError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return 2


class _CliHandler(RichHandler):
    """The handler the command puts on the ``arachne`` logger (so it can find and replace it)."""

    arachne_cli = "rich"  # how the live display finds it (cli.run._holding)


class _PlainCliHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The same, for a stderr that is not a terminal: one unwrapped line per record."""

    arachne_cli = "plain"


@contextlib.contextmanager
def _logging(level: str, *, json_lines: bool = False) -> Iterator[None]:
    """Send Arachne's logs (node logs, skipped failures) to stderr at ``level`` meanwhile.

    Set on the ``arachne`` logger itself, so the command behaves the same when the root
    logger is already configured (inside tests, say), and put back as it was afterwards. On
    a terminal the lines are laid out by rich; into a pipe or a file each record is one
    plain line, never wrapped (and about ten times cheaper to write). With ``json_lines``
    each record is one JSON object with its execution, node and trace ids.
    """
    logger = logging.getLogger("arachne")
    before = (logger.level, logger.propagate, list(logger.handlers))
    for old in [h for h in logger.handlers if isinstance(h, _CliHandler | _PlainCliHandler)]:
        logger.removeHandler(old)
    handler: logging.Handler
    if json_lines:
        from arachne.observability.logs import JsonLogFormatter, LogContextFilter

        handler = _PlainCliHandler(sys.stderr)
        handler.setFormatter(JsonLogFormatter())
        handler.addFilter(LogContextFilter())
    elif err.is_terminal:
        handler = _CliHandler(console=err, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = _PlainCliHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]
        for kept in before[2]:
            if kept not in logger.handlers:
                logger.addHandler(kept)


def main() -> None:
    """Entry point of the ``arachne`` script."""
    app()
