// The dashboard: a hash router over four views, fed live by /v1/live.
import { connectLive } from "./live.js";
import { state, onChange } from "./store.js";
import { overview } from "./views/overview.js";
import { meterPage } from "./views/meter.js";
import { alarmsPage } from "./views/alarms.js";
import { modelsPage } from "./views/models.js";

const view = document.getElementById("view");
let cleanup = () => {};

function route() {
  cleanup();
  const [, page, arg] = (location.hash || "#/").split("/");
  document.querySelectorAll("header nav a").forEach((a) => {
    a.classList.toggle("active", a.dataset.page === (page || "overview"));
  });
  if (page === "meter" && arg) cleanup = meterPage(view, decodeURIComponent(arg));
  else if (page === "alarms") cleanup = alarmsPage(view);
  else if (page === "models") cleanup = modelsPage(view);
  else cleanup = overview(view);
}

onChange(() => { document.getElementById("alarm-count").textContent = String(state.alarms.length); });
window.addEventListener("hashchange", route);
route();
connectLive(document.getElementById("live-status"));
