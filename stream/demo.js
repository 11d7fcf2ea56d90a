// The event stream demo: an EventSource on /api/v1/stream, each event a
// row (type, job, key). The token comes from the page's fragment
// (#token=...&job=orders&types=item.created) or the form; a fragment is
// never sent to the server, so it stays out of access logs.
"use strict";

const TYPES = ["item.created", "item.updated", "item.deleted", "document.changed",
  "item.snapshot", "source.down", "source.recovered"];

let source = null;

function setState(text, isError) {
  const el = document.getElementById("state");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

function addRow(type, msg) {
  let env;
  try {
    env = JSON.parse(msg.data);
  } catch (e) {
    return;
  }
  const data = env.data || {};
  const li = document.createElement("li");
  li.className = "event type-" + type;
  li.dataset.id = msg.lastEventId;
  for (const [cls, text] of [["type", type], ["job", data.job || ""], ["key", data.key || ""]]) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    li.appendChild(span);
    li.appendChild(document.createTextNode(" "));
  }
  document.getElementById("events").appendChild(li);
}

function connect(token, jobs, types) {
  if (source) {
    source.close();
  }
  const q = new URLSearchParams();
  q.set("access_token", token);
  if (jobs) q.set("job", jobs);
  if (types) q.set("types", types);
  setState("connecting", false);
  source = new EventSource("/api/v1/stream?" + q.toString());
  source.onopen = () => setState("open", false);
  for (const t of TYPES) {
    source.addEventListener(t, (msg) => addRow(t, msg));
  }
  source.addEventListener("error", (ev) => {
    if (ev.data) {
      // pollhook's own last message before it closes the stream.
      let reason = ev.data;
      try { reason = JSON.parse(ev.data).error.message; } catch (e) { /* keep the raw text */ }
      setState("closed: " + reason, true);
    } else if (source.readyState === EventSource.CONNECTING) {
      setState("reconnecting", true);
    } else if (source.readyState === EventSource.CLOSED) {
      setState("closed (refused: check the token and filters)", true);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const frag = new URLSearchParams(location.hash.slice(1));
  const form = document.getElementById("connect");
  document.getElementById("jobs").value = frag.get("job") || "";
  document.getElementById("types").value = frag.get("types") || "";
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    connect(document.getElementById("token").value, document.getElementById("jobs").value,
      document.getElementById("types").value);
  });
  const token = frag.get("token");
  if (token) {
    document.getElementById("token").value = token;
    connect(token, frag.get("job"), frag.get("types"));
  }
});
