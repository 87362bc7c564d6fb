"""Crisis Coordination Centre: real-time operations dashboard."""

__version__ = "0.1.0"
