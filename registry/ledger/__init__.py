"""The audit ledger: canonical events, their hash chain, and its verification.

Nothing in this package imports Flask or the application's session: the chain logic
is pure (``chain``), and storage takes a SQLAlchemy session handed in (``store``).
"""
