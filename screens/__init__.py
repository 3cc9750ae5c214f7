"""Screens: the cockpit grid, details, help, confirmation and the timeline."""
