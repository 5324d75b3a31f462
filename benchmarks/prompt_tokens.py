"""What the prompt spends its tokens on: the chat prompt of every Spider dev database, counted
with the embedded model's tokenizer, for xander's prompt and a few shorter variants.

    python benchmarks/prompt_tokens.py [--name prompt_tokens]

Only the vocabulary is loaded (``llama_cpp.Llama(vocab_only=True)``): no inference.  The chat
text is written and tokenized by xander's llama.cpp backend's own ``chat_prompt`` and
``tokenize``, so ``today`` is the count xander's prompt has (checked against ``build_prompt``).
Tokens per question = the database's prefix (system text and schema) + the question's part.
EX is not measured here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xander.bench.datasets import load
from xander.bench.report import cpu_name
from xander.bench.runner import code_commit
from xander.engines import open_engine
from xander.engines.profile import dialect_profile
from xander.lm.base import chatml
from xander.lm.embedded import DEFAULT_EMBEDDED, ensure_embedded
from xander.lm.llamacpp import LlamaCppLM
from xander.prompts import SQL_FENCE, SYSTEM, build_prompt, schema_head, user_message
from xander.schema import Column, Schema
from xander.task import Task

DATA = Path(os.environ.get("XANDER_DATA", ROOT.parent / "shared" / "data")) / "spider"
SHORT_SYSTEM = "You translate questions about a database into one correct {dialect} SELECT query."
SHORT_ROW_CHARS = 20
NO_TYPE = " "  # a type that renders as nothing: "  Name" (the line is stripped), keys kept


class VocabLM:
    """The embedded model's vocabulary with xander's llama.cpp backend's text methods."""

    def __init__(self, path: Path) -> None:
        import llama_cpp

        self._llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        self._template = self._llm.metadata.get("tokenizer.chat_template", "")

    def chat_prompt(self, system: str, user: str, assistant_prefix: str = "") -> str:
        return LlamaCppLM.chat_prompt(self, system, user, assistant_prefix)  # type: ignore[arg-type]

    def tokenize(self, text: str) -> list[int]:
        return LlamaCppLM.tokenize(self, text)  # type: ignore[arg-type]

    def count(self, text: str) -> int:
        return len(self.tokenize(text))


def rows(schema: Schema, n: int) -> Schema:
    return Schema(tuple(replace(t, example_rows=t.example_rows[:n]) for t in schema.tables),
                  schema.dialect)


def short_rows(schema: Schema) -> Schema:
    """Example values longer than SHORT_ROW_CHARS cut to that many characters plus '...'."""
    def cut(v: object) -> object:
        return v[:SHORT_ROW_CHARS] + "..." if isinstance(v, str) and len(v) > SHORT_ROW_CHARS \
            else v
    return Schema(tuple(replace(t, example_rows=tuple(tuple(cut(v) for v in r)
                                                      for r in t.example_rows))
                        for t in schema.tables), schema.dialect)


def no_types(schema: Schema) -> Schema:
    return Schema(tuple(replace(t, columns=tuple(Column(c.name, NO_TYPE, c.samples)
                                                 for c in t.columns))
                        for t in schema.tables), schema.dialect)


#: variant -> (schema transform, system text)
VARIANTS = {
    "today": (lambda s: s, SYSTEM),
    "rows-1": (lambda s: rows(s, 1), SYSTEM),
    "rows-0": (lambda s: rows(s, 0), SYSTEM),
    "no-types": (no_types, SYSTEM),
    "short-rows": (short_rows, SYSTEM),
    "short-system": (lambda s: s, SHORT_SYSTEM),
    "combo": (lambda s: no_types(short_rows(rows(s, 1))), SHORT_SYSTEM),
}
COMBO = "rows-1 + short-rows + no-types + short-system"


def split_counts(lm: VocabLM, schema: Schema, system: str, questions: list[str]) -> tuple[
        int, list[int]]:
    """Prefix tokens (chat text up to the question) and each question's part."""
    dialect = dialect_profile(schema.dialect).display_name
    sys_text = system.format(dialect=dialect)
    shown = schema_head(schema, questions[0] if questions else "")
    head = shown.text
    text = lm.chat_prompt(sys_text, user_message(schema, Task("?"), head=shown), SQL_FENCE)
    cut = text.index(head) + len(head)
    prefix = lm.count(text[:cut])
    return prefix, [lm.count(lm.chat_prompt(sys_text, user_message(schema, Task(q), head=shown),
                                            SQL_FENCE)[cut:]) for q in questions]


