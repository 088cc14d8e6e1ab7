"""Web chat intake: the visitor's side (REST, websocket), its storage and its rules.

An edge like ``cti/``: the core and the router know only its domain events
(``chat/events.py``) and the router commands it runs. docs/chat.md is the protocol.
"""
