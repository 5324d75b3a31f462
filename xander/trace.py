"""The search tree: exportable as JSON (networkx's node-link form) and printable for humans.

The tree is kept in plain dictionaries and handed out as a networkx graph on demand
(``Trace.graph``): importing networkx costs a fresh ``xander ask`` about 0.15-0.25 s, more than
the rest of a warm answer's Python start, and the search itself only adds nodes and marks them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xander.diagnostic import Diagnostic

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True, slots=True)
class Node:
    """A partial (or complete) query in the search tree.

    ``tokens`` are the SQL tokens generated after the prompt; ``logprob`` is their summed
    log-probability (the paper's product of token probabilities, in log space).
    """

    id: int
    parent: int
    tokens: tuple[int, ...]
    text: str
    logprob: float
    depth: int
    done: bool = False  # the query ends here (end of turn, closing fence or semicolon)


#: Told of every change to the tree as it happens (``xander.Xander.ask(on_event=...)``):
#: ``{"event": "node", "id", "parent", "text", "logprob", "depth", "status", ...}`` when a node
#: is added, ``{"event": "mark", "id", "status", ...}`` when its status changes.
Listener = Callable[[dict[str, Any]], None]


class Trace:
    """Nodes with their status: open, expanded, pruned (with the diagnostic), complete."""

    def __init__(self, listener: Listener | None = None) -> None:
        self._nodes: dict[int, dict[str, Any]] = {}  # id -> data, in the order added
        self._kids: dict[int, dict[int, None]] = {}  # id -> children, in the order added
        self.listener = listener

    def _node(self, node_id: int) -> dict[str, Any]:
        if node_id not in self._nodes:
            self._nodes[node_id] = {}
            self._kids[node_id] = {}
        return self._nodes[node_id]

    def _edges(self) -> list[tuple[int, int]]:
        return [(u, v) for u, kids in self._kids.items() for v in kids]

    def add(self, node: Node, status: str = "open", **attrs: Any) -> None:
        data = {"text": node.text, "logprob": round(node.logprob, 4), "depth": node.depth,
                "status": status, **attrs}
        self._node(node.id).update(data)
        if node.parent >= 0:
            self._node(node.parent)
            self._kids[node.parent][node.id] = None
        if self.listener is not None:
            self.listener({"event": "node", "id": node.id, "parent": node.parent, **data})

    def mark(self, node_id: int, status: str, **attrs: Any) -> None:
        if node_id in self._nodes:
            self._nodes[node_id].update(status=status, **attrs)
            if self.listener is not None:
                self.listener({"event": "mark", "id": node_id, "status": status, **attrs})

    def prune(self, node: Node, diags: list[Diagnostic]) -> None:
        self.add(node, "pruned", reason="; ".join(str(d) for d in diags))

    @property
    def graph(self) -> nx.DiGraph:
        """The tree as a networkx ``DiGraph`` (built on each call: the search keeps growing it)."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(self._nodes.items())
        g.add_edges_from(self._edges())
        return g

    def to_json(self) -> dict[str, Any]:
        """networkx's node-link data of the tree (``nx.node_link_data(graph, edges="edges")``),
        written without importing networkx."""
        return {"directed": True, "multigraph": False, "graph": {},
                "nodes": [{**data, "id": n} for n, data in self._nodes.items()],
                "edges": [{"source": u, "target": v} for u, v in self._edges()]}

    def explain(self, max_lines: int = 200) -> str:
        """An indented tree of the interesting nodes (branch points, pruned, complete); a
        complete one with its score and, when the pool was grouped by results, its group (0 is
        the one chosen) and that group's share of the pool."""
        if not self._nodes:
            return "(empty search tree)"
        lines: list[str] = []

        def show(n: int, indent: int) -> None:
            if len(lines) >= max_lines:
                return
            data = self._nodes[n]
            kids = list(self._kids[n])
            interesting = data["status"] != "expanded" or len(kids) != 1
            if interesting:
                extra = f"  <- {data['reason']}" if data.get("reason") else ""
                lines.append(f"{'  ' * indent}[{data['status']}] {data['logprob']:+.2f} "
                             f"{data['text'][-70:]!r}{_pool_note(data)}{extra}")
            for k in kids:
                show(k, indent + 1 if interesting else indent)

        children = {v for _, v in self._edges()}
        for root in (n for n in self._nodes if n not in children):
            show(root, 0)
        return "\n".join(lines)


def _pool_note(data: dict[str, Any]) -> str:
    """`` (score -0.210, group 0: share 0.67)`` for a complete node the search scored."""
    if data.get("status") != "complete" or "score" not in data:
        return ""
    group = (f", group {data['group']}: share {data['share']:.2f}"
             if "group" in data and "share" in data else "")
    return f" (score {data['score']:+.3f}{group})"
