// Models: the registry's versions and statuses (ListModels), and how the sixteen answered
// in the latest assessment of every meter.
import { listModels } from "../api.js";
import { esc, short, tag } from "../format.js";
import { MODELS, camel, onChange, state } from "../store.js";

export function modelsPage(root) {
  root.innerHTML = `<h2>Models</h2><div id="catalog"><p class="muted">loading…</p></div>
    <h2>Latest answers across meters</h2><div id="answers"></div>`;
  listModels().then((reply) => {
    const el = root.querySelector("#catalog");
    if (reply.unavailable) { el.innerHTML = `<p class="note">${esc(reply.unavailable)}</p>`; return; }
    el.innerHTML = `<table><tr><th>model</th><th>module</th><th>algorithm</th><th>version</th><th>status</th><th>detail</th></tr>${(reply.models || []).map((m) =>
      `<tr data-model="${esc(m.name)}"><td>${esc(m.name)}</td><td>${esc(m.module)}</td><td>${esc(m.algorithm)}</td>
       <td><code>${esc(short(m.version))}</code></td><td>${tag(m.status)}</td><td>${esc(m.detail)}</td></tr>`).join("")}</table>`;
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
