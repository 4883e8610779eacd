"""Access control: API tokens, roles and what each may do, country scopes, audit events,
idempotent retries and rate limits."""
