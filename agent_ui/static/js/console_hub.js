// The console's one websocket to the live hub (GET /api/v1/hub, docs/hub.md).
//
// HubClient connects, says hello (with resume_from after a drop), keeps the stream id
// of the last welcome and the highest seq it has handed on, and reconnects with a
// backoff. A resumed welcome is followed by exactly the missed messages; otherwise a
// snapshot comes and replaces what the page shows. Messages at or below the last seq
// are dropped here, so a handler never sees one twice.
//
// Callbacks: onMessage(message) for every stream message and snapshot, onStatus(status,
// detail) with "connecting" | "live" | "disconnected" | "ended", onReply(message) for
// subscribed / unsubscribed / refused.

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
// Close codes after which reconnecting cannot help (docs/hub.md, "Close codes").
const FATAL_CODES = new Set([1003, 1007, 1008, 1009]);
const LOGIN_CODES = new Set([4401]);

export class HubClient {
  constructor({ path, topics = [], onMessage, onStatus, onReply }) {
    this.path = path;
    this.topics = new Set(topics);
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    this.onReply = onReply || (() => {});
    this.stream = null;
    this.seq = null;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.disconnectedAt = null;
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}${this.path}`;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  }

  // Close the socket as a network drop would (tests and the "reconnect" button).
  drop() {
    if (this.socket) this.socket.close(4000, "client-drop");
  }

  connect() {
    clearTimeout(this.timer);
    this.onStatus("connecting", { attempt: this.attempt });
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch (error) {
      this.scheduleReconnect(String(error));
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      const hello = { type: "hello", topics: [...this.topics] };
      if (this.stream !== null && this.seq !== null) hello.resume_from = { stream: this.stream, seq: this.seq };
      socket.send(JSON.stringify(hello));
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (LOGIN_CODES.has(event.code)) {
        this.onStatus("ended", { code: event.code, reason: event.reason });
        window.location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
        return;
      }
      if (FATAL_CODES.has(event.code)) {
        this.onStatus("ended", { code: event.code, reason: event.reason });
        return;
      }
      if (event.code === 1012) {
        // The node lost events: resuming would hide a gap, so come back to a snapshot.
        this.stream = null;
        this.seq = null;
      }
      this.scheduleReconnect(event.reason || String(event.code));
    });
  }

  scheduleReconnect(reason) {
    if (this.disconnectedAt === null) this.disconnectedAt = Date.now();
    this.onStatus("disconnected", { reason, since: this.disconnectedAt });
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    // A little jitter, so a restarted node is not hit by every tab in the same instant.
    this.timer = setTimeout(() => this.connect(), delay + Math.random() * 250);
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    switch (message.type) {
      case "welcome":
        this.attempt = 0;
        this.disconnectedAt = null;
        this.userId = message.user_id;
        this.stream = message.stream;
        if (!message.resumed) this.seq = null;
        for (const topic of message.topics) this.topics.add(topic);
        this.onStatus("live", { resumed: message.resumed, grace: message.disconnect_grace_seconds });
        return;
      case "snapshot":
        this.seq = message.seq;
        this.onMessage(message);
        return;
      case "subscribed":
      case "unsubscribed":
      case "refused":
        this.onReply(message);
        return;
      case "error":
        this.onStatus("error", { error: message.error, message: message.message });
        return;
      default:
        break;
    }
    if (typeof message.seq === "number") {
      if (this.seq !== null && message.seq <= this.seq) return;
      this.seq = message.seq;
    }
    this.onMessage(message);
  }

  socketIsLive() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (this.socketIsLive()) this.socket.send(JSON.stringify(message));
  }

  subscribe(topic) {
    if (this.topics.has(topic)) return;
    this.topics.add(topic);
    this.send({ type: "subscribe", topic });
  }

  unsubscribe(topic) {
    if (!this.topics.delete(topic)) return;
    this.send({ type: "unsubscribe", topic });
  }
}
