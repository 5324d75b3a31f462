"""The SQL grammar: load it, specialise it to one schema, export it, check prefixes against it.

Three stages are kept apart, as in xgrammar and llguidance, in three modules:

1. **Grammar text** (``text``; Lark syntax, package data ``grammars/sql.lark``):
   ``load_grammar()``, ``keywords()``, ``with_end(grammar, end)``, and ``specialize(tables)``,
   which makes table-name and column-name positions accept only one database's names (bare
   and quoted, case-insensitive) while aliases stay free identifiers.
2. **Compiled grammar** and 3. **per prefix** (``prefix``): ``PrefixChecker(grammar)`` builds
   Lark's LALR(1) table and a lexer that behaves exactly like Lark's basic lexer, once;
   ``PrefixChecker.for_schema(tables)`` caches one checker per schema.  ``viable(prefix)``,
   ``complete(sql)``, and ``start()`` / ``extend(state, text)`` (``PrefixState``) for a search
   that grows a parent prefix one LM token at a time.

For decoders that do not call the checker (``exports``): ``to_llguidance(grammar)`` gives the
Lark dialect llguidance compiles (vLLM's ``guidance`` backend, token masks), ``to_gbnf(grammar)``
a GBNF / EBNF version for xgrammar and llama.cpp, and ``constraint(grammar, end)`` the
``Grammar`` the LM backends take (both forms plus the exact prefix test).

>>> checker = PrefixChecker(specialize({"singer": ["Name"]}))
>>> checker.complete("SELECT name FROM singer"), checker.viable("SELECT nam")
(True, True)
"""

from xander.grammar.exports import constraint, to_gbnf, to_llguidance
from xander.grammar.prefix import PrefixChecker, PrefixState
from xander.grammar.text import (
    GRAMMAR_FILE,
    SCHEMA_BEGIN,
    SCHEMA_END,
    keywords,
    load_grammar,
    specialize,
    with_end,
)

__all__ = [
    "GRAMMAR_FILE", "SCHEMA_BEGIN", "SCHEMA_END", "PrefixChecker", "PrefixState", "constraint",
    "keywords", "load_grammar", "specialize", "to_gbnf", "to_llguidance", "with_end",
]
