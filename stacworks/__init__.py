"""Composition root: settings, the CLI and the single-process app. Imported by nothing."""

__version__ = "0.1.0"
