// The Sleep page: going to bed and waking up (clock in and out), the last 8 weeks of nights as
// a chart with their bed and wake times (and the same figures as a table), the weekly ranking
// of the people followed, a form to add a past night, and the latest nights with a form to
// correct one (its times, or closing a forgotten night) and to rate, tag and annotate it (the
// owner's alone: followers never see them). Days and times are the user's zone's.
import {
  Action,
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
  localInput,
  mount,
  palette,
  todayIn,
  useApi,
  useCallback,
  useEffect,
  useMe,
  useRef,
  useState,
  zonedInstant,
} from "../app.js";

const DAYS = 56; // the chart's 8 weeks
const PAGE = 100; // records per request (the API's maximum)
const MAX_PAGES = 5; // enough for 8 weeks of nights and naps; the chart says when it stops short
const WEEKS_LISTED = 8; // weeks offered in the ranking's picker
const RECENT = 10; // nights listed for correcting
const MAX_TAGS = 10; // the API's bounds on a night's notes
const NOTE_LENGTH = 1000;

// Calendar dates (YYYY-MM-DD) are computed at UTC noon, where no DST change moves a day.
function shiftDay(iso, days) {
  const d = new Date(`${iso}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const localDay = (iso, timeZone) => new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date(iso));

// The clock time of an instant in hours, from -12 (noon the day before) to +12 (noon): a
// bedtime before midnight and a wake time after it sit on one continuous axis.
function clockHours(iso, timeZone) {
  const [h, m] = clock(iso, timeZone).split(":").map(Number);
  const hours = h + m / 60;
  return hours >= 12 ? hours - 24 : hours;
}

// Markers sized to the bars: 56 of them share a phone's width.
const markerSize = (context) => (context.chart.width < 600 ? 2.5 : 5);

const hourLabel = (value) => `${String((((Math.round(value) % 24) + 24) % 24)).padStart(2, "0")}:00`;

// "2026-W05" for a date.
function isoWeek(iso) {
  const d = new Date(`${iso}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 3 - ((d.getUTCDay() + 6) % 7)); // that week's Thursday
  const year = d.getUTCFullYear();
  const week = 1 + Math.floor((d - Date.UTC(year, 0, 1, 12)) / 86_400_000 / 7);
  return `${year}-W${String(week).padStart(2, "0")}`;
}

// The user's records of the last 8 weeks and the open night, newest first (GET
// /api/v1/sleep/records, page by page until the pages are older than that).
function useRecords() {
  const [state, setState] = useState({ data: null, error: null, loading: true, partial: false });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const since = Date.now() - (DAYS + 1) * 86_400_000;
    (async () => {
      const found = [];
      let cursor = null;
      for (let n = 0; n < MAX_PAGES; n += 1) {
        const page = await api("/api/v1/sleep/records", { query: { limit: PAGE, cursor } });
        found.push(...page.data);
        cursor = page.next_cursor;
        const last = page.data[page.data.length - 1];
        if (!cursor || !last || Date.parse(last.sleep_at) < since) return { found, partial: false };
      }
      return { found, partial: true };
    })()
      .then(({ found, partial }) => live && setState({ data: found, error: null, loading: false, partial }))
      .catch((error) => live && setState({ data: null, error, loading: false, partial: false }));
    return () => {
      live = false;
    };
  }, [tick]);
  return { ...state, reload: useCallback(() => setTick((t) => t + 1), []) };
}

function Bed({ latest, zone, onChange }) {
  const post = (path) => async () => {
    await api(path, { method: "POST", body: {} });
    onChange();
  };
  if (latest && latest.status === "sleeping") {
    const discard = async () => {
      await api(`/api/v1/sleep/records/${latest.id}`, { method: "DELETE" });
      onChange();
    };
    return html`<p class="figure">In bed</p>
      <p id="bed-state">In bed since ${clock(latest.sleep_at, zone)} (${dayLabel(localDay(latest.sleep_at, zone))}).</p>
      <div class="row">
        <${Action} kind="primary" label="Clock out" what="clock out" run=${post("/api/v1/sleep/clock-out")} />
        <${Action} kind="danger" label="Discard this bedtime" what="discard the bedtime" run=${discard} />
      </div>`;
  }
  const last = latest
    ? `Last woke up at ${clock(latest.wake_at, zone)} on ${dayLabel(localDay(latest.wake_at, zone))}.`
    : "No night recorded yet.";
  return html`<p class="figure">Awake</p>
    <p id="bed-state">${last} Clock in when you go to bed.</p>
    <${Action} kind="primary" label="Clock in" what="clock in" run=${post("/api/v1/sleep/clock-in")} />`;
}

