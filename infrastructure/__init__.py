"""Adapters the stages switch between: settings, database, stores, rate limits, sessions,
pub/sub, jobs, email, media storage and metrics. Never imports ``rural24`` (the app)."""
