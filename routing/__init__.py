"""Omnichannel router: pure matching core, queue/agent state machines and state backends."""
