"""Shared test helpers: in-memory apps and a harness around the engine."""
