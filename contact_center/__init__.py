"""Unified contact center: the core (settings, domain model, profile store, event bus, assembly)."""

__version__ = "0.1.0"
