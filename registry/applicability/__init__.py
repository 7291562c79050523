"""Frameworks applied to the systems: applicability proposals and decisions, coverage
per framework as of an instant, Statements of Applicability, and OSCAL documents. Above
readiness (it reads the scorecard's evidence); the catalogues themselves are data below
records (``registry.frameworks``)."""
