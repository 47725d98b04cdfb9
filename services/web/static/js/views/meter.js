// Meter page: V, I, P, Q and f from the stored history (extended as live assessments arrive),
// voltage and frequency with the EN 50160 bands relative to the meter's own nominal values
// (clause 4.2.2: 10-min mean supply voltage within ±10 % for 95 % of a week and within
// +10 %/−15 % always; clause 4.2.1: frequency of synchronously connected systems within ±1 %
// for 99.5 % of a year and +4 %/−6 % always), the load forecast with its interval, and the
// sixteen model answers with their versions and statuses.
import { history } from "../api.js";
import { esc, num, short, tag, time } from "../format.js";
import { MODELS, camel, onChange, state } from "../store.js";

const WINDOW_S = 2 * 3600; // history shown when the page opens, before the latest reading
const PHASES = ["a", "b", "c"];
const COLOURS = ["#c62828", "#f9a825", "#1565c0"];
const BAND = { stroke: "#9e9e9e", dash: [5, 5], width: 1, points: { show: false } };

const CHARTS = [
  { key: "v", title: "Voltage (V, phase-to-neutral)", field: "voltage", scale: 1 },
  { key: "i", title: "Current (A)", field: "current", scale: 1 },
  { key: "p", title: "Active power (kW)", field: "activePower", scale: 1e-3 },
  { key: "q", title: "Reactive power (kvar)", field: "reactivePower", scale: 1e-3 },
  { key: "f", title: "Frequency (Hz)" },
];

function bands(key, nominalV, nominalF) {
  if (key === "v" && nominalV) return [["+10 %", 1.1], ["−10 %", 0.9], ["−15 %", 0.85]].map(([l, k]) => [l, nominalV * k]);
  if (key === "f" && nominalF) return [["+4 %", 1.04], ["+1 %", 1.01], ["−1 %", 0.99], ["−6 %", 0.94]].map(([l, k]) => [l, nominalF * k]);
  return [];
}

