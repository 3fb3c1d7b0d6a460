"""State machines of the platform's workflows: the catalog lifecycle and share requests.

Each transition runs in one transaction that checks the caller's role, the revision the caller read
(optimistic concurrency: a stale one is ``CONFLICT``) and the current state, writes the new state and
its history row, and appends the audit record before committing (no audit record, no change).
"""
