"""Users, roles, API tokens, and the permission checks every surface calls."""
