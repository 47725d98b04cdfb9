// The page's state, fed by the WebSocket and the REST calls; views subscribe to changes.
export const MODELS = [
  "voltage_anomaly", "harmonic_analysis", "frequency_stability", "phase_imbalance",
  "equipment_failure", "overload_risk", "power_quality_index", "voltage_sag",
  "load_forecast", "energy_loss", "power_flow_optimization", "demand_response",
  "reactive_power", "load_balancing", "grid_stability", "optimal_dispatch",
];
export const SEVERITIES = ["SEVERITY_UNSPECIFIED", "NORMAL", "ADVISORY", "WARNING", "CRITICAL"];
export const ALARM_FROM = "WARNING"; // alarms are model answers at least this severe
const MAX_ALARMS = 500;

export const rank = (severity) => Math.max(0, SEVERITIES.indexOf(severity || "SEVERITY_UNSPECIFIED"));
export const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

export const state = {
  meters: new Map(), // meterId -> {assessment, summary}
  alarms: [],        // newest first: {time, meterId, model, severity, detail, status}
  dropped: 0,        // assessments the server dropped because this page read too slowly
  received: 0,
  alarmVersion: 0,   // bumped whenever alarms are added (views repaint the list only then)
};
const listeners = new Set();
export const onChange = (fn) => { listeners.add(fn); return () => listeners.delete(fn); };
let changedIds = null;
function changed(meterId) {
  // coalesce bursts into one repaint per 100 ms (timers also run in background tabs); listeners get the meters that changed
  // ("*" = anything may have changed)
  if (changedIds === null) {
    changedIds = new Set();
    setTimeout(() => { const ids = changedIds; changedIds = null; listeners.forEach((fn) => fn(ids)); }, 100);
  }
  changedIds.add(meterId);
}

function meter(meterId) {
  if (!state.meters.has(meterId)) state.meters.set(meterId, { assessment: null, summary: null });
  return state.meters.get(meterId);
}

export function alarmsOf(assessment) {
  const out = [];
  for (const model of MODELS) {
    const info = assessment[camel(model)]?.info;
    if (info && rank(info.severity) >= rank(ALARM_FROM)) {
      out.push({ time: assessment.timestamp, meterId: assessment.meterId, model, severity: info.severity,
                 detail: info.detail || "", status: info.status });
    }
  }
  return out;
}

export function addAssessment(assessment, dropped) {
  state.received += 1;
  state.dropped = dropped ?? state.dropped;
  meter(assessment.meterId).assessment = assessment;
  const alarms = alarmsOf(assessment);
  if (alarms.length) {
    state.alarms.unshift(...alarms);
    state.alarms.length = Math.min(state.alarms.length, MAX_ALARMS);
    state.alarmVersion += 1;
  }
  changed(assessment.meterId);
}

export function setSummaries(summaries) {
  for (const s of summaries) meter(s.meterId).summary = s;
  changed("*");
}

export function activeAlarms() {
  const out = [];
  for (const { assessment } of state.meters.values()) if (assessment) out.push(...alarmsOf(assessment));
  return out.sort((a, b) => rank(b.severity) - rank(a.severity));
}
