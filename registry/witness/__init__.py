"""A transparency-log witness (c2sp.org/tlog-witness): its key, its state, its HTTP server.

It needs no registry database: it follows logs (origin and verifier key) given when it
starts, and keeps the last checkpoint it cosigned for each in files of its own.
"""
