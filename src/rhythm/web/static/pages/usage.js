// The Screen time page: one local day of usage in a chosen time zone — each device's timeline
// of window intervals with its AFK periods (GET /api/v1/usage/timeline), the top apps, domains
// and categories (GET /api/v1/usage/report), editor time by project and language
// (GET /api/v1/editors/summary) — and the category rules editor (/api/v1/usage/categories).
// Every chart's figures are also a table for screen readers.
import {
  ApiError,
  Card,
  ChartBox,
  Field,
  Loading,
  Problem,
  api,
  clock,
  dayLabel,
  duration,
  html,
  mount,
  palette,
  todayIn,
  useApi,
  useEffect,
  useMe,
  useState,
} from "../app.js";

const TOP = 10; // bars per chart
const CHART_HEIGHT = 260;
const OTHER_APPS = "#6b7280";
const HOUR = 3600 * 1000;

// ---- Days, zones and errors --------------------------------------------------------------

function shiftDay(isoDate, days) {
  const d = new Date(`${isoDate}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function zoneNames() {
  const names =
    typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return names.includes("UTC") ? names : ["UTC", ...names];
}

// A problem's field errors under the form's own labels ("Pattern: invalid regex: ..."),
// without the detail that repeats them.
const FIELD_LABELS = {
  "query.timezone": "Time zone",
  "query.date": "Day",
  name: "Category",
  "rule.type": "Rule",
  "rule.regex": "Pattern",
  rule: "Rule",
};

function readable(error) {
  if (!(error instanceof ApiError) || !error.errors.length) return error;
  const errors = error.errors.map((e) => {
    const labelled = (f) => e.field === f || e.field.startsWith(`${f}.`);
    const known = Object.keys(FIELD_LABELS).find(labelled);
    return {
      field: known ? FIELD_LABELS[known] : e.field,
      message: e.message.replace(/^Value error, /, ""),
    };
  });
  return { message: "", errors };
}

// A request not sent yet (the zone is not known) reads as loading.
function pending(state) {
  return state.data || state.error ? state : { loading: true, data: null, error: null };
}

// ---- Charts ------------------------------------------------------------------------------

function barConfig(items, colour) {
  return {
    type: "bar",
    data: {
      labels: items.map((i) => i.name),
      datasets: [
        {
          label: "Minutes",
          data: items.map((i) => Math.round(i.seconds / 6) / 10),
          backgroundColor: colour,
          maxBarThickness: 28,
        },
      ],
    },
    options: {
      indexAxis: "y",
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (ctx) => duration(ctx.raw * 60) } },
      },
      scales: {
        x: { beginAtZero: true, title: { display: true, text: "minutes" } },
        y: {
          ticks: {
            autoSkip: false,
            callback(value) {
              const label = this.getLabelForValue(value);
              return label.length > 22 ? `${label.slice(0, 21)}…` : label;
            },
          },
        },
      },
    },
  };
}

function EmptyBox({ children }) {
  return html`<div class="chart-empty" style=${{ height: `${CHART_HEIGHT}px` }}>${children}</div>`;
}

// A horizontal bar chart of the most time first, and the same figures as a table.
function TopBars({ items, colour, what, caption }) {
  const top = items.slice(0, TOP);
  if (!top.length) return html`<${EmptyBox}><p class="muted">Nothing recorded.</p><//>`;
  const label = `${caption}: ${top.map((i) => `${i.name} ${duration(i.seconds)}`).join(", ")}`;
  return html`<${ChartBox} config=${barConfig(top, colour)} label=${label} height=${CHART_HEIGHT} />
    <table class="sr-only">
      <caption>${caption}</caption>
      <thead>
        <tr><th scope="col">${what}</th><th scope="col" class="num">Time</th></tr>
      </thead>
      <tbody>
        ${top.map(
          (i) => html`<tr key=${i.name}>
            <td>${i.name}</td>
            <td class="num">${duration(i.seconds)}</td>
          </tr>`,
        )}
      </tbody>
    </table>`;
}

// A chart's place: a box of the chart's height until the data is there (or a readable
// problem, unless `quiet`: another slot of the card shows it), so that nothing moves on load.
function ChartSlot({ state, what, quiet, children }) {
  if (state.data) return children(state.data);
  if (!state.error) return html`<${EmptyBox}><p class="muted">Loading…</p><//>`;
  return html`<${EmptyBox}>
    ${quiet ? null : html`<${Problem} error=${readable(state.error)} what=${`load ${what}`} />`}
  <//>`;
}

function Figure({ label, seconds }) {
  const shown = seconds === undefined ? "…" : duration(seconds);
  return html`<p class="muted total">${label}: <strong>${shown}</strong></p>`;
}

function TopCard({ id, title, what, state, colour, total }) {
  return html`<${Card} title=${title} id=${id} tall>
    ${total
      ? html`<${Figure} label="Active screen time" seconds=${state.data?.total_seconds} />`
      : null}
    <${ChartSlot} state=${state} what=${`the ${title.toLowerCase()}`}>
      ${(report) => html`<${TopBars}
        items=${report.items.map((i) => ({ name: i.key, seconds: i.seconds }))}
        colour=${colour}
        what=${what}
        caption=${`${title}, ${dayLabel(report.date)}`}
      />`}
    <//>
  <//>`;
}

function EditorCard({ state }) {
  const half = (title, key, what, colour, quiet) => html`<div>
    <h3>${title}</h3>
    <${ChartSlot} state=${state} what="the editor time" quiet=${quiet}>
      ${(summary) => html`<${TopBars}
        items=${summary[key]}
        colour=${colour}
        what=${what}
        caption=${`Editor time ${title.toLowerCase()}`}
      />`}
    <//>
  </div>`;
  return html`<${Card} title="Editor time" id="editor-time" wide tall>
    <${Figure} label="In editors" seconds=${state.data?.total_seconds} />
    <div class="split">
      ${half("By project", "projects", "Project", palette[5], false)}
      ${half("By language", "languages", "Language", palette[6], true)}
    </div>
  <//>`;
}

// ---- Timeline ----------------------------------------------------------------------------

// The apps with most time on the day get the palette's colours; the others share one.
function appColours(hosts) {
  const totals = new Map();
  for (const host of hosts) {
    for (const w of host.windows) {
      const app = w.app || "Unknown";
      totals.set(app, (totals.get(app) || 0) + Date.parse(w.end) - Date.parse(w.start));
    }
  }
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const colours = new Map(ranked.slice(0, palette.length).map(([app], i) => [app, palette[i]]));
  return { colours, others: ranked.length > palette.length };
}

function seconds(spans) {
  return spans.reduce((n, s) => n + (Date.parse(s.end) - Date.parse(s.start)) / 1000, 0);
}

const AWAY = "Away (AFK)";
const PRESENT = "Active (not AFK)";

// One bar of a host: its spans placed on the day, each painted by a colour or a class.
function Track({ label, bars }) {
  return html`<div class="tl-row">
    <span class="tl-label">${label}</span>
    <div class="timeline tl-track" aria-hidden="true">
      ${bars.map(
        (b, i) => html`<span
          key=${i}
          class=${b.cls}
          style=${{ left: b.left, width: b.width, background: b.colour }}
          title=${b.title}
        ></span>`,
      )}
    </div>
  </div>`;
}

// The same intervals as text, built when opened (a day may have thousands).
function IntervalTable({ day, zone }) {
  const [open, setOpen] = useState(false);
  const rows = [];
  if (open) {
    for (const { host, windows, afk } of day.hosts) {
      for (const w of windows) rows.push({ host, ...w, what: w.app || "Unknown" });
      for (const a of afk) rows.push({ host, ...a, what: a.status === "afk" ? AWAY : PRESENT });
    }
    rows.sort((a, b) => a.host.localeCompare(b.host) || Date.parse(a.start) - Date.parse(b.start));
  }
  return html`<details onToggle=${(e) => setOpen(e.currentTarget.open)}>
    <summary>The intervals as a table</summary>
    ${open
      ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Intervals">
          <table class="intervals">
            <thead>
              <tr>
                <th scope="col">Device</th><th scope="col">From</th><th scope="col">To</th>
                <th scope="col">App or status</th><th scope="col">Title</th>
              </tr>
            </thead>
            <tbody>
              ${rows.map(
                (r, i) => html`<tr key=${i}>
                  <td>${r.host}</td><td>${clock(r.start, zone)}</td><td>${clock(r.end, zone)}</td>
                  <td>${r.what}</td><td class="title">${r.title || ""}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        </div>`
      : null}
  </details>`;
}

function DayTimeline({ day, zone }) {
  if (!day.hosts.length) {
    return html`<p class="muted">Nothing recorded on ${dayLabel(day.date)}.</p>`;
  }
  const t0 = Date.parse(day.start);
  const length = Date.parse(day.end) - t0;
  const at = (instant) => `${((Date.parse(instant) - t0) / length) * 100}%`;
  const bar = (s, paint, what) => ({
    left: at(s.start),
    width: `${((Date.parse(s.end) - Date.parse(s.start)) / length) * 100}%`,
    title: `${clock(s.start, zone)}–${clock(s.end, zone)} ${what}`,
    ...paint,
  });
  const { colours, others } = appColours(day.hosts);
  const ticks = [];
  for (let t = t0; t < t0 + length; t += 6 * HOUR) ticks.push(new Date(t).toISOString());
  const count = (n) => n.toLocaleString("en");
  return html`
    ${day.truncated
      ? html`<p class="notice">
          This day has ${count(day.windows_total)} window intervals and ${count(day.afk_total)}
          AFK periods; the ${count(day.max_intervals)} longest of each are shown.
        </p>`
      : null}
    ${day.hosts.map((host) => {
      const apps = host.windows.map((w) => {
        const app = w.app || "Unknown";
        const paint = { colour: colours.get(app) || OTHER_APPS };
        return bar(w, paint, w.title ? `${app} — ${w.title}` : app);
      });
      const presence = host.afk.map((a) =>
        a.status === "afk"
          ? bar(a, { cls: "tl-away" }, AWAY)
          : bar(a, { cls: "tl-active" }, PRESENT),
      );
      const away = seconds(host.afk.filter((a) => a.status === "afk"));
      const summary = `${duration(seconds(host.windows))} in windows${
        host.afk.length ? `, away ${duration(away)}` : ""
      }`;
      return html`<div class="tl-host" key=${host.host}>
        <h3>${host.host} <span class="muted">· ${summary}</span></h3>
        <${Track} label="Apps" bars=${apps} />
        <${Track} label="Presence" bars=${presence} />
      </div>`;
    })}
    <div class="tl-row" aria-hidden="true">
      <span class="tl-label"></span>
      <div class="tl-axis">
        ${ticks.map(
          (t, i) => html`<span key=${t} class=${i % 2 ? "minor" : ""} style=${{ left: at(t) }}>
            ${clock(t, zone)}
          </span>`,
        )}
      </div>
    </div>
    <ul class="legend" aria-label="Legend">
      ${[...colours.entries()].map(
        ([app, colour]) => html`<li key=${app}>
          <span class="swatch" style=${{ background: colour }}></span>${app}
        </li>`,
      )}
      ${others
        ? html`<li><span class="swatch" style=${{ background: OTHER_APPS }}></span>Other apps</li>`
        : null}
      <li><span class="swatch tl-active"></span>${PRESENT}</li>
      <li><span class="swatch tl-away"></span>${AWAY}</li>
    </ul>
    <${IntervalTable} day=${day} zone=${zone} />`;
}

// ---- Day and zone ------------------------------------------------------------------------

// The day and the zone; rendered at once (disabled until the profile's zone is known), so
// that the page does not move when it is. A zone is checked by the API (its 422 names it)
// before the page switches to it.
function DayPicker({ day, zone, home, onDay, onZone }) {
  const [draft, setDraft] = useState(zone || "");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setDraft(zone || ""), [zone]);
  const ready = Boolean(zone);
  const apply = async (event) => {
    event.preventDefault();
    const candidate = draft.trim();
    setError(null);
    if (!ready || candidate === zone) return;
    setBusy(true);
    try {
      await api("/api/v1/usage/timeline", { query: { date: day, timezone: candidate } });
      onZone(candidate);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const pick = (event) => event.currentTarget.value && onDay(event.currentTarget.value);
  const mine = () => {
    setError(null);
    onZone(home);
  };
  let hint = "\u00a0";
  if (ready) hint = zone === home ? "Your time zone." : `Your time zone is ${home}.`;
  return html`<form class="picker" onSubmit=${apply}>
    <div class="row">
      <${Field} label="Day" id="usage-day">
        <input
          id="usage-day"
          type="date"
          value=${day || ""}
          min="1970-01-01"
          max="2199-12-31"
          disabled=${!ready}
          onChange=${pick}
        />
      <//>
      <div class="day-steps">
        <button type="button" disabled=${!ready} onClick=${() => onDay(shiftDay(day, -1))}>
          Previous day
        </button>
        <button type="button" disabled=${!ready} onClick=${() => onDay(shiftDay(day, 1))}>
          Next day
        </button>
      </div>
      <${Field} label="Time zone" id="usage-zone" hint=${hint}>
        <input
          id="usage-zone"
          list="usage-zones"
          value=${draft}
          autocomplete="off"
          spellcheck=${false}
          maxlength="64"
          disabled=${!ready}
          aria-describedby="usage-zone-hint"
          onInput=${(e) => setDraft(e.currentTarget.value)}
        />
      <//>
      <div class="day-steps">
        <button type="submit" class="primary" disabled=${busy || !ready}>Use this time zone</button>
        ${ready && zone !== home
          ? html`<button type="button" onClick=${mine}>Back to mine</button>`
          : null}
      </div>
    </div>
    <datalist id="usage-zones">
      ${zoneNames().map((z) => html`<option key=${z} value=${z} />`)}
    </datalist>
    <p class="muted shown-in">
      ${ready
        ? html`Showing <strong>${dayLabel(day)}</strong> in <strong>${zone}</strong>.`
        : "Loading…"}
    </p>
    <${Problem} error=${readable(error)} what="use this time zone" />
  </form>`;
}

// ---- Category rules ----------------------------------------------------------------------

const BLANK = { name: "", type: "regex", regex: "", ignoreCase: false };

function ruleText(rule) {
  if (rule.type === "none") return "no rule of its own";
  return `${rule.regex}${rule.ignore_case ? " (ignore case)" : ""}`;
}

function RuleRow({ rule, busy, onEdit, onDelete }) {
  const name = rule.name.join(" > ");
  return html`<tr>
    <td><span class="rule-name">${name}</span> <code>${ruleText(rule.rule)}</code></td>
    <td class="actions">
      <button type="button" aria-label=${`Edit ${name}`} onClick=${() => onEdit(rule)}>Edit</button>
      <button
        type="button"
        class="danger"
        aria-label=${`Delete ${name}`}
        disabled=${busy}
        onClick=${() => onDelete(rule)}
      >
        Delete
      </button>
    </td>
  </tr>`;
}

function CategoryRules({ onChanged }) {
  const rules = useApi("/api/v1/usage/categories");
  const [form, setForm] = useState(BLANK);
  const [editing, setEditing] = useState(null);
  const [failure, setFailure] = useState(null); // { error, what }
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const set = (key) => (e) => {
    const input = e.currentTarget;
    setForm({ ...form, [key]: input.type === "checkbox" ? input.checked : input.value });
  };
  const reset = () => {
    setForm(BLANK);
    setEditing(null);
    setFailure(null);
  };
  const run = async (what, work) => {
    setBusy(true);
    setDone("");
    setFailure(null);
    try {
      setDone(await work());
      reset();
      rules.reload();
      onChanged();
    } catch (error) {
      setFailure({ error, what });
    } finally {
      setBusy(false);
    }
  };
  const save = (event) => {
    event.preventDefault();
    const name = form.name.split(">").map((part) => part.trim()).filter(Boolean);
    const rule =
      form.type === "regex"
        ? { type: "regex", regex: form.regex, ignore_case: form.ignoreCase }
        : { type: "none" };
    run("save the rule", async () => {
      const body = { name, rule };
      if (editing) await api(`/api/v1/usage/categories/${editing}`, { method: "PUT", body });
      else await api("/api/v1/usage/categories", { method: "POST", body });
      return `Saved ${name.join(" > ")}.`;
    });
  };
  const edit = (rule) => {
    setEditing(rule.id);
    setFailure(null);
    setDone("");
    const { type, regex, ignore_case: ignoreCase } = rule.rule;
    setForm({ name: rule.name.join(" > "), type, regex: regex || "", ignoreCase });
    document.getElementById("rule-name")?.focus();
  };
  const remove = (rule) =>
    run(`delete ${rule.name.join(" > ")}`, async () => {
      await api(`/api/v1/usage/categories/${rule.id}`, { method: "DELETE" });
      return `Deleted ${rule.name.join(" > ")}.`;
    });
  const none = form.type === "none";
  return html`<${Card} title="Category rules" id="category-rules" wide>
    <p class="muted">
      An interval's category is the deepest one whose pattern is found in its app, title or URL.
      Changes apply to every day at once.
    </p>
    <form
      class="rule-form"
      onSubmit=${save}
      aria-label=${editing ? "Edit a category rule" : "Add a category rule"}
    >
      <div class="row">
        <${Field} label="Category" id="rule-name" hint="A path, like Work > Programming.">
          <input
            id="rule-name"
            required
            maxlength="1400"
            value=${form.name}
            onInput=${set("name")}
            aria-describedby="rule-name-hint"
          />
        <//>
        <${Field} label="Rule" id="rule-type">
          <select id="rule-type" value=${form.type} onChange=${set("type")}>
            <option value="regex">Pattern (regex)</option>
            <option value="none">None (a parent only)</option>
          </select>
        <//>
        <${Field} label="Pattern" id="rule-regex" hint="RE2 syntax, e.g. code|vim">
          <input
            id="rule-regex"
            maxlength="1000"
            value=${form.regex}
            disabled=${none}
            onInput=${set("regex")}
            aria-describedby="rule-regex-hint"
            spellcheck=${false}
          />
        <//>
        <div class="field check">
          <input
            id="rule-ignore-case"
            type="checkbox"
            checked=${form.ignoreCase}
            disabled=${none}
            onChange=${set("ignoreCase")}
          />
          <label for="rule-ignore-case">Ignore case</label>
        </div>
      </div>
      <${Problem} error=${readable(failure?.error)} what=${failure?.what} />
      <div class="row">
        <button type="submit" class="primary" disabled=${busy}>
          ${editing ? "Save changes" : "Add rule"}
        </button>
        ${editing ? html`<button type="button" onClick=${reset}>Cancel</button>` : null}
      </div>
      <p role="status" class="muted">${done}</p>
    </form>
    <${Loading} state=${rules} what="load the rules">
      ${(list) =>
        list.length
          ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Category rules">
              <table class="rules">
                <thead>
                  <tr>
                    <th scope="col">Category and pattern</th>
                    <th scope="col"><span class="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  ${list.map(
                    (rule) => html`<${RuleRow}
                      key=${rule.id}
                      rule=${rule}
                      busy=${busy}
                      onEdit=${edit}
                      onDelete=${remove}
                    />`,
                  )}
                </tbody>
              </table>
            </div>`
          : html`<p class="muted">No rules: everything is Uncategorized.</p>`}
    <//>
  <//>`;
}

// ---- The page ----------------------------------------------------------------------------

// The top charts, one report each.
const TOPS = [
  { id: "top-apps", title: "Top apps", what: "App", groupBy: "app", total: true },
  { id: "top-domains", title: "Top domains", what: "Domain", groupBy: "domain" },
  { id: "top-categories", title: "Top categories", what: "Category", groupBy: "category" },
];
const TOP_COLOURS = [palette[0], palette[1], palette[3]];

function Page() {
  const me = useMe();
  const [chosenZone, setZone] = useState(null);
  const [chosenDay, setDay] = useState(null);
  const zone = chosenZone || me?.timezone;
  const day = chosenDay || (zone ? todayIn(zone) : null);
  const when = { date: day, timezone: zone };
  const read = (path, query) => useApi(zone ? path : null, query);
  const reports = TOPS.map((top) =>
    read("/api/v1/usage/report", { ...when, group_by: top.groupBy }),
  );
  const timeline = read("/api/v1/usage/timeline", when);
  const editors = read("/api/v1/editors/summary", { from: day, to: day, timezone: zone });
  const categories = reports[TOPS.findIndex((top) => top.groupBy === "category")];
  return html`<div class="grid usage">
    <${Card} title="Day and time zone" id="usage-day-card" wide>
      <${DayPicker}
        day=${day}
        zone=${zone}
        home=${me?.timezone}
        onDay=${setDay}
        onZone=${setZone}
      />
    <//>
    <${Card} title="Timeline" id="usage-timeline" wide>
      <${Loading} state=${pending(timeline)} what="load the timeline">
        ${(found) => html`<${DayTimeline} day=${found} zone=${zone} />`}
      <//>
    <//>
    ${TOPS.map(
      (top, i) => html`<${TopCard}
        key=${top.id}
        ...${top}
        colour=${TOP_COLOURS[i]}
        state=${reports[i]}
      />`,
    )}
    <${EditorCard} state=${editors} />
    <${CategoryRules} onChanged=${categories.reload} />
  </div>`;
}

mount(Page);
