// Telling the agent a contact is offered: a ring tone (generated with WebAudio, no
// file), repeated while anything rings and mutable, and a desktop notification while
// the tab is hidden (permission asked on a click, as browsers require).

import { t } from "./i18n.js";

const MUTE_KEY = "cc.console.muted";
const RING_EVERY_MS = 2500;

export class OfferAlert {
  constructor() {
    this.context = null;
    this.ringTimer = null;
    this.notifications = new Map();
    this.muted = window.localStorage.getItem(MUTE_KEY) === "1";
    // Browsers let a page make sound only after the person interacted with it.
    const unlock = () => {
      this.audio();
      window.removeEventListener("pointerdown", unlock);
      window.removeEventListener("keydown", unlock);
    };
    window.addEventListener("pointerdown", unlock);
    window.addEventListener("keydown", unlock);
  }

  audio() {
    if (this.context === null && typeof window.AudioContext === "function") {
      try {
        this.context = new window.AudioContext();
      } catch {
        this.context = null;
      }
    }
    if (this.context && this.context.state === "suspended") this.context.resume().catch(() => {});
    return this.context;
  }

  setMuted(muted) {
    this.muted = muted;
    window.localStorage.setItem(MUTE_KEY, muted ? "1" : "0");
  }

  // Two short rising tones, like a desk phone.
  tone() {
    if (this.muted) return;
    const context = this.audio();
    if (!context || context.state !== "running") return;
    const start = context.currentTime + 0.01;
    [[660, 0], [880, 0.22]].forEach(([frequency, offset]) => {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(start + offset);
      oscillator.stop(start + offset + 0.2);
    });
  }

  // Ring while `ringing` is true; call on every change of the offers.
  ring(ringing) {
    if (ringing && this.ringTimer === null) {
      this.tone();
      this.ringTimer = setInterval(() => this.tone(), RING_EVERY_MS);
    } else if (!ringing && this.ringTimer !== null) {
      clearInterval(this.ringTimer);
      this.ringTimer = null;
    }
  }

  notificationsAvailable() {
    return typeof window.Notification === "function";
  }

  notificationPermission() {
    return this.notificationsAvailable() ? window.Notification.permission : "unsupported";
  }

  async askPermission() {
    if (!this.notificationsAvailable()) return "unsupported";
    return window.Notification.requestPermission();
  }

  // A desktop notification for an offer, only while the tab is not looked at.
  notify(contactId, title, body) {
    if (!document.hidden || this.notificationPermission() !== "granted") return;
    try {
      const notification = new window.Notification(title, { body, tag: `offer-${contactId}`, requireInteraction: true });
      notification.addEventListener("click", () => {
        window.focus();
        notification.close();
      });
      this.notifications.set(contactId, notification);
    } catch {
      // Some platforms allow notifications only from a service worker: the sound stays.
    }
  }

  dismiss(contactId) {
    const notification = this.notifications.get(contactId);
    if (notification) {
      notification.close();
      this.notifications.delete(contactId);
    }
  }

  static offerTitle(channel) {
    return { voice: t("Incoming call"), chat: t("New chat"), email: t("New email") }[channel] || t("New contact");
  }
}
