"""The detail domain: rules and queries, the event log and its one publisher.

Flushes, never commits; knows no request, form or template (import-linter checks it)."""
