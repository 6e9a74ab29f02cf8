// The focus page: the last year of focus minutes as a heatmap (qualified and frozen days marked
// apart), the streak and its freezes, the leaderboard of the people followed, and the user's
// sessions (record one, delete one). Every figure is the API's, in the user's time zone.
import {
  Action,
  Card,
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
  todayIn,
  useApi,
  useEffect,
  useMe,
  useState,
  zonedInstant,
} from "../app.js";

// Fixed English names, so that a cell's accessible name does not depend on the ICU version.
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MAX_FREEZES = 2;

// Calendar dates (YYYY-MM-DD) are handled at UTC midnight, where no DST change moves a day.
function parseDay(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

const isoDay = (date) => date.toISOString().slice(0, 10);
const weekday = (date) => (date.getUTCDay() + 6) % 7; // Monday is 0, as in ISO weeks

// "Mon 3 Mar 2025".
function longDay(iso) {
  const d = parseDay(iso);
  const month = MONTHS[d.getUTCMonth()];
  return `${WEEKDAYS[weekday(d)]} ${d.getUTCDate()} ${month} ${d.getUTCFullYear()}`;
}

// The last year up to today: from the day after the same date a year ago (365 or 366 days).
function lastYear(today) {
  const d = parseDay(today);
  d.setUTCFullYear(d.getUTCFullYear() - 1);
  d.setUTCDate(d.getUTCDate() + 1);
  return { from: isoDay(d), to: today };
}

const count = (n) => n.toLocaleString("en-GB");
const plural = (n, one, many) => `${count(n)} ${n === 1 ? one : many}`;

// The cell's look: its shade, and a marker (CSS) for qualified and frozen days.
function tone(day, threshold) {
  if (day.frozen) return "frozen";
  if (!day.qualified) return day.minutes > 0 ? "some" : "none";
  if (day.minutes >= 4 * threshold) return "q3";
  return day.minutes >= 2 * threshold ? "q2" : "q1";
}

// "Mon 3 Mar 2025: 45 min, qualified".
function cellName(day) {
  const amount = day.minutes > 0 ? `${day.minutes} min` : "no focus";
  const state = day.frozen
    ? "frozen by a streak freeze"
    : day.qualified
      ? "qualified"
      : day.minutes > 0
        ? "not qualified"
        : "";
  return `${longDay(day.date)}: ${amount}${state ? `, ${state}` : ""}`;
}

// Weeks as columns (Monday at the top), the month of each column's Monday written above it.
function Heatmap({ days, threshold }) {
  const lead = weekday(parseDay(days[0].date));
  const weeks = Math.ceil((lead + days.length) / 7);
  const cells = [];
  const months = [];
  days.forEach((day, i) => {
    const column = Math.floor((lead + i) / 7) + 2;
    const row = ((lead + i) % 7) + 2;
    const date = parseDay(day.date);
    if (row === 2 || i === 0) {
      const month = date.getUTCMonth();
      const last = months[months.length - 1];
      if (!last || last.month !== month) months.push({ month, column });
    }
    const name = cellName(day);
    cells.push(html`<span
      key=${day.date}
      role="img"
      class=${`heat-cell ${tone(day, threshold)}`}
      aria-label=${name}
      title=${name}
      data-date=${day.date}
      style=${{ gridColumn: column, gridRow: row }}
    ></span>`);
  });
  // A label needs three columns of room; a first partial month without it goes unnamed.
  const cramped = months.length > 1 && months[1].column - months[0].column < 3;
  const labels = cramped ? months.slice(1) : months;
  return html`<div
    class="heat-scroll"
    tabindex="0"
    role="group"
    aria-label="Focus minutes per day, one column per week"
  >
    <div class="heat-grid" style=${{ gridTemplateColumns: `1.9rem repeat(${weeks}, 14px)` }}>
      ${labels.map(
        (m) => html`<span
          key=${`m${m.column}`}
          class="heat-month"
          aria-hidden="true"
          style=${{ gridColumn: `${m.column} / span 3`, gridRow: 1 }}
          >${MONTHS[m.month]}</span
        >`,
      )}
      ${[-1, 0, 1, 2, 3, 4, 5, 6].map(
        // The label column stays in view while the weeks scroll under it (the corner and
        // every row, though only Monday, Wednesday and Friday are written).
        (r) => html`<span
          key=${`d${r}`}
          class="heat-weekday"
          aria-hidden="true"
          style=${{ gridColumn: 1, gridRow: r + 2 }}
          >${r === 0 || r === 2 || r === 4 ? WEEKDAYS[r] : ""}</span
        >`,
      )}
      ${cells}
    </div>
  </div>`;
}

function HeatLegend({ threshold }) {
  const swatch = (cls) => html`<span class=${`heat-cell ${cls}`} aria-hidden="true"></span>`;
  return html`<ul class="legend heat-legend" aria-label="Legend">
    <li>${swatch("none")} No focus</li>
    <li>${swatch("some")} Under ${threshold} min</li>
    <li>
      ${swatch("q1")}${swatch("q2")}${swatch("q3")} Qualified (${threshold} min or more; darker
      is longer, dotted)
    </li>
    <li>${swatch("frozen")} Frozen: a missed day a streak freeze covered (striped)</li>
  </ul>`;
}

// Terms and their values; before the data comes, the same list with dashes, so that nothing
// moves when it is filled in.
function Figures({ id, items }) {
  return html`<dl class="focus-stats" id=${id}>
    ${items.map(
      ([term, value, cls]) => html`<div key=${term}>
        <dt>${term}</dt>
        <dd class=${cls || ""}>${value}</dd>
      </div>`,
    )}
  </dl>`;
}

function yearFigures(days) {
  const sum = (pick) => (days ? count(days.reduce((n, d) => n + pick(d), 0)) : "–");
  return [
    ["Focus minutes", sum((d) => d.minutes)],
    ["Days with focus", sum((d) => (d.minutes > 0 ? 1 : 0))],
    ["Qualified days", sum((d) => (d.qualified ? 1 : 0))],
    ["Freezes used", sum((d) => (d.frozen ? 1 : 0))],
  ];
}

function YearCard({ state, threshold }) {
  return html`<${Card} title="The last year" id="focus-year" wide>
    <p class="muted">One square a day in your time zone, one column a week, Monday at the top.</p>
    <div class="heat-box">
      <${Loading} state=${state} what="load your focus days">
        ${(days) => html`<${Heatmap} days=${days} threshold=${threshold} />`}
      <//>
    </div>
    <${HeatLegend} threshold=${threshold} />
    <${Figures} id="focus-year-summary" items=${yearFigures(state.data)} />
  </${Card}>`;
}

function streakFigures(s) {
  const days = (n) => (s ? plural(n, "day", "days") : "–");
  return [
    ["Current streak", days(s && s.current_streak), "figure"],
    ["Longest streak", days(s && s.longest_streak), "figure"],
    [
      "Freezes held",
      s
        ? html`${s.freezes_held} of ${MAX_FREEZES}<span class="freezes" aria-hidden="true"
              >${"❄".repeat(s.freezes_held)}${"·".repeat(MAX_FREEZES - s.freezes_held)}</span
            >`
        : "–",
    ],
    ["Today", s ? `${s.today_minutes} of ${s.threshold_minutes} min` : "–"],
  ];
}

function StreakCard({ state }) {
  const s = state.data;
  return html`<${Card} title="Streak" id="focus-streak">
    <${Problem} error=${state.error} what="load your streak" />
    <${Figures} id="focus-streak-figures" items=${streakFigures(s)} />
    <p class="muted">
      A day qualifies with ${s ? s.threshold_minutes : 30} minutes of focus. Every 7 qualified
      days in a row earn a freeze (up to ${MAX_FREEZES}), which covers a missed day.
    </p>
  </${Card}>`;
}

function RecordCard({ me, onChange }) {
  const zone = me ? me.timezone : "UTC";
  const [start, setStart] = useState(() => localInput(Date.now() - 45 * 60_000, zone));
  const [minutes, setMinutes] = useState("45");
  // One id per attempted session: a retry of the same values is a replay, not a second session.
  const [sessionId, setSessionId] = useState(() => crypto.randomUUID());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  useEffect(() => {
    if (me) setStart(localInput(Date.now() - 45 * 60_000, me.timezone));
  }, [me && me.timezone]);
  const edit = (set) => (event) => {
    set(event.currentTarget.value);
    setSessionId(crypto.randomUUID());
  };
  const submit = async (event) => {
    event.preventDefault();
    if (!me) return;
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const began = zonedInstant(start, me.timezone);
      const ended = new Date(began.getTime() + Number(minutes) * 60_000);
      const recorded = await api("/api/v1/focus/sessions", {
        method: "POST",
        body: {
          session_id: sessionId,
          started_at: began.toISOString(),
          ended_at: ended.toISOString(),
          timezone: me.timezone,
        },
      });
      setSessionId(crypto.randomUUID());
      const s = recorded.session;
      setDone(
        `Recorded ${duration(s.duration_seconds)} from ${clock(s.started_at, me.timezone)} on ` +
          `${dayLabel(localInput(s.started_at, me.timezone).slice(0, 10))}.`,
      );
      onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Card} title="Record a session" id="focus-record">
    <form onSubmit=${submit}>
      <div class="row">
        <${Field} label="Start" id="focus-start" hint=${`Your time zone: ${zone}.`}>
          <input
            id="focus-start"
            type="datetime-local"
            required
            value=${start}
            onInput=${edit(setStart)}
            aria-describedby="focus-start-hint"
          />
        <//>
        <${Field} label="Minutes" id="focus-minutes" hint="1 to 1440.">
          <input
            id="focus-minutes"
            type="number"
            inputmode="numeric"
            min="1"
            max="1440"
            step="1"
            required
            value=${minutes}
            onInput=${edit(setMinutes)}
            aria-describedby="focus-minutes-hint"
          />
        <//>
      </div>
      <${Problem} error=${error} what="record the session" />
      ${done ? html`<p class="notice" role="status">${done}</p>` : null}
      <button type="submit" class="primary" disabled=${busy || !me}>Record session</button>
    </form>
  </${Card}>`;
}

function SessionsCard({ state, me, onChange }) {
  return html`<${Card} title="Recent sessions" id="focus-sessions" wide>
    <${Loading} state=${state} what="load your sessions">
      ${(page) =>
        page.data.length === 0
          ? html`<p class="muted">No sessions yet: record one above, or from a timer app.</p>`
          : html`<ul class="list" id="focus-session-list">
              ${page.data.map((s) => {
                const day = dayLabel(localInput(s.started_at, me.timezone).slice(0, 10));
                const zone = me.timezone;
                const span = `${clock(s.started_at, zone)}–${clock(s.ended_at, zone)}`;
                return html`<li key=${s.session_id}>
                  <span>${day}, ${span} · ${duration(s.duration_seconds)}</span>
                  <${Action}
                    kind="danger"
                    what="delete the session"
                    label=${html`Delete
                      <span class="sr-only"> the session of ${day}, ${span}</span>`}
                    run=${async () => {
                      await api(`/api/v1/focus/sessions/${encodeURIComponent(s.session_id)}`, {
                        method: "DELETE",
                      });
                      onChange();
                    }}
                  />
                </li>`;
              })}
            </ul>`}
    <//>
  </${Card}>`;
}

const RANKINGS = [
  { by: "current_streak", label: "Current streak" },
  { by: "week_minutes", label: "Minutes this week" },
];

// You and the people you follow; the table's frame is there before its rows.
function LeaderboardCard({ state, by, setBy, me }) {
  const board = state.data;
  const isMe = (row) => me && row.user.id === me.id;
  const sorted = (what) => ((board ? board.by : by) === what ? "descending" : "none");
  return html`<${Card} title="Leaderboard" id="focus-leaderboard" tall>
    <fieldset class="toggle">
      <legend>Rank by</legend>
      ${RANKINGS.map(
        (r) => html`<label key=${r.by}>
          <input
            type="radio"
            name="focus-rank-by"
            value=${r.by}
            checked=${by === r.by}
            onChange=${() => setBy(r.by)}
          />
          ${r.label}
        </label>`,
      )}
    </fieldset>
    <${Problem} error=${state.error} what="load the leaderboard" />
    <div class="table-wrap" tabindex="0" role="region" aria-label="Leaderboard table">
      <table id="focus-leaderboard-table">
        <caption class="muted">
          ${board
            ? `Week ${board.week}: ${dayLabel(board.week_start)} to ${dayLabel(board.week_end)}`
            : "Loading…"}
        </caption>
        <thead>
          <tr>
            <th scope="col" class="num">Rank</th>
            <th scope="col">Person</th>
            <th scope="col" class="num" aria-sort=${sorted("current_streak")}>Streak</th>
            <th scope="col" class="num" aria-sort=${sorted("week_minutes")}>Minutes this week</th>
          </tr>
        </thead>
        <tbody>
          ${(board ? board.data : []).map(
            (row) => html`<tr key=${row.user.id} class=${isMe(row) ? "you" : ""}>
              <td class="num">${row.rank}</td>
              <td>${row.user.name}${isMe(row) ? " (you)" : ""}</td>
              <td class="num">${plural(row.current_streak, "day", "days")}</td>
              <td class="num">${count(row.week_minutes)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${board && board.next_cursor
      ? html`<p class="muted">Showing the first ${board.data.length}.</p>`
      : null}
    ${board && board.data.length < 2
      ? html`<p class="muted">Follow people on the <a href="/people">People</a> page to see
          them here.</p>`
      : null}
  </${Card}>`;
}

const WAITING = { data: null, error: null, loading: true };

function Page() {
  const me = useMe();
  const [by, setBy] = useState("current_streak");
  const range = me ? lastYear(todayIn(me.timezone)) : null;
  const days = useApi(me ? "/api/v1/focus/days" : null, range);
  const streak = useApi(me ? `/api/v1/users/${me.id}/streak` : null);
  const sessions = useApi(me ? "/api/v1/focus/sessions" : null, { limit: 10 });
  const board = useApi(me ? "/api/v1/focus/leaderboard" : null, { by, limit: 100 });
  // Until `me` is known, and in the render before a request starts, there is nothing to show.
  const ready = (state) => (state.data || state.error ? state : WAITING);
  const threshold = streak.data ? streak.data.threshold_minutes : 30;
  const changed = () => {
    days.reload();
    streak.reload();
    sessions.reload();
    board.reload();
  };
  return html`<div class="grid">
    <${YearCard} state=${ready(days)} threshold=${threshold} />
    <${StreakCard} state=${ready(streak)} />
    <${RecordCard} me=${me} onChange=${changed} />
    <${LeaderboardCard} state=${ready(board)} by=${by} setBy=${setBy} me=${me} />
    <${SessionsCard} state=${ready(sessions)} me=${me} onChange=${changed} />
  </div>`;
}

mount(Page);
