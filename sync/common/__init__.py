"""What every stage shares, free of I/O: the exception tree, the shared types, clock, logs, Ids,
YAML."""
