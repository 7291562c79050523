"""Frameworks as data: the catalogues (EU AI Act, ISO/IEC 42001 Annex A, NIST AI RMF),
the crosswalk from readiness criteria and entry kinds to their items."""
