"""The incident loop's other systems: Sentry (errors), PagerDuty (pages), Slack (updates)."""
