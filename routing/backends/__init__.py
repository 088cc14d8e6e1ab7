"""Router state backends: in-memory (one process) and Redis (any number of nodes)."""
