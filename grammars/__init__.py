"""SQL grammars shipped as package data (``xander.grammars``); load them with
``xander.grammar.load_grammar()``."""
