"""HTTP edge: REST API, authentication, and (later) the agent console and supervisor wallboard."""
