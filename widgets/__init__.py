"""Panes: each knows model records, never an SDK."""
