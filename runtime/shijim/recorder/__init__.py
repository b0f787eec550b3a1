"""The recorder: every message of a shard's ring into raw JSONL files (the write-ahead log,
what ``--feed replay:`` reads) and from them into ClickHouse, nothing lost (docs/recorder.md).

Modules: ``settings`` (the ``recorder`` config section), ``capture`` (the ring reader),
``wal`` (the files), ``tables`` and ``sink`` (ClickHouse), ``sink_process`` (the sink's own
process), ``recording`` (the recorder), ``beside`` (``run --record``), ``check`` and
``queries`` (record-check, record-query), ``command`` (the CLI), ``dsn`` (CLICKHOUSE_DSN).
Imports nothing heavy here: the runtime's config imports ``settings``.
"""
