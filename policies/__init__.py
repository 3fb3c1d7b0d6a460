"""Field-level access: Casbin model and rules, grants, and per-request decisions."""
