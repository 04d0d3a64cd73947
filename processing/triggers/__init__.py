"""Triggers: schedules, subscriptions, catalog watches, webhooks and budgets (issue 16)."""
