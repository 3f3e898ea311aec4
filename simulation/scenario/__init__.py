"""Scenario files: the schema, loading with extends and overrides, and keyword controls."""
