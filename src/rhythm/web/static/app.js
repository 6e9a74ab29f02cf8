// What every dashboard page shares: rendering (Preact with htm), the API client (the session
// cookie, the CSRF header, one refresh on 401, problem+json as readable errors), formatting,
// charts, and the page frame (sign-out, error display). A page is a module in pages/ that calls
// mount(Page).
import { Component, h, render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import htm from "./vendor/htm.mjs";

export const html = htm.bind(h);
export { useCallback, useEffect, useRef, useState };

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `The server answered ${status}.`);
    this.status = status;
    this.problem = problem;
    this.errors = problem.errors || [];
  }
}

function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("rhythm_csrf="));
  return found ? decodeURIComponent(found.slice("rhythm_csrf=".length)) : "";
}

function toSignIn() {
  const next = location.pathname + location.search;
  location.assign(`/signin?next=${encodeURIComponent(next)}`);
  return new Promise(() => {});
}

async function send(path, { method = "GET", body, query } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { detail: `The server answered ${response.status} ${response.statusText}.` };
  }
}

let refreshing = null;

async function refreshSession() {
  refreshing ??= send("/web/session/refresh", { method: "POST" }).finally(() => {
    refreshing = null;
  });
  return (await refreshing).ok;
}

// Calls rhythm's JSON API as the signed-in browser; resolves to the parsed body (null for 204)
// or throws an ApiError whose message is the problem's detail.
export async function api(path, options = {}) {
  let response;
  try {
    response = await send(path, options);
    if (response.status === 401 && !options.noRefresh) {
      if (!(await refreshSession())) return toSignIn();
      response = await send(path, options);
    }
  } catch {
    throw new ApiError(0, { detail: "rhythm cannot be reached. Check your connection and retry." });
  }
  if (response.status === 401 && !options.noRefresh) return toSignIn();
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response.status === 204 ? null : response.json();
}

// { data, error, loading, reload } of a GET; refetched when `path` or `query` change.
export function useApi(path, query) {
  const key = path === null ? null : path + JSON.stringify(query || {});
  const [state, setState] = useState({ data: null, error: null, loading: key !== null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (key === null) return undefined;
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    api(path, { query })
      .then((data) => live && setState({ data, error: null, loading: false }))
      .catch((error) => live && setState({ data: null, error, loading: false }));
    return () => {
      live = false;
    };
  }, [key, tick]);
  return { ...state, reload: useCallback(() => setTick((t) => t + 1), []) };
}

let meRequest = null;
// The signed-in user (GET /api/v1/users/me), fetched once per page.
export function useMe() {
  const [me, setMe] = useState(null);
  useEffect(() => {
    meRequest ??= api("/api/v1/users/me");
    meRequest.then(setMe).catch(() => {});
  }, []);
  return me;
}

// A readable message for a failed request or action, announced to screen readers.
export function Problem({ error, what }) {
  if (!error) return null;
  const fields = (error.errors || []).map(
    (e) => html`<li key=${e.field}><code>${e.field}</code>: ${e.message}</li>`,
  );
  return html`<div class="problem" role="alert">
    <strong>${what ? `Could not ${what}.` : "Something went wrong."}</strong> ${error.message}
    ${fields.length ? html`<ul>${fields}</ul>` : null}
  </div>`;
}

// A section of a page: a heading and its content, with a fixed minimum height so that the
// page does not shift while it loads.
export function Card({ title, children, wide, tall, id }) {
  const cls = ["card", wide ? "wide" : "", tall ? "tall" : ""].join(" ").trim();
  const headingId = id ? `${id}-title` : undefined;
  return html`<section class=${cls} id=${id} aria-labelledby=${headingId}>
    <h2 id=${headingId}>${title}</h2>
    ${children}
  </section>`;
}

export function Loading({ state, children, what }) {
  if (state.error) return html`<${Problem} error=${state.error} what=${what || "load this"} />`;
  if (state.loading && !state.data) return html`<p class="muted">Loading…</p>`;
  return children(state.data);
}

// A labelled form control.
export function Field({ label, hint, id, children }) {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${children}
    ${hint ? html`<small class="muted" id=${`${id}-hint`}>${hint}</small>` : null}
  </div>`;
}

// A button that runs an async action, disables itself meanwhile and reports a failure.
export function Action({ run, label, what, kind, type = "button" }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const click = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await run();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<span class="action">
    <button type=${type} class=${kind || ""} onClick=${click} disabled=${busy}>${label}</button>
    <${Problem} error=${error} what=${what} />
  </span>`;
}

// A Chart.js chart (the vendored UMD build the page's shell loads); `label` describes it for
// screen readers; the canvas sits in a box of fixed height.
export function ChartBox({ config, label, height = 260 }) {
  const canvas = useRef(null);
  useEffect(() => {
    if (!window.Chart || !canvas.current) return undefined;
    const chart = new window.Chart(canvas.current, {
      ...config,
      options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
    });
    return () => chart.destroy();
  }, [JSON.stringify(config.data), JSON.stringify(config.options || {})]);
  return html`<div class="chart" style=${{ height: `${height}px` }}>
    <canvas ref=${canvas} role="img" aria-label=${label}></canvas>
  </div>`;
}

