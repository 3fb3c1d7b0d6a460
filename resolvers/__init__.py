"""Thin resolvers: read arguments, plan SQL, hand it to federation/, shape rows for schema/."""
