// The contacts waiting in the queues, for the supervisor's move / priority / "why here"
// actions. The board has the counts; the contacts themselves come from the queues' hub
// topics (`queue:<name>`, numbered, so a reconnecting tab resumes without losing one):
// `contact.queued` puts a contact in the list, an offer or its end takes it out, a
// declined or timed-out offer puts it back (the router queues it again). A board that
// says a queue has nobody waiting clears what this list still holds for it.

import { num } from "./wallboard_model.js";

const LEAVES = new Set([
  "contact.offered",
  "contact.attached",
  "contact.connected",
  "contact.abandoned",
  "contact.closed",
  "contact.wrap_up_started",
  "contact.wrap_up_ended",
]);

export class WaitingContacts {
  constructor() {
    this.contacts = new Map(); // contact id -> {contactId, channel, queue, customerId, priority, queuedAt}
    this.firstQueued = new Map(); // contact id -> when it first queued (kept across re-queues)
  }

  // A `contact` message from a queue topic; returns whether the list changed.
  apply(message) {
    const id = message.contact_id;
    const details = message.details || {};
    if (message.event === "contact.queued") {
      if (!this.firstQueued.has(id)) this.firstQueued.set(id, num(message.at));
      this.contacts.set(id, {
        contactId: id,
        channel: message.channel,
        queue: message.queue,
        customerId: message.customer_id ?? null,
        priority: num(details.priority) ?? 0,
        queuedAt: this.firstQueued.get(id),
        lastQueuedAt: num(message.at),
      });
      return true;
    }
    const known = this.contacts.get(id);
    if (message.event === "contact.priority_changed" && known) {
      known.priority = num(details.priority) ?? known.priority;
      return true;
    }
    if (message.event === "contact.transferred" && known) {
      // Moved to another queue: it waits there (to an agent: the offer follows).
      if (details.to_agent_id) this.contacts.delete(id);
      else known.queue = message.queue;
      return true;
    }
    if (LEAVES.has(message.event)) {
      if (message.event !== "contact.offered" && message.event !== "contact.attached") this.firstQueued.delete(id);
      return this.contacts.delete(id);
    }
    return false;
  }

  // Queues a board says nobody waits in: what the list holds for them from before that
  // board was computed is stale (a contact queued since is not).
  reconcile(queues, boardAt) {
    const waitingIn = new Map();
    for (const row of queues) waitingIn.set(row.queue, (waitingIn.get(row.queue) || 0) + row.waiting);
    for (const [id, contact] of this.contacts) {
      const before = boardAt !== null && (contact.lastQueuedAt === null || contact.lastQueuedAt < boardAt);
      if (waitingIn.get(contact.queue) === 0 && before) this.contacts.delete(id);
    }
  }

  list() {
    return [...this.contacts.values()];
  }

  get(contactId) {
    return this.contacts.get(contactId) || null;
  }
}
