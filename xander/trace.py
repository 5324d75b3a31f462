"""The search tree, kept as a networkx graph: exportable as JSON and printable for humans."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx

from xander.diagnostic import Diagnostic


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
        self.graph = nx.DiGraph()
        self.listener = listener

    def add(self, node: Node, status: str = "open", **attrs: Any) -> None:
        data = {"text": node.text, "logprob": round(node.logprob, 4), "depth": node.depth,
                "status": status, **attrs}
        self.graph.add_node(node.id, **data)
        if node.parent >= 0:
            self.graph.add_edge(node.parent, node.id)
        if self.listener is not None:
            self.listener({"event": "node", "id": node.id, "parent": node.parent, **data})

    def mark(self, node_id: int, status: str, **attrs: Any) -> None:
        if node_id in self.graph:
            self.graph.nodes[node_id].update(status=status, **attrs)
            if self.listener is not None:
                self.listener({"event": "mark", "id": node_id, "status": status, **attrs})

    def prune(self, node: Node, diags: list[Diagnostic]) -> None:
        self.add(node, "pruned", reason="; ".join(str(d) for d in diags))

    def to_json(self) -> dict[str, Any]:
        return nx.node_link_data(self.graph, edges="edges")

    def explain(self, max_lines: int = 200) -> str:
        """An indented tree of the interesting nodes (branch points, pruned, complete)."""
        g = self.graph
        if not g:
            return "(empty search tree)"
        lines: list[str] = []

        def show(n: int, indent: int) -> None:
            if len(lines) >= max_lines:
                return
            data = g.nodes[n]
            kids = list(g.successors(n))
            interesting = data["status"] != "expanded" or len(kids) != 1
            if interesting:
                extra = f"  <- {data['reason']}" if data.get("reason") else ""
                lines.append(f"{'  ' * indent}[{data['status']}] {data['logprob']:+.2f} "
                             f"{data['text'][-70:]!r}{extra}")
            for k in kids:
                show(k, indent + 1 if interesting else indent)

        for root in (n for n in g if g.in_degree(n) == 0):
            show(root, 0)
        return "\n".join(lines)
