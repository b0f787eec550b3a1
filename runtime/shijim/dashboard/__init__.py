"""The dashboard: a Textual TUI over running shards (``python -m shijim.dashboard.app``) and the
runtime's side of it (``channel``: snapshots published by the trading thread, served by the
admin listener). ``channel`` and ``wire`` import no Textual: the runtime uses them.
docs/dashboard.md.
"""
