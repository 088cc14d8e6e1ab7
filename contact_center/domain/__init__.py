"""Pure domain model of the core: no sockets, no SQL, no clock reads."""
