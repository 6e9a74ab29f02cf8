// The events page: a search over the catalog (GET /api/v1/events, a date range on the
// provider's wall clock) and its results, each event with its slots and their price ranges.
import { Card, Field, Problem, dayLabel, html, mount, usePaged, useState } from "../app.js";

const PAGE_SIZE = 20;
const FIRST_DAY = "1970-01-01";
const LAST_DAY = "2199-12-31";

// The form's days as the route's bounds: from the start of the first day to the end of the last.
function bounds(from, to) {
  return {
    starts_at: from ? `${from}T00:00:00` : undefined,
    ends_at: to ? `${to}T23:59:59` : undefined,
  };
}

// "20.00" for 20; the feed names no currency, so none is shown.
function price(value) {
  return Number(value).toFixed(2);
}

function priceRange(min, max) {
  if (min === null || max === null) return "No prices listed";
  return min === max ? price(min) : `${price(min)}–${price(max)}`;
}

// The lowest and highest price over an event's slots.
function eventRange(slots) {
  const priced = slots.filter((s) => s.min_price !== null && s.max_price !== null);
  if (!priced.length) return [null, null];
  return [Math.min(...priced.map((s) => s.min_price)), Math.max(...priced.map((s) => s.max_price))];
}

// "Wed 30 Jun 2021, 21:00–22:00" for a slot on the provider's wall clock (no zone).
function slotWhen(slot) {
  const [startDay, startTime] = slot.starts_at.split("T");
  const [endDay, endTime] = slot.ends_at.split("T");
  const year = startDay.slice(0, 4);
  const start = `${dayLabel(startDay)} ${year}, ${startTime.slice(0, 5)}`;
  if (endDay === startDay) return `${start}–${endTime.slice(0, 5)}`;
  return `${start} – ${dayLabel(endDay)} ${endDay.slice(0, 4)}, ${endTime.slice(0, 5)}`;
}

function EventItem({ event }) {
  const [min, max] = eventRange(event.slots);
  return html`<li class="event">
    <div class="event-head">
      <h3>${event.title}</h3>
      <span class="price"><span class="sr-only">Price range </span>${priceRange(min, max)}</span>
    </div>
    <p class="muted event-meta">
      ${event.slots.length} ${event.slots.length === 1 ? "date" : "dates"} ·
      ${event.currently_listed ? " listed now" : " no longer listed"} · sold ${event.sell_mode}
    </p>
    <table>
      <caption class="sr-only">Dates of ${event.title}</caption>
      <thead>
        <tr><th scope="col">When</th><th scope="col" class="num">Price</th><th scope="col">Zones</th></tr>
      </thead>
      <tbody>
        ${event.slots.map(
          (slot) => html`<tr key=${slot.id}>
            <td>${slotWhen(slot)}${slot.sold_out ? html` <strong class="badge">Sold out</strong>` : null}</td>
            <td class="num">${priceRange(slot.min_price, slot.max_price)}</td>
            <td>${slot.zones.map((z) => z.name).filter((n, i, all) => all.indexOf(n) === i).join(", ")}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </li>`;
}

function SearchForm({ onSearch, busy }) {
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    onSearch({ from: form.get("from"), to: form.get("to") });
  };
  return html`<form onSubmit=${submit} aria-describedby="events-help">
    <p id="events-help" class="muted">
      Events with a date between these days (both included), on the venue's local time. Leave
      a day empty for no bound.
    </p>
    <div class="row">
      <${Field} label="From" id="events-from">
        <input id="events-from" name="from" type="date" min=${FIRST_DAY} max=${LAST_DAY} />
      <//>
      <${Field} label="To" id="events-to">
        <input id="events-to" name="to" type="date" min=${FIRST_DAY} max=${LAST_DAY} />
      <//>
      <div class="field">
        <button type="submit" class="primary" disabled=${busy}>Search</button>
      </div>
    </div>
  </form>`;
}

function Page() {
  const [range, setRange] = useState({ from: "", to: "" });
  const query = { ...bounds(range.from, range.to), limit: PAGE_SIZE };
  const { data: events, cursor, error, loading, more } = usePaged("/api/v1/events", query);

  let body;
  if (error && !events.length) body = html`<${Problem} error=${error} what="search the events" />`;
  else if (loading && !events.length) body = html`<p class="muted">Loading…</p>`;
  else if (!events.length) body = html`<p role="status">No events in this range.</p>`;
  else {
    body = html`<p class="muted" role="status">
        ${events.length}${cursor ? "+" : ""} ${events.length === 1 ? "event" : "events"}. Prices
        are as the provider lists them (its feed names no currency).
      </p>
      <ul class="events">
        ${events.map((e) => html`<${EventItem} key=${e.base_event_id} event=${e} />`)}
      </ul>
      <${Problem} error=${error} what="load more events" />
      ${cursor
        ? html`<button type="button" disabled=${loading} onClick=${more}>More events</button>`
        : null}`;
  }

  return html`<div class="grid">
    <${Card} title="Search" id="events-search" wide>
      <${SearchForm} onSearch=${setRange} busy=${loading} />
    <//>
    <${Card} title="Results" id="events-results" wide tall>${body}<//>
  </div>`;
}

mount(Page);
