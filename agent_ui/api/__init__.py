"""HTTP resources of the REST API, one module per area; the route table is in agent_ui.routes."""
