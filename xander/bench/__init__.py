"""Benchmarks: Spider / BIRD questions (``datasets``) and their official metrics (``metrics``)."""

from __future__ import annotations

from xander.bench.datasets import (
    Example,
    Skipped,
    filter_examples,
    load,
    load_bird,
    load_spider,
    sample,
    spider_hardness,
)
from xander.bench.metrics import (
    ExecOutcome,
    bird_ex,
    bird_rves,
    bird_soft_f1,
    bird_time_ratio,
    evaluate_prediction,
    gold_has_order_by,
    remove_distinct,
    rves_reward,
    rves_score,
    spider_exec_match,
    spider_prepare,
)

__all__ = [
    "Example", "ExecOutcome", "Skipped", "bird_ex", "bird_rves", "bird_soft_f1", "bird_time_ratio",
    "evaluate_prediction", "filter_examples", "gold_has_order_by", "load", "load_bird",
    "load_spider", "remove_distinct", "rves_reward", "rves_score", "sample", "spider_exec_match",
    "spider_hardness", "spider_prepare",
]
