// Small formatting helpers shared by the views.
export const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
export const num = (value, digits = 1) => (typeof value === "number" ? value.toFixed(digits) : "–");
export const time = (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) : "–");
export const tag = (text) => `<span class="tag ${esc(text)}">${esc(String(text || "").replace("SEVERITY_", ""))}</span>`;
export const short = (version) => (version ? version.slice(0, 12) : "–");
