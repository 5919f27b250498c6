// Server-Sent Events over fetch(), because EventSource cannot send an Authorization header.
// Parses the text/event-stream format (WHATWG HTML §9.2), resumes with Last-Event-ID after a
// drop, and backs off between reconnects.

import { currentSession, renewSession } from "./api.js";

export class LiveStream {
  /**
   * @param {string} url
   * @param {(event: {id: string|null, event: string, data: string}) => void} onEvent
   * @param {(state: "connecting"|"live"|"offline") => void} onState
   */
  constructor(url, onEvent, onState) {
    this.url = url;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastEventId = null;
    this.retryMs = 1000;
    this.controller = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    while (!this.stopped) {
      this.onState("connecting");
      try {
        await this.connect();
      } catch (err) {
        if (this.stopped) return;
      }
      if (this.stopped) return;
      this.onState("offline");
      await new Promise((r) => setTimeout(r, this.retryMs));
      this.retryMs = Math.min(this.retryMs * 2, 15000);
    }
  }

  async connect(renewed = false) {
    const session = currentSession();
    if (!session) throw new Error("not signed in");
    this.controller = new AbortController();
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${session.token}` };
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    const resp = await fetch(this.url, { headers, signal: this.controller.signal, cache: "no-store" });
    if (resp.status === 401) {
      // The access token expired (it lives 15 min; the stream outlives it): refresh and
      // reconnect at once, or, if the session is over, stop and let the user sign in again.
      if (this.stopped) return;
      if (renewed) throw new Error("stream HTTP 401 after a token refresh");
      if (await renewSession(session.token)) return this.connect(true);
      this.stop();
      return;
    }
    if (!resp.ok || !resp.body) throw new Error(`stream HTTP ${resp.status}`);
    this.onState("live");
    this.retryMs = 1000;
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // Events end at a blank line; CRLF, LF and CR are all line ends in the format.
      buffer = buffer.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        this.dispatch(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  }

  dispatch(block) {
    let event = "message";
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
      else if (field === "id") id = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (id !== null) this.lastEventId = id;
    if (data.length) this.onEvent({ id, event, data: data.join("\n") });
  }
}