def cpu_model() -> str:
    return f"{cpu_name() or 'unknown CPU'}, {os.cpu_count()} cores"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", default="prompt_tokens")
    args = ap.parse_args()
    start = time.perf_counter()
    commit = code_commit(ROOT)
    model = ensure_embedded(DEFAULT_EMBEDDED)
    lm = VocabLM(model)
    examples, _ = load(DATA)
    by_db: dict[str, list] = defaultdict(list)
    for ex in examples:
        by_db[ex.db_id].append(ex)
    per_q: dict[str, list[int]] = {v: [] for v in VARIANTS}
    table_rows, checked, mismatched = [], 0, 0
    parts_total = defaultdict(int)
    for db_id, exs in sorted(by_db.items()):
        engine = open_engine(exs[0].db_path)
        try:
            schema = Schema.from_engine(engine, samples=3)
        finally:
            engine.close()
        questions = [ex.question for ex in exs]
        counts = {}
        for v, (transform, system) in VARIANTS.items():
            prefix, qs = split_counts(lm, transform(schema), system, questions)
            counts[v] = (prefix, qs)
            per_q[v] += [prefix + q for q in qs]
        for ex in exs[:5]:  # today's count is xander's own prompt's
            checked += 1
            n = len(build_prompt(lm, schema, Task(ex.question)).tokens)  # type: ignore[arg-type]
            mismatched += n != counts["today"][0] + counts["today"][1][exs.index(ex)]
        dialect = dialect_profile(schema.dialect).display_name
        system = lm.count(chatml(SYSTEM.format(dialect=dialect), "")
                          .split("<|im_start|>user")[0])
        example = counts["today"][0] - counts["rows-0"][0]
        ddl = counts["today"][0] - system - example
        question = statistics.median(counts["today"][1])
        whole = counts["today"][0] + question
        for k, x in (("system", system), ("ddl", ddl), ("rows", example),
                     ("question", question)):
            parts_total[k] += x * len(exs)
        table_rows.append((db_id, len(schema.tables), sum(len(t.columns) for t in schema.tables),
                           len(exs), {v: c[0] + statistics.median(c[1]) for v, c in counts.items()},
                           [x / whole for x in (system, ddl, example, question)]))
    names = list(VARIANTS)
    med = {v: statistics.median(per_q[v]) for v in names}
    n_q = len(per_q["today"])
    lines = [f"# Prompt tokens: {args.name}", "",
             f"- command: `python benchmarks/prompt_tokens.py {' '.join(sys.argv[1:])}`",
             f"- model: {DEFAULT_EMBEDDED}, {model.name} (tokenizer only, `vocab_only=True`; no inference)",
             (f"- machine: {cpu_model()}; commit: {commit}; "
             f"{time.perf_counter() - start:.1f} s"),
             (f"- {len(by_db)} Spider dev databases, {n_q} questions; schema as "
             "`Schema.from_engine(engine, samples=3)`, chat text by xander's llama.cpp backend"),
             (f"- `today` checked against `build_prompt` on {checked} questions (5 per database): "
             f"{checked - mismatched} equal, {mismatched} differ"),
             ("- variants: `rows-1`/`rows-0` 1/no example rows per table; `no-types` column "
             "types dropped (keys kept); `short-rows` text values cut to "
             f"{SHORT_ROW_CHARS} characters + `...` (instead of 40); `short-system` the system "
             f"text as one sentence ({SHORT_SYSTEM!r}); `combo` {COMBO}"),
             ("- per database: tokens of the whole prompt with the database's median question; "
             "shares are of `today` (system = system turn with its chat tags; DDL = the user "
             "turn's schema header and CREATE TABLE statements; rows = the example-row "
             "comments; question = the question, the instruction line, the assistant opener "
             "and fence)"), "",
             "| database | tables | columns | questions | " + " | ".join(names)
             + " | system | DDL | rows | question |",
             "|---|---:|---:|---:|" + "---:|" * (len(names) + 4)]
    for db_id, nt, nc, nq, toks, shares in table_rows:
        lines.append(f"| {db_id} | {nt} | {nc} | {nq} | "
                     + " | ".join(f"{toks[v]:.0f}" for v in names) + " | "
                     + " | ".join(f"{s:.0%}" for s in shares) + " |")
    total = sum(parts_total.values())
    lines.append(f"| **median over {n_q} questions** | | | | "
                 + " | ".join(f"**{med[v]:.0f}**" for v in names) + " | "
                 + " | ".join(f"{parts_total[k] / total:.0%}"
                              for k in ("system", "ddl", "rows", "question"))
                 + " |")
    lines += ["", "| variant | median tokens | vs today |", "|---|---:|---:|"]
    for v in names:
        lines.append(f"| {v} | {med[v]:.0f} | {med[v] / med['today'] - 1:+.0%} |")
    share = {k: parts_total[k] / total for k in parts_total}
    lines += ["", (
        f"Where the tokens go: the example rows are the largest part ({share['rows']:.0%} of "
        f"all prompt tokens over the {n_q} questions), then the CREATE TABLE text "
        f"({share['ddl']:.0%}); the system turn ({share['system']:.0%}) and the question's part "
        f"({share['question']:.0%}) are small.  One example row instead of three saves "
        f"{1 - med['rows-1'] / med['today']:.0%} of the median prompt, no rows "
        f"{1 - med['rows-0'] / med['today']:.0%}; dropping types and shortening the system text "
        f"save about {1 - med['no-types'] / med['today']:.0%} and "
        f"{1 - med['short-system'] / med['today']:.0%} each; cutting values to "
        f"{SHORT_ROW_CHARS} characters saves almost nothing (few Spider values are longer, and "
        "the added `...` can cost a token).  Worth an EX run: `rows-1`, `rows-0` and `combo` "
        "(the big savings; the rows are what may carry value spellings the model copies), and "
        "`no-types` + `short-system` together as the cheap, low-risk pair.  EX is not measured "
        "by this script: a later run compares EX on the full dev set.")]
    out_dir = ROOT / "benchmarks" / "results" / args.name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
