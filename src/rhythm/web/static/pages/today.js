// The Today page: last night's sleep, today's focus, today's screen time and the friends' nights,
// all from one call (GET /api/v1/me/today), in the zone the API counted today in.
import { Card, ChartBox, Loading, Problem, clock, dayLabel, duration, html, mount, palette, useApi } from "../app.js";

const MAX_FREEZES = 2; // a streak holds at most two (StreakOut.freezes_held)
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function LastNight({ sleep, zone }) {
  if (!sleep) {
    return html`<p class="muted empty">
      No night recorded yet — clock in on the <a href="/sleep">Sleep page</a> when you go to bed.
    </p>`;
  }
  if (sleep.status === "sleeping") {
    return html`<p class="figure">In bed</p>
      <p>Since ${clock(sleep.sleep_at, zone)} — clock out on the <a href="/sleep">Sleep page</a> when you wake up.</p>`;
  }
  return html`<p class="figure">${duration(sleep.duration_seconds)}</p>
    <dl class="pairs">
      <div><dt>Bedtime</dt><dd>${clock(sleep.sleep_at, zone)}</dd></div>
      <div><dt>Woke up</dt><dd>${clock(sleep.wake_at, zone)}</dd></div>
    </dl>`;
}

function Focus({ focus }) {
  const idle = focus.today_minutes === 0 && focus.current_streak === 0;
  return html`<p class="figure">${plural(focus.today_minutes, "minute", "minutes")}</p>
    <p class="muted">A day counts for the streak from ${focus.threshold_minutes} minutes.</p>
    <dl class="pairs">
      <div><dt>Current streak</dt><dd>${plural(focus.current_streak, "day", "days")}</dd></div>
      <div><dt>Longest streak</dt><dd>${plural(focus.longest_streak, "day", "days")}</dd></div>
      <div><dt>Freezes held</dt><dd>${focus.freezes_held} of ${MAX_FREEZES}</dd></div>
    </dl>
    ${idle
      ? html`<p class="muted empty">No focus yet today — record a session on the <a href="/focus">Focus page</a>.</p>`
      : null}`;
}

// The top items as a horizontal bar chart, and the same figures as a visible list.
function TopItems({ title, items, id }) {
  if (!items.length) return null;
  const config = {
    type: "bar",
    data: {
      labels: items.map((i) => i.key),
      datasets: [
        {
          label: "Minutes",
          data: items.map((i) => Math.round(i.seconds / 6) / 10),
          backgroundColor: items.map((_, n) => palette[n % palette.length]),
        },
      ],
    },
    options: {
      indexAxis: "y",
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, title: { display: true, text: "Minutes" } } },
    },
  };
  const summary = items.map((i) => `${i.key}: ${duration(i.seconds)}`).join("; ");
  return html`<div class="top-items" id=${id}>
    <h3>${title}</h3>
    <${ChartBox} config=${config} height=${150} label=${`${title}: ${summary}`} />
    <ol class="list figures">
      ${items.map(
        (i, n) => html`<li key=${i.key}>
          <span><span class="swatch" style=${{ background: palette[n % palette.length] }}></span>${i.key}</span>
          <span class="num">${duration(i.seconds)}</span>
        </li>`,
      )}
    </ol>
  </div>`;
}

function ScreenTime({ screen }) {
  if (!screen.total_seconds) {
    return html`<p class="muted empty">
      No screen time yet today — create an API key on the <a href="/account">Account page</a> and
      point ActivityWatch or another tracker at rhythm.
    </p>`;
  }
  return html`<p class="figure">${duration(screen.total_seconds)}</p>
    <p class="muted">Active time today, over all your devices.</p>
    <div class="split">
      <${TopItems} title="Top apps" items=${screen.top_apps} id="top-apps" />
      <${TopItems} title="Top categories" items=${screen.top_categories} id="top-categories" />
    </div>`;
}

function Friends({ nights, more, zone }) {
  if (!nights.length) {
    return html`<p class="muted empty">
      No nights from the people you follow yet today — follow friends on the
      <a href="/people">People page</a> to see how they slept.
    </p>`;
  }
  return html`<div class="table-wrap" tabindex="0" role="region" aria-label="Friends' nights table">
      <table>
        <caption class="sr-only">Nights of the people you follow that ended today</caption>
        <thead>
          <tr><th scope="col">Name</th><th scope="col">Bedtime</th><th scope="col">Woke up</th><th scope="col" class="num">Slept</th></tr>
        </thead>
        <tbody>
          ${nights.map(
            (n) => html`<tr key=${n.id}>
              <th scope="row">${n.user.name}</th>
              <td>${clock(n.sleep_at, zone)}</td>
              <td>${clock(n.wake_at, zone)}</td>
              <td class="num">${duration(n.duration_seconds)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${more ? html`<p class="muted">The 50 longest are shown.</p>` : null}`;
}

function Page() {
  const state = useApi("/api/v1/me/today");
  const day = state.data;
  // The one failure is said once, above the cards; each card then reads as unavailable.
  const part = (render) =>
    state.error ? html`<p class="muted">Not available.</p>` : html`<${Loading} state=${state}>${render}<//>`;
  return html`<${Problem} error=${state.error} what="load today" />
    <p class="muted day-line">${day ? `${dayLabel(day.date)} · times in ${day.timezone}` : "\u00a0"}</p>
    <div class="grid today">
      <${Card} title="Last night" id="last-night">${part((d) => html`<${LastNight} sleep=${d.sleep} zone=${d.timezone} />`)}<//>
      <${Card} title="Focus today" id="focus-today">${part((d) => html`<${Focus} focus=${d.focus} />`)}<//>
      <${Card} title="Screen time today" id="screen-time" tall>
        ${part((d) => html`<${ScreenTime} screen=${d.screen_time} />`)}
      <//>
      <${Card} title="Friends' nights" id="friends-nights" tall>
        ${part((d) => html`<${Friends} nights=${d.friends_nights} more=${d.more_friends_nights} zone=${d.timezone} />`)}
      <//>
    </div>`;
}

mount(Page);
