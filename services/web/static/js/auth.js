// The bearer token when the mesh runs with GRIDTWIN_AUTH=on: open the dashboard once as
// /?token=<jwt>; it is kept for this browser tab only (sessionStorage) and removed from the URL.
const KEY = "gridtwin.token";
const given = new URLSearchParams(location.search).get("token");
if (given) {
  sessionStorage.setItem(KEY, given);
  history.replaceState(null, "", location.pathname + location.hash);
}
export const token = () => sessionStorage.getItem(KEY);
export const authHeaders = () => (token() ? { Authorization: `Bearer ${token()}` } : {});
