"""Plain numbered SQL migrations, forward only, applied to every node database."""
