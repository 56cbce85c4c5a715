"""Processors: consumers of the log that perform side effects (never rebuilt, never replayed)."""