// Each local date of the 8 weeks: the nights that ended on it (total slept), with the bed and
// wake times of its longest night.
function nightsByDay(records, zone) {
  const today = todayIn(zone);
  const days = new Map();
  for (let n = DAYS - 1; n >= 0; n -= 1) days.set(shiftDay(today, -n), null);
  for (const r of records) {
    if (r.status !== "completed") continue;
    const day = localDay(r.wake_at, zone);
    if (!days.has(day)) continue;
    const seen = days.get(day);
    if (!seen) days.set(day, { seconds: r.duration_seconds, nights: 1, longest: r });
    else {
      seen.seconds += r.duration_seconds;
      seen.nights += 1;
      if (r.duration_seconds > seen.longest.duration_seconds) seen.longest = r;
    }
  }
  return [...days].map(([day, found]) => ({ day, ...found }));
}

function NightsChart({ records, zone, partial }) {
  const days = nightsByDay(records, zone);
  const slept = days.filter((d) => d.longest);
  if (!slept.length) {
    return html`<p class="muted empty">
      No nights in the last 8 weeks yet — clock in tonight, or add a past night below.
    </p>`;
  }
  const bed = days.map((d) => (d.longest ? clockHours(d.longest.sleep_at, zone) : null));
  const wake = days.map((d) => (d.longest ? clockHours(d.longest.wake_at, zone) : null));
  const clocks = [...bed, ...wake].filter((v) => v !== null);
  const average = slept.reduce((s, d) => s + d.seconds, 0) / slept.length;
  const config = {
    type: "bar",
    data: {
      labels: days.map((d) => dayLabel(d.day)),
      datasets: [
        {
          type: "bar",
          label: "Slept (hours)",
          data: days.map((d) => (d.longest ? Math.round(d.seconds / 36) / 100 : null)),
          backgroundColor: "#6b8fd6",
          pointStyle: "rect",
          yAxisID: "y",
          order: 2,
        },
        {
          type: "line",
          label: "Bedtime",
          data: bed,
          clocks: days.map((d) => (d.longest ? clock(d.longest.sleep_at, zone) : "")),
          yAxisID: "clock",
          showLine: false,
          pointStyle: "triangle",
          pointRadius: markerSize,
          backgroundColor: palette[1],
          borderColor: palette[1],
          order: 1,
        },
        {
          type: "line",
          label: "Wake time",
          data: wake,
          clocks: days.map((d) => (d.longest ? clock(d.longest.wake_at, zone) : "")),
          yAxisID: "clock",
          showLine: false,
          pointStyle: "rectRot",
          pointRadius: markerSize,
          backgroundColor: palette[2],
          borderColor: palette[2],
          order: 1,
        },
      ],
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { autoSkip: true, maxRotation: 0 } },
        y: { beginAtZero: true, suggestedMax: 10, title: { display: true, text: "Hours slept" } },
        clock: {
          position: "right",
          min: Math.min(-4, Math.floor(Math.min(...clocks)) - 1),
          max: Math.max(10, Math.ceil(Math.max(...clocks)) + 1),
          grid: { drawOnChartArea: false },
          ticks: { stepSize: 2, callback: hourLabel },
          title: { display: true, text: "Clock time" },
        },
      },
      plugins: {
        legend: { labels: { usePointStyle: true } },
        tooltip: {
          callbacks: {
            label: (item) =>
              item.dataset.clocks
                ? `${item.dataset.label}: ${item.dataset.clocks[item.dataIndex]}`
                : `Slept: ${duration(days[item.dataIndex].seconds)}`,
          },
        },
      },
    },
  };
  const summary = `${slept.length} ${slept.length === 1 ? "day" : "days"} with sleep in the last 8 weeks, ${duration(average)} on average`;
  return html`<p>${summary}.</p>
    <${ChartBox}
      config=${config}
      height=${280}
      label=${`Hours slept each day of the last 8 weeks, with bed and wake times: ${summary}. The table that follows lists each night.`}
    />
    ${partial ? html`<p class="muted">Only your latest ${PAGE * MAX_PAGES} records are shown.</p>` : null}
    <div class="sr-only">
    <table id="nights-table">
      <caption>Nights of the last 8 weeks, by the day they ended</caption>
      <thead>
        <tr><th scope="col">Day</th><th scope="col">Bedtime</th><th scope="col">Woke up</th><th scope="col">Slept</th></tr>
      </thead>
      <tbody>
        ${slept.map(
          (d) => html`<tr key=${d.day}>
            <th scope="row">${dayLabel(d.day)}</th>
            <td>${clock(d.longest.sleep_at, zone)}</td>
            <td>${clock(d.longest.wake_at, zone)}</td>
            <td>${duration(d.seconds)}${d.nights > 1 ? ` (${d.nights} nights)` : ""}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    </div>`;
}

function weeksOf(zone) {
  const today = todayIn(zone);
  return Array.from({ length: WEEKS_LISTED }, (_, n) => {
    const day = shiftDay(today, -7 * n);
    const monday = shiftDay(day, -((new Date(`${day}T12:00:00Z`).getUTCDay() + 6) % 7));
    const name = n === 0 ? "This week" : n === 1 ? "Last week" : `Week of ${dayLabel(monday)}`;
    return { value: isoWeek(day), label: `${name} (${isoWeek(day)})` };
  });
}

// `version` moves when the user's nights change: the ranking is read again.
function Ranking({ me, version }) {
  const weeks = weeksOf(me.timezone);
  const [week, setWeek] = useState(weeks[0].value);
  const state = useApi("/api/v1/sleep/rankings/weekly", { week, limit: 100 });
  useEffect(() => {
    if (version) state.reload();
  }, [version]);
  return html`<${Field} label="Week" id="ranking-week">
      <select id="ranking-week" value=${week} onChange=${(e) => setWeek(e.currentTarget.value)}>
        ${weeks.map((w) => html`<option key=${w.value} value=${w.value}>${w.label}</option>`)}
      </select>
    <//>
    <${Loading} state=${state} what="load the ranking">
      ${(ranking) =>
        ranking.data.length
          ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Weekly ranking table">
              <table id="ranking-table">
                <caption class="sr-only">You and the people you follow, by total sleep in ${ranking.week}</caption>
                <thead>
                  <tr>
                    <th scope="col" class="num">Rank</th><th scope="col">Name</th>
                    <th scope="col" class="num">Total</th><th scope="col" class="num">Nights</th>
                    <th scope="col" class="num">Average</th><th scope="col" class="num">Longest</th>
                  </tr>
                </thead>
                <tbody>
                  ${ranking.data.map(
                    (row) => html`<tr key=${row.user.id} class=${row.user.id === me.id ? "you" : ""}>
                      <td class="num">${row.rank}</td>
                      <th scope="row">${row.user.name}${row.user.id === me.id ? " (you)" : ""}</th>
                      <td class="num">${duration(row.total_seconds)}</td>
                      <td class="num">${row.nights}</td>
                      <td class="num">${duration(row.average_seconds)}</td>
                      <td class="num">${duration(row.longest_seconds)}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>
            ${ranking.next_cursor ? html`<p class="muted">The first 100 are shown.</p>` : null}`
          : html`<p class="muted empty">
              No nights in ${ranking.week} yet from you or the people you follow — follow friends
              on the <a href="/people">People page</a>.
            </p>`}
    <//>`;
}

function Backfill({ zone, onAdded }) {
  const today = todayIn(zone);
  const [error, setError] = useState(null);
  const [added, setAdded] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    setAdded(null);
    try {
      const { record } = await api("/api/v1/sleep/records", {
        method: "POST",
        body: {
          sleep_at: zonedInstant(form.get("sleep_at"), zone).toISOString(),
          wake_at: zonedInstant(form.get("wake_at"), zone).toISOString(),
          sleep_timezone: zone,
          wake_timezone: zone,
        },
      });
      setAdded(record);
      onAdded();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<form onSubmit=${submit} aria-describedby="backfill-help">
    <p id="backfill-help" class="muted">A night you did not clock, in your time zone (${zone}).</p>
    <div class="row">
      <${Field} label="Bedtime" id="backfill-sleep">
        <input id="backfill-sleep" name="sleep_at" type="datetime-local" required defaultValue=${`${shiftDay(today, -1)}T23:00`} />
      <//>
      <${Field} label="Wake time" id="backfill-wake">
        <input id="backfill-wake" name="wake_at" type="datetime-local" required defaultValue=${`${today}T07:00`} />
      <//>
    </div>
    <${Problem} error=${error} what="add the night" />
    ${added
      ? html`<p class="notice" role="status">
          Night added: ${duration(added.duration_seconds)}, from ${clock(added.sleep_at, zone)} to
          ${clock(added.wake_at, zone)}.
        </p>`
      : null}
    <button type="submit" class="primary" disabled=${busy}>Add night</button>
  </form>`;
}

const nightOf = (record, zone) => dayLabel(localDay(record.sleep_at, zone));

// "late, coffee" in the form; the API trims, drops repeats and bounds them.
const tagsOf = (text) =>
  text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);

// The latest nights, newest first, each with a button opening the form below the table (first
// in its row, so that a phone shows it without scrolling the table).
function RecentNights({ records, zone, onChanged }) {
  const [editing, setEditing] = useState(null);
  const [saved, setSaved] = useState(null);
  const recent = records.slice(0, RECENT);
  if (!recent.length) {
    return html`<p class="muted empty">No nights yet: they are listed here to correct or annotate.</p>`;
  }
  const current = recent.find((r) => r.id === editing);
  const done = (record) => {
    setEditing(null);
    setSaved(record);
    onChanged();
  };
  return html`<div class="table-wrap" tabindex="0" role="region" aria-label="Recent nights table">
      <table id="recent-nights">
        <caption class="sr-only">Your latest nights, newest first</caption>
        <thead>
          <tr>
            <th scope="col"><span class="sr-only">Change</span></th>
            <th scope="col">Night of</th><th scope="col">Bedtime</th><th scope="col">Woke up</th>
            <th scope="col" class="num">Slept</th><th scope="col">Rating</th>
            <th scope="col">Tags and note</th>
          </tr>
        </thead>
        <tbody>
          ${recent.map(
            (r) => html`<tr key=${r.id}>
              <td>
                <button type="button" onClick=${() => { setSaved(null); setEditing(r.id); }}
                  aria-label=${`Edit the night of ${nightOf(r, zone)}`} aria-expanded=${editing === r.id}>Edit</button>
              </td>
              <th scope="row">${nightOf(r, zone)}</th>
              <td>${clock(r.sleep_at, zone)}</td>
              <td>${r.wake_at ? clock(r.wake_at, zone) : "—"}</td>
              <td class="num">${r.wake_at ? duration(r.duration_seconds) : "In bed"}</td>
              <td>${r.rating ? `${r.rating}/5` : "—"}</td>
              <td class="notes">
                ${r.tags.length ? html`<span class="tags">${r.tags.join(", ")}</span>` : null}
                ${r.note ? html`<span class="note">${r.note}</span>` : null}
                ${r.tags.length || r.note ? null : "—"}
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${saved
      ? html`<p class="notice" role="status">
          Night of ${nightOf(saved, zone)} saved${saved.wake_at ? `: ${duration(saved.duration_seconds)}` : ""}.
        </p>`
      : null}
    ${current
      ? html`<${NightEditor} key=${current.id} record=${current} zone=${zone} onSaved=${done}
          onCancel=${() => setEditing(null)} />`
      : null}`;
}

// Times are shown and typed in the user's zone; each is sent only if it was changed (the form
// holds minutes, the night may hold seconds), and the night keeps the zones it was recorded in.
function NightEditor({ record, zone, onSaved, onCancel }) {
  const start = {
    sleep: localInput(record.sleep_at, zone),
    wake: record.wake_at ? localInput(record.wake_at, zone) : "",
  };
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef(null);
  // Keyboard and screen-reader users land on the form they opened.
  useEffect(() => {
    if (heading.current) heading.current.focus();
  }, []);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = {
      rating: form.get("rating") ? Number(form.get("rating")) : null,
      tags: tagsOf(form.get("tags")),
      note: form.get("note").trim() ? form.get("note") : null,
    };
    if (form.get("sleep_at") !== start.sleep) body.sleep_at = zonedInstant(form.get("sleep_at"), zone).toISOString();
    if (form.get("wake_at") && form.get("wake_at") !== start.wake) {
      body.wake_at = zonedInstant(form.get("wake_at"), zone).toISOString();
    }
    setBusy(true);
    setError(null);
    try {
      const { record: saved } = await api(`/api/v1/sleep/records/${record.id}`, { method: "PATCH", body });
      onSaved(saved);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const open = record.status === "sleeping";
  const title = `Edit the night of ${nightOf(record, zone)}`;
  return html`<form id="night-editor" class="night-editor" onSubmit=${submit} aria-labelledby="night-editor-title">
    <h3 id="night-editor-title" tabindex="-1" ref=${heading}>${title}</h3>
    <p class="muted">
      Times in your time zone (${zone}).${open ? " A wake time closes this night." : ""} The rating,
      tags and note are yours alone: the people who follow you never see them.
    </p>
    <div class="row">
      <${Field} label="Bedtime" id="edit-sleep">
        <input id="edit-sleep" name="sleep_at" type="datetime-local" required defaultValue=${start.sleep} />
      <//>
      <${Field} label="Wake time" id="edit-wake" hint=${open ? "Empty while you are still in bed." : null}>
        <input id="edit-wake" name="wake_at" type="datetime-local" required=${!open} defaultValue=${start.wake}
          aria-describedby=${open ? "edit-wake-hint" : undefined} />
      <//>
      <${Field} label="Rating" id="edit-rating">
        <select id="edit-rating" name="rating" defaultValue=${record.rating ? String(record.rating) : ""}>
          <option value="">No rating</option>
          <option value="1">1 – bad</option>
          <option value="2">2</option>
          <option value="3">3</option>
          <option value="4">4</option>
          <option value="5">5 – great</option>
        </select>
      <//>
    </div>
    <${Field} label="Tags" id="edit-tags" hint=${`Separated by commas: up to ${MAX_TAGS}, each up to 32 characters.`}>
      <input id="edit-tags" name="tags" type="text" defaultValue=${record.tags.join(", ")}
        aria-describedby="edit-tags-hint" />
    <//>
    <${Field} label="Note" id="edit-note" hint=${`Up to ${NOTE_LENGTH} characters.`}>
      <textarea id="edit-note" name="note" rows="3" maxLength=${NOTE_LENGTH} defaultValue=${record.note || ""}
        aria-describedby="edit-note-hint"></textarea>
    <//>
    <${Problem} error=${error} what="save the night" />
    <div class="row">
      <button type="submit" class="primary" disabled=${busy}>Save night</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

function Page() {
  const me = useMe();
  const records = useRecords();
  const [version, setVersion] = useState(0);
  const changed = useCallback(() => {
    records.reload();
    setVersion((v) => v + 1);
  }, []);
  const zone = me && me.timezone;
  const ready = (render) =>
    html`<${Loading} state=${{ ...records, loading: records.loading || !me }} what="load your nights">
      ${(data) => (me ? render(data) : html`<p class="muted">Loading…</p>`)}
    <//>`;
  return html`<div class="grid sleep">
    <${Card} title="Bedtime" id="bedtime">
      ${ready((data) => html`<${Bed} latest=${data[0]} zone=${zone} onChange=${changed} />`)}
    <//>
    <${Card} title="Add a past night" id="backfill">
      ${me ? html`<${Backfill} zone=${zone} onAdded=${changed} />` : html`<p class="muted">Loading…</p>`}
    <//>
    <${Card} title="The last 8 weeks" id="nights" wide tall>
      ${ready((data) => html`<${NightsChart} records=${data} zone=${zone} partial=${records.partial} />`)}
    <//>
    <${Card} title="Weekly ranking" id="ranking" wide>
      ${me ? html`<${Ranking} me=${me} version=${version} />` : html`<p class="muted">Loading…</p>`}
    <//>
    <${Card} title="Your recent nights" id="recent" wide>
      ${ready((data) => html`<${RecentNights} records=${data} zone=${zone} onChanged=${changed} />`)}
    <//>
  </div>`;
}

mount(Page);
