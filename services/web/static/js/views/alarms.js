// Alarms: every model answer at least WARNING since the page opened, newest first.
import { esc, tag, time } from "../format.js";
import { ALARM_FROM, onChange, state } from "../store.js";

export function alarmsPage(root) {
  root.innerHTML = `<h2>Alarms <span class="muted">(model answers ≥ ${ALARM_FROM} since this page opened)</span></h2>
    <p class="muted" id="dropped"></p><div id="alarms"></div>`;
  let painted = -1;
  const paint = () => {
    if (painted === state.alarmVersion) return; // nothing new: keep the table as it is
    painted = state.alarmVersion;
    root.querySelector("#dropped").textContent = state.dropped ? `${state.dropped} assessments dropped by the server (this page read too slowly)` : "";
    root.querySelector("#alarms").innerHTML = state.alarms.length
      ? `<table><tr><th>time (UTC)</th><th>meter</th><th>model</th><th>severity</th><th>detail</th></tr>${state.alarms.map((a) =>
          `<tr data-meter="${esc(a.meterId)}" data-model="${esc(a.model)}"><td>${time(a.time)}</td>
           <td><a href="#/meter/${encodeURIComponent(a.meterId)}">${esc(a.meterId)}</a></td>
           <td>${esc(a.model)}</td><td>${tag(a.severity)}</td><td>${esc(a.detail)}</td></tr>`).join("")}</table>`
      : `<p class="muted">no alarms yet</p>`;
  };
  const off = onChange(paint);
  paint();
  return off;
}
