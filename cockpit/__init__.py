"""ops cockpit: one live, safe terminal cockpit for on-call engineers."""

__version__ = "0.1.0"