// "7 h 05 min", "42 min", "12 s".
export function duration(seconds) {
  const s = Math.round(seconds || 0);
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

// "23:14" for an instant, in a time zone.
export function clock(iso, timeZone) {
  return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone }).format(
    new Date(iso),
  );
}

// "Mon 3 Mar" for a YYYY-MM-DD date.
export function dayLabel(isoDate) {
  const d = new Date(`${isoDate}T12:00:00Z`);
  return new Intl.DateTimeFormat("en-GB", {
    weekday: "short",
    day: "numeric",
    month: "short",
    timeZone: "UTC",
  }).format(d);
}

// Today's date (YYYY-MM-DD) in a time zone.
export function todayIn(timeZone) {
  return new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date());
}

export const palette = ["#1f5fa8", "#c2410c", "#047857", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#be185d"];

class Boundary extends Component {
  constructor() {
    super();
    this.state = { error: null };
  }
  componentDidCatch(error) {
    // Logged as well as shown: a page that fails to render is a bug, and the browser tests
    // fail on any console error.
    console.error(error);
    this.setState({ error });
  }
  render() {
    if (this.state.error) {
      return html`<div class="problem" role="alert">
        <strong>This page could not be shown.</strong> Reload it; if it keeps failing, the
        server's log has the details.
      </div>`;
    }
    return this.props.children;
  }
}

function wireSignOut() {
  const button = document.getElementById("sign-out");
  if (!button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("/web/session", { method: "DELETE", noRefresh: true });
    } catch {
      // Signed out already, or the server is away: the cookies are the server's to clear.
    }
    location.assign("/signin");
  });
}

// Renders a page component into the shell's #app.
export function mount(Page) {
  wireSignOut();
  const root = document.getElementById("app");
  root.textContent = "";
  render(html`<${Boundary}><${Page} /><//>`, root);
}

// The wall-clock fields of an instant (a Date or milliseconds) in a time zone, as numbers.
function wallClock(instant, timeZone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(instant));
  const field = (type) => Number(parts.find((p) => p.type === type).value);
  return {
    year: field("year"),
    month: field("month"),
    day: field("day"),
    hour: field("hour"),
    minute: field("minute"),
    second: field("second"),
  };
}

// "2025-03-03T09:05", the value of a datetime-local input, for an instant in a time zone.
export function localInput(instant, timeZone) {
  const w = wallClock(instant, timeZone);
  const two = (n) => String(n).padStart(2, "0");
  return `${w.year}-${two(w.month)}-${two(w.day)}T${two(w.hour)}:${two(w.minute)}`;
}

// The instant (a Date) of a wall-clock time "YYYY-MM-DDTHH:MM" in a time zone, whatever the
// browser's own zone; a time skipped by a DST change lands just after it.
export function zonedInstant(local, timeZone) {
  const [day, time] = local.split("T");
  const [y, m, d] = day.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  const offset = (instant) => {
    const w = wallClock(instant, timeZone);
    const seen = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
    return seen - Math.floor(instant / 1000) * 1000;
  };
  const guess = wall - offset(wall);
  return new Date(wall - offset(guess));
}
// "3 Mar 2025, 14:02" for an instant, in a time zone (the browser's when none is given).
export function dateTime(iso, timeZone) {
  return new Intl.DateTimeFormat("en-GB", {
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: timeZone || undefined,
  }).format(new Date(iso));
}

// The pages of a cursor-paginated list ({data, next_cursor}) as one growing list:
// { data, cursor, error, loading, more, reload }. The first page is read again when `path` or
// `query` change and on reload(); a null path reads nothing.
export function usePaged(path, query) {
  const key = path === null ? null : path + JSON.stringify(query || {});
  const [state, setState] = useState({ data: [], cursor: null, error: null, loading: key !== null });
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  const load = (cursor) => {
    const run = ++latest.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    api(path, { query: { ...query, cursor } })
      .then((page) => {
        if (run !== latest.current) return;
        setState((s) => ({
          data: cursor ? [...s.data, ...page.data] : page.data,
          cursor: page.next_cursor,
          error: null,
          loading: false,
        }));
      })
      .catch((error) => {
        if (run !== latest.current) return;
        // A failed first page leaves nothing of the previous list; a failed next page keeps it.
        setState((s) => ({ ...s, data: cursor ? s.data : [], error, loading: false }));
      });
  };
  useEffect(() => {
    if (key !== null) load(null);
  }, [key, tick]);
  return {
    ...state,
    more: () => load(state.cursor),
    reload: useCallback(() => setTick((t) => t + 1), []),
  };
}
