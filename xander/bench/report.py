"""Benchmark reports: a markdown table (overall and by difficulty), plots, and the failures.

``write_report(records, out_dir, title, header)`` writes ``report.md``, ``summary.json`` and
PNG plots (accuracy by difficulty per mode, time per question, accuracy vs time budget).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xander.bench.runner import summarize


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name as the kernel reports it (``""`` where it does not say): reports
    name it, since machines of one kind differ 2-3x in speed."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), "")


DIFFICULTY_ORDER = ["easy", "medium", "hard", "extra", "simple", "moderate", "challenging"]


def _modes(records: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["mode"] for r in records))


def _difficulties(records: Sequence[dict[str, Any]]) -> list[str]:
    found = {r.get("difficulty") or "" for r in records}
    return [d for d in DIFFICULTY_ORDER if d in found] + sorted(
        d for d in found if d and d not in DIFFICULTY_ORDER)


def by_difficulty(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, tuple[int, float]]]:
    """``{mode: {difficulty: (n, EX)}}`` over scored questions."""
    out: dict[str, dict[str, tuple[int, float]]] = {}
    for mode in _modes(records):
        for d in _difficulties(records):
            rs = [r for r in records if r["mode"] == mode and r.get("difficulty") == d
                  and r["correct"] is not None]
            if rs:
                out.setdefault(mode, {})[d] = (len(rs), sum(bool(r["correct"]) for r in rs)
                                               / len(rs))
    return out


def accuracy_vs_budget(records: Sequence[dict[str, Any]], mode: str,
                       budgets: Sequence[float]) -> list[float]:
    """EX if every answer that took longer than the budget counted as wrong."""
    rs = [r for r in records if r["mode"] == mode and r["correct"] is not None]
    if not rs:
        return [0.0 for _ in budgets]
    return [sum(bool(r["correct"]) and float(r.get("seconds") or 0) <= b for r in rs) / len(rs)
            for b in budgets]


def coverage(n_run: int, n_total: int, skipped: Sequence[dict[str, Any]]) -> str:
    """How many of a question file's questions a run covers, and why the others are missing
    (``skipped``: the runner's ``Skipped`` records as dicts).

    >>> coverage(972, 1034, [{"db_id": "wta_1", "reason": "database file missing: x"}] * 62)
    "972 of 1,034 questions (wta_1's database is missing; its 62 are skipped)"
    >>> coverage(200, 200, [])
    '200 questions'
    """
    if n_run == n_total:
        return f"{n_total:,} questions"
    why = []
    for db in dict.fromkeys(s["db_id"] for s in skipped):
        mine = [s for s in skipped if s["db_id"] == db]
        if all(s["reason"].startswith("database file missing") for s in mine):
            why.append(f"{db}'s database is missing; its {len(mine)} are skipped")
        else:
            why.append(f"{len(mine)} of {db} skipped: {mine[0]['reason']}")
    missing = n_total - n_run - len(skipped)
    if missing > 0:
        why.append(f"{missing} not run yet")
    return f"{n_run:,} of {n_total:,} questions" + (f" ({'; '.join(why)})" if why else "")


def markdown(records: Sequence[dict[str, Any]], title: str, header: str = "",
             max_failures: int = 40) -> str:
    summary = summarize(records)
    lines = [f"# {title}", "", header, "",
             ("| mode | n | EX | pool oracle | exec errors | median s/q (latency) "
              "| p90 s/q (latency) | mean s/q (latency) | LM steps/q | LM tokens/q | LM time "
              "| checker time |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for mode, s in summary.items():
        lines.append(
            f"| {mode} | {s['n']} | {s['ex']:.3f} | {s['oracle']:.3f} | {s['exec_error']:.3f} | "
            f"{s['median_s']:.2f} | {s['p90_s']:.2f} | {s['mean_s']:.2f} | "
            f"{s['expansions']:.0f} | {s['lm_tokens']:.0f} | {s['lm_share']:.1%} | "
            f"{s['checker_share']:.1%} |")
    if any(r.get("evidence") for r in records):  # BIRD: its two official metrics side by side
        lines += ["", "## BIRD metrics", "", "| mode | n | EX | Soft-F1 |", "|---|---:|---:|---:|"]
        lines += [f"| {mode} | {s['n']} | {s['ex']:.3f} | "
                  + ("-" if s["soft_f1"] is None else f"{s['soft_f1']:.3f}") + " |"
                  for mode, s in summary.items()]
    lines += calibration_lines(records)
    diffs = by_difficulty(records)
    levels = _difficulties(records)
    if levels:
        lines += ["", "## EX by difficulty", "",
                  "| mode | " + " | ".join(levels) + " |",
                  "|---|" + "---:|" * len(levels)]
        for mode, row in diffs.items():
            cells = [f"{row[d][1]:.3f} ({row[d][0]})" if d in row else "-" for d in levels]
            lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    gold_errors = [r for r in records if r["gold_error"]]
    if gold_errors:
        lines += ["", f"Gold queries that failed (not counted): {len(gold_errors)}"]
    lines += ["", "## Failures", ""]
    for mode in _modes(records):
        wrong = [r for r in records if r["mode"] == mode and r["correct"] is False]
        lines.append(f"### {mode}: {len(wrong)} wrong")
        for r in wrong[:max_failures]:
            diag = "; ".join(f"{d['checker']}/{d['code']}" for d in r.get("diagnostics") or [])
            lines += [
                f"- **{r['id']}** ({r['db_id']}, {r.get('difficulty') or '-'}) {r['question']}",
                f"  - gold: `{r['gold']}`",
                f"  - pred: `{' '.join((r['pred'] or '').split())}`",
            ]
            if r["exec_error"]:
                lines.append(f"  - error: {r['exec_error']}")
            if diag or r.get("repairs"):
                lines.append(f"  - checkers: {diag or '-'}; repairs: "
                             f"{'; '.join(r.get('repairs') or []) or '-'}")
        if len(wrong) > max_failures:
            lines.append(f"- ... {len(wrong) - max_failures} more in the JSONL file")
        lines.append("")
    return "\n".join(lines)


def _confident(records: Sequence[dict[str, Any]], mode: str) -> list[tuple[float, bool]]:
    return [(float(r["confidence"]), bool(r["correct"])) for r in records
            if r["mode"] == mode and r["correct"] is not None and "confidence" in r]


def deciles(pairs: Sequence[tuple[float, bool]]) -> list[tuple[float, float, int, float]]:
    """EX per confidence decile: (low, high, questions, EX), lowest confidence first.

    >>> deciles([(0.1, False), (0.9, True)] * 5)[0], deciles([(0.1, False), (0.9, True)] * 5)[-1]
    ((0.1, 0.1, 1, 0.0), (0.9, 0.9, 1, 1.0))
    """
    ranked = sorted(pairs)
    out = []
    for i in range(10):
        part = ranked[len(ranked) * i // 10: len(ranked) * (i + 1) // 10]
        if part:
            out.append((part[0][0], part[-1][0], len(part), sum(c for _, c in part) / len(part)))
    return out


def calibration_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    """Coverage and EX at confidence thresholds, EX at 80% coverage, EX per decile."""
    from xander.select import coverage_table

    lines: list[str] = []
    for mode in _modes(records):
        pairs = _confident(records, mode)
        if not pairs:
            continue
        table = coverage_table(pairs, (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
                               target=0.8)
        lines += ["", f"## Confidence: {mode}", "",
                  (f"EX at 80% coverage: **{table.target_accuracy or 0:.3f}** (answers with "
                   f"confidence >= {table.target_threshold or 0:.3f})"), "",
                  "| min confidence | answered | coverage | EX of the answered |",
                  "|---:|---:|---:|---:|"]
        lines += [f"| {r.threshold:.1f} | {r.answered} | {r.coverage:.3f} | "
                  f"{'-' if r.accuracy is None else f'{r.accuracy:.3f}'} |" for r in table.rows]
        lines += ["", "| decile | confidence | questions | EX |", "|---:|---|---:|---:|"]
        lines += [f"| {i + 1} | {lo:.3f}-{hi:.3f} | {n} | {ex:.3f} |"
                  for i, (lo, hi, n, ex) in enumerate(deciles(pairs))]
    return lines


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plots(records: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    modes = _modes(records)
    written = []
    diffs = by_difficulty(records)
    levels = _difficulties(records)
    if levels:
        fig, ax = plt.subplots(figsize=(7, 4))
        width = 0.8 / max(1, len(modes))
        for i, mode in enumerate(modes):
            ys = [diffs.get(mode, {}).get(d, (0, 0.0))[1] for d in levels]
            ax.bar([x + i * width for x in range(len(levels))], ys, width, label=mode)
        ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(levels))], levels)
        ax.set_ylabel("execution accuracy")
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title("Accuracy by difficulty")
        written.append(_save(fig, out_dir / "accuracy_by_difficulty.png"))
    fig, ax = plt.subplots(figsize=(7, 4))
    data = [[float(r.get("seconds") or 0) for r in records if r["mode"] == m] for m in modes]
    ax.boxplot(data, tick_labels=modes, showfliers=True)
    ax.set_ylabel("seconds per question")
    ax.set_title("Time per question")
    written.append(_save(fig, out_dir / "time_per_question.png"))
    longest = max((float(r.get("seconds") or 0) for r in records), default=1.0)
    budgets = [longest * i / 40 for i in range(41)]
    fig, ax = plt.subplots(figsize=(7, 4))
    for m in modes:
        ax.plot(budgets, accuracy_vs_budget(records, m, budgets), label=m)
    ax.set_xlabel("time budget per question (s)")
    ax.set_ylabel("execution accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Accuracy vs time budget")
    written.append(_save(fig, out_dir / "accuracy_vs_budget.png"))
    confident = {m: _confident(records, m) for m in modes}
    if any(confident.values()):
        fig, ax = plt.subplots(figsize=(7, 4))
        for m, pairs in confident.items():
            if pairs:
                ds = deciles(pairs)
                ax.plot([(lo + hi) / 2 for lo, hi, _, _ in ds], [ex for *_, ex in ds], "o-",
                        label=m)
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_xlabel("confidence (decile midpoint)")
        ax.set_ylabel("execution accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title("Calibration: EX per confidence decile")
        written.append(_save(fig, out_dir / "calibration.png"))
    return written


def write_report(records: Sequence[dict[str, Any]], out_dir: Path, title: str,
                 header: str = "", with_plots: bool = True) -> Path:
    """Write ``report.md``, ``summary.json`` and the plots into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(
        {"summary": summarize(records), "by_difficulty": by_difficulty(records)}, indent=1))
    text = markdown(records, title, header)
    if with_plots:
        images = plots(records, out_dir)
        text += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in images) + "\n"
    path = out_dir / "report.md"
    path.write_text(text)
    return path
