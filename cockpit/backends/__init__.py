"""Backend adapters. Each module turns SDK answers into ``cockpit.model`` records.

Modules here are imported lazily, only for sources a profile configures, so a profile
without Kubernetes never imports the kubernetes client. Nothing here imports Textual.
"""
