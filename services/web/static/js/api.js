// REST calls to /v1/ (proto3 JSON). A call the gateway does not implement yet answers 501:
// callers get {unavailable: message} instead of an exception and say so on the page.
import { authHeaders } from "./auth.js";

export async function getJson(path) {
  const reply = await fetch(path, { headers: { Accept: "application/json", ...authHeaders() } });
  const body = await reply.json().catch(() => ({}));
  if (reply.ok) return body;
  return { unavailable: `${reply.status} ${body.code || ""}: ${body.message || reply.statusText}` };
}

export const listMeters = () => getJson("/v1/meters?page_size=5000");
export const listModels = () => getJson("/v1/models");
export const modelHealth = () => getJson("/v1/models/health");

export function history(meterId, fromIso) {
  const query = new URLSearchParams({ page_size: "5000" });
  if (fromIso) query.set("from", fromIso);
  return getJson(`/v1/history/${encodeURIComponent(meterId)}?${query}`);
}
