"""AI systems and their versioned entries: kinds, writes, history, diffs, as-of reads."""
