// WebSocket /v1/live: every assessment of the feeder, reconnecting after a drop.
import { token } from "./auth.js";
import { addAssessment } from "./store.js";

export function connectLive(statusElement, params = {}) {
  let delay = 500;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams(params);
    if (token()) query.set("access_token", token()); // browsers cannot set headers on a WebSocket
    const socket = new WebSocket(`${scheme}://${location.host}/v1/live?${query}`);
    socket.onopen = () => { delay = 500; statusElement.textContent = "live"; statusElement.className = "live on"; };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "assessment") addAssessment(message.assessment, message.dropped);
      else if (message.type === "error") statusElement.title = message.message;
    };
    socket.onclose = () => {
      statusElement.textContent = "reconnecting…"; statusElement.className = "live off";
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
}
