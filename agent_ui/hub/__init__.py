"""The consoles' live hub: one websocket per browser tab (docs/hub.md).

File roles: ``wiring`` (build, endpoint), ``handler`` (the websocket resource),
``hub`` (connections, streams, resume, upkeep), ``notifier`` (events to messages and
audiences), ``messages`` (the protocol's one schema), ``topics`` (who may watch what),
``streams`` (a user's numbered stream, a tab's send queue), ``presence`` (the grace
before an agent without a console goes not ready), ``errors``.
"""
