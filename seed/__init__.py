"""Deterministic demo data: departments, catalog and the shared registers, written with COPY."""