export function meterPage(root, meterId) {
  root.innerHTML = `<h2>Meter ${esc(meterId)} <span class="muted" id="nominal"></span></h2>
    <p class="note" id="note" hidden></p>
    <div class="charts" id="charts"></div>
    <section><h2>Load forecast</h2><div class="chart" id="forecast"><p class="muted">no forecast yet</p></div></section>
    <section><h2>Model answers</h2><div id="answers"></div></section>`;
  const series = { t: [], v: [[], [], []], i: [[], [], []], p: [[], [], []], q: [[], [], []], f: [] };
  const plots = {};
  let nominalV = null, nominalF = null, lastNs = null, fetching = false, closed = false, noHistory = false;
  let stored = null; // the latest assessment from the stored history
  let forecastPlot = null;

  const note = (text) => {
    const el = closed ? null : root.querySelector("#note");
    if (el) { el.hidden = !text; el.textContent = text || ""; }
  };

  function append(entries) {
    // The latest stored answer shows at once; a live one replaces it when it arrives.
    const last = entries.length ? entries[entries.length - 1].assessment : null;
    if (last && (!stored || Date.parse(last.timestamp) > Date.parse(stored.timestamp))) stored = last;
    for (const { reading } of entries) {
      if (!reading?.timestamp) continue;
      const ns = Date.parse(reading.timestamp);
      if (lastNs !== null && ns <= lastNs) continue;
      lastNs = ns;
      series.t.push(ns / 1000);
      for (const c of CHARTS.slice(0, 4)) PHASES.forEach((ph, k) => series[c.key][k].push((reading[c.field]?.[ph] ?? null) * c.scale));
      series.f.push(reading.frequency ?? null);
      nominalV = reading.nominalVoltage ?? nominalV;
      nominalF = reading.nominalFrequency ?? nominalF;
    }
    root.querySelector("#nominal").textContent = nominalV
      ? `nominal ${num(nominalV, 0)} V, ${num(nominalF, 0)} Hz` : "(nominal values not reported)";
    draw();
  }

  function dataOf(c) {
    const lines = c.key === "f" ? [series.f] : series[c.key];
    const limits = bands(c.key, nominalV, nominalF).map(([, y]) => series.t.map(() => y));
    return [series.t, ...lines, ...limits];
  }

  function draw() {
    if (!series.t.length || !window.uPlot) return;
    const holder = root.querySelector("#charts");
    for (const c of CHARTS) {
      if (plots[c.key]) { plots[c.key].setData(dataOf(c)); continue; }
      const el = document.createElement("div");
      el.className = "chart"; el.dataset.chart = c.key; el.innerHTML = `<h3>${c.title}</h3>`;
      holder.appendChild(el);
      const lines = c.key === "f" ? [{ label: "f", stroke: "#37474f" }]
        : PHASES.map((ph, k) => ({ label: ph, stroke: COLOURS[k] }));
      const limits = bands(c.key, nominalV, nominalF).map(([label]) => ({ label: `EN 50160 ${label}`, ...BAND }));
      plots[c.key] = new window.uPlot(
        { width: Math.max(300, el.clientWidth - 10), height: 200, series: [{}, ...lines, ...limits], legend: { live: false } },
        dataOf(c), el);
    }
  }

  function paintAnswers() {
    const live = state.meters.get(meterId)?.assessment;
    const assessment = live && (!stored || Date.parse(live.timestamp) >= Date.parse(stored.timestamp)) ? live : stored;
    const el = root.querySelector("#answers");
    if (!assessment) { el.innerHTML = `<p class="muted">waiting for this meter's next assessment…</p>`; return; }
    el.innerHTML = `<p class="muted">assessment of ${time(assessment.timestamp)} UTC, worst ${tag(assessment.severity)}</p>
      <table><tr><th>model</th><th>status</th><th>severity</th><th>version</th><th>answer</th><th>detail</th></tr>${MODELS.map((m) => {
        const out = assessment[camel(m)] || {};
        const info = out.info || {};
        const answered = info.status === "OK" || info.status === "DEGRADED";
        const answer = !answered ? "–" : Object.entries(out).filter(([k, v]) => k !== "info" && typeof v !== "object")
          .slice(0, 4).map(([k, v]) => `${esc(k)}=${esc(typeof v === "number" ? num(v, 2) : v)}`).join(", ");
        return `<tr data-model="${esc(m)}"><td>${esc(m)}</td><td>${tag(info.status)}</td><td>${tag(info.severity)}</td>
          <td><code>${esc(short(info.modelVersion))}</code></td><td>${answer}</td><td>${esc(info.detail)}</td></tr>`;
      }).join("")}</table>`;
    paintForecast(assessment.loadForecast);
  }

  function paintForecast(forecast) {
    const points = forecast?.forecastedLoad || [];
    if (!points.length || !window.uPlot) return;
    const el = root.querySelector("#forecast");
    const data = [points.map((p) => p.horizonMinutes), points.map((p) => p.loadW / 1e3),
      points.map((p) => p.lowerW / 1e3), points.map((p) => p.upperW / 1e3)];
    if (forecastPlot) { forecastPlot.setData(data); return; }
    el.innerHTML = `<h3>Load (kW) by horizon (min); ${num(100 * (forecast.confidenceLevel || 0), 0)} % interval</h3>`;
    forecastPlot = new window.uPlot({
      width: Math.max(300, el.clientWidth - 10), height: 200, scales: { x: { time: false } },
      series: [{ label: "horizon (min)" }, { label: "forecast", stroke: "#1565c0" },
        { label: "lower", stroke: "#90caf9" }, { label: "upper", stroke: "#90caf9" }],
      bands: [{ series: [3, 2], fill: "rgba(21,101,192,0.12)" }],
    }, data, el);
  }

  async function load() {
    if (fetching || closed || noHistory) return;
    fetching = true;
    try {
      let from;
      if (lastNs !== null) from = new Date(lastNs + 1).toISOString();
      else {
        const m = state.meters.get(meterId);
        const latest = m?.assessment?.timestamp || m?.summary?.lastSeen;
        from = new Date((latest ? Date.parse(latest) : Date.now()) - WINDOW_S * 1000).toISOString();
      }
      const reply = await history(meterId, from);
      if (reply.unavailable) {
        // not implemented by this gateway: say so once and stop asking
        noHistory = reply.unavailable.startsWith("501");
        note(`stored history unavailable (${reply.unavailable}); the model answers below are live`);
        return;
      }
      if (closed) return;
      note("");
      append(reply.entries || []);
      paintAnswers();
    } finally { fetching = false; }
  }

  load();
  paintAnswers();
  const off = onChange((ids) => {
    if (!ids.has(meterId) && !ids.has("*")) return;
    paintAnswers();
    load();
  });
  return () => { closed = true; off(); Object.values(plots).forEach((p) => p.destroy()); forecastPlot?.destroy(); };
}
