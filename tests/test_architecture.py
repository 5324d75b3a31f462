"""The house keeps its shape (ARCHITECTURE.md): imports point down the floors, never up, and the
heavy runtimes load only inside the rooms that need them."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xander"

#: Rooms by floor, ground first.  A room may import rooms on its own floor or below.
FLOORS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "diagnostic", "paths", "config", "sqlparse", "trace", "task", "results",
               "cue_words", "engines", "lm", "scoring", "embed"}),
    frozenset({"schema", "safety", "grammar"}),
    frozenset({"normalize", "linking", "values", "prompts", "cues", "focus",
               "ties", "conditions", "scalar", "review"}),
    frozenset({"checkers", "repair", "select"}),
    frozenset({"search", "greedy"}),
    frozenset({"api"}),
    frozenset({"cli", "shell", "bench", "service"}),
)
FLOOR = {room: i for i, rooms in enumerate(FLOORS) for room in rooms}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports() -> dict[str, set[str]]:
    """Module name -> the xander modules it imports (``from xander import x`` counts as x)."""
    out: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        module = ".".join(parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "xander":
                    out[module] |= {f"xander.{a.name}" for a in node.names}
                elif node.module.startswith("xander."):
                    out[module].add(node.module)
            elif isinstance(node, ast.Import):
                out[module] |= {a.name for a in node.names if a.name.startswith("xander.")}
    return out


def test_every_room_has_a_floor():
    rooms = {_room(m) for m in _imports()} - {""}
    assert rooms <= set(FLOOR), f"rooms without a floor in ARCHITECTURE.md: {rooms - set(FLOOR)}"


def test_no_import_points_up():
    upward = sorted(
        f"{module} -> {dep}"
        for module, deps in _imports().items() if _room(module)
        for dep in deps
        if _room(dep) and FLOOR[_room(dep)] > FLOOR[_room(module)]
    )
    assert not upward, "imports that point up a floor:\n" + "\n".join(upward)


def test_the_ground_floor_knows_nothing_above_it():
    for module, deps in _imports().items():
        if _room(module) in {"engines", "lm"}:
            above = {d for d in deps if FLOOR.get(_room(d), 0) > 0}
            assert not above, (module, above)


def test_heavy_runtimes_load_only_when_used():
    code = ("import sys, xander, xander.api, xander.cli, xander.search, xander.bench.runner; "
            "heavy = {'vllm', 'torch', 'llama_cpp', 'transformers', 'psycopg', 'fastapi'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
