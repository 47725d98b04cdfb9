// Models: the registry's versions, aliases (champion, challenger in shadow or canary), drift of
// each champion's inputs and outputs, the challenger's shadow counts and the champion's online
// figures from history (ModelHealth), and how the sixteen
// answered in the latest assessment of every meter.
import { modelHealth } from "../api.js";
import { esc, short, tag } from "../format.js";
import { MODELS, camel, onChange, state } from "../store.js";

export function modelsPage(root) {
  root.innerHTML = `<h2>Models</h2><div id="catalog"><p class="muted">loading…</p></div>
    <h2>Latest answers across meters</h2><div id="answers"></div>`;
  modelHealth().then((reply) => {
    const el = root.querySelector("#catalog");
    if (reply.unavailable) { el.innerHTML = `<p class="note">${esc(reply.unavailable)}</p>`; return; }
    el.innerHTML = `<table><tr><th>model</th><th>module</th><th>algorithm</th><th>champion</th><th>challenger</th>
      <th>drift (max PSI, window)</th><th>shadow answers (same severity)</th><th>online (history)</th><th>status</th><th>detail</th></tr>${(reply.models || []).map(row).join("")}</table>`;
  });
  const paint = () => {
    const rows = MODELS.map((model) => {
      const counts = {};
      for (const { assessment } of state.meters.values()) {
        const status = assessment?.[camel(model)]?.info?.status;
        if (status) counts[status] = (counts[status] || 0) + 1;
      }
      const text = Object.entries(counts).map(([s, n]) => `${tag(s)} ${n}`).join(" ") || "–";
      return `<tr><td>${esc(model)}</td><td>${text}</td></tr>`;
    });
    root.querySelector("#answers").innerHTML = `<table><tr><th>model</th><th>statuses (meters)</th></tr>${rows.join("")}</table>`;
  };
  const off = onChange(paint);
  paint();
  return off;
}

function row(m) {
  const challenger = m.challengerVersion
    ? `<code>${esc(short(m.challengerVersion))}</code> ${esc(m.challengerMode)}${m.challengerMode === "canary" ? ` ${Math.round(100 * (m.canaryShare || 0))} %` : ""}${m.challengerDetail ? ` <span class="muted">${esc(m.challengerDetail)}</span>` : ""}`
    : "–";
  const d = m.drift || {};
  const drift = !d.hasReference
    ? `<span class="muted">${esc(d.detail || "no reference")}</span>`
    : `${d.drifting ? tag("DRIFTING") : tag("OK")} ${(d.maxPsi || 0).toFixed(2)} / ${d.windowReadings || 0} readings${(d.drivers || []).length ? `<br><span class="muted">${esc(d.drivers.slice(0, 3).join(", "))}</span>` : ""}`;
  const shadow = (m.versions || []).filter((v) => v.alias === "challenger")
    .map((v) => `${v.answers || 0} (${v.answers ? Math.round((100 * (v.severityAgrees || 0)) / v.answers) : 0} %)`).join("") || "–";
  const online = (m.online || []).filter((o) => o.version === m.version).map(onlineText).join("")
    || `<span class="muted">${esc(m.onlineDetail || "–")}</span>`;
  return `<tr data-model="${esc(m.name)}"><td>${esc(m.name)}</td><td>${esc(m.module)}</td><td>${esc(m.algorithm)}</td>
    <td class="champion"><code>${esc(short(m.version))}</code></td><td>${challenger}</td><td class="drift">${drift}</td><td>${shadow}</td>
    <td class="online">${online}</td><td>${tag(m.status)}</td><td>${esc(m.detail)}</td></tr>`;
}

// The champion's online MAPE beside its registry figure, and its alarm precision from acknowledgements.
function onlineText(o) {
  const parts = [];
  if (o.forecastIntervals) parts.push(`MAPE ${(o.onlineMapePct || 0).toFixed(1)} % (registry ${(o.registryMapePct || 0).toFixed(1)} %)`);
  const judged = (o.alarmsConfirmed || 0) + (o.alarmsDismissed || 0);
  if (judged) parts.push(`alarm precision ${Math.round(100 * (o.alarmsConfirmed || 0) / judged)} % of ${judged}`);
  return parts.join("<br>");
}
