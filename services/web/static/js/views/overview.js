// Feeder overview: meters coloured by their worst current severity, last voltage per phase,
// and the active alarms (models whose latest answer is at least WARNING).
import { listMeters } from "../api.js";
import { esc, num, tag, time } from "../format.js";
import { activeAlarms, onChange, setSummaries, state } from "../store.js";

export function overview(root) {
  root.innerHTML = `
    <section><h2>Feeder <span class="muted" id="meter-count"></span></h2>
      <div class="meters" id="meters"><p class="muted">waiting for the live feed…</p></div>
      <p class="note" id="history-note" hidden></p></section>
    <section><h2>Active alarms</h2><div id="active"></div></section>`;
  const metersEl = root.querySelector("#meters");
  const activeEl = root.querySelector("#active");
  const noteEl = root.querySelector("#history-note");

  const paint = () => {
    const ids = [...state.meters.keys()].sort();
    root.querySelector("#meter-count").textContent = ids.length ? `(${ids.length} meters)` : "";
    if (!ids.length) return;
    metersEl.innerHTML = ids.map((id) => {
      const { assessment, summary } = state.meters.get(id);
      const severity = assessment?.severity || summary?.lastSeverity || "SEVERITY_UNSPECIFIED";
      const v = summary?.lastReading?.voltage;
      const seen = assessment?.timestamp || summary?.lastSeen;
      return `<a class="meter sev-${esc(severity)}" data-meter="${esc(id)}" href="#/meter/${encodeURIComponent(id)}">
        <div class="id">${esc(id)}</div>
        <div>${tag(severity)}</div>
        <div class="v">V a/b/c: ${v ? `${num(v.a)} / ${num(v.b)} / ${num(v.c)}` : "–"}</div>
        <div class="muted">${time(seen)}</div></a>`;
    }).join("");
    const active = activeAlarms();
    activeEl.innerHTML = active.length
      ? `<table><tr><th>meter</th><th>model</th><th>severity</th><th>detail</th></tr>${active.map((a) =>
          `<tr><td>${esc(a.meterId)}</td><td>${esc(a.model)}</td><td>${tag(a.severity)}</td><td>${esc(a.detail)}</td></tr>`).join("")}</table>`
      : `<p class="muted">none</p>`;
  };

  let timer = null;
  const poll = async () => {
    const reply = await listMeters();
    if (reply.unavailable) {
      noteEl.hidden = false;
      noteEl.textContent = `stored history unavailable (${reply.unavailable}); showing the live feed only`;
      if (reply.unavailable.startsWith("501")) clearInterval(timer); // not implemented: stop asking
      return;
    }
    noteEl.hidden = true;
    setSummaries(reply.meters || []);
  };
  timer = setInterval(poll, 2000);
  poll();
  const off = onChange(paint);
  paint();
  return () => { off(); clearInterval(timer); };
}
