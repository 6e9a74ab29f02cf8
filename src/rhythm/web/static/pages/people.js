// The people page: find users by name, follow and unfollow them (a private account's owner
// approves each follow: until then it is a request you may cancel), block and unblock them, who
// you follow and who follows you, the requests to follow you (approve or decline each) and those
// you sent. After every action the lists, and which people you follow, are read again from the
// API.
import {
  Card,
  Field,
  Loading,
  Problem,
  api,
  dateTime,
  html,
  mount,
  useEffect,
  useMe,
  usePaged,
  useState,
} from "../app.js";

const PAGE = { limit: 20 };
// GET /users/me/following takes at most 100 user_id filters per request.
const CHECK_SIZE = 100;

// Which of `ids` the signed-in user follows, as a Set.
async function followedAmong(ids) {
  const found = new Set();
  for (let i = 0; i < ids.length; i += CHECK_SIZE) {
    const query = new URLSearchParams({ limit: String(CHECK_SIZE) });
    for (const id of ids.slice(i, i + CHECK_SIZE)) query.append("user_id", id);
    const page = await api(`/api/v1/users/me/following?${query}`);
    for (const entry of page.data) found.add(entry.id);
  }
  return found;
}

// The ids of `people` the user follows, read again whenever `version` or the people change.
function useFollowed(people, version) {
  const ids = [...new Set(people.map((p) => p.id))];
  const [state, setState] = useState({ ids: new Set(), error: null });
  const key = JSON.stringify([version, ids]);
  useEffect(() => {
    let live = true;
    followedAmong(ids)
      .then((found) => live && setState({ ids: found, error: null }))
      .catch((error) => live && setState((s) => ({ ...s, error })));
    return () => {
      live = false;
    };
  }, [key]);
  return state;
}

// A button acting on one person: `verb` names it, with the person's name for screen readers.
function PersonButton({ person, verb, kind, run, onChange }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const click = async () => {
    setBusy(true);
    setError(null);
    try {
      await run();
      onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<span class="action">
    <button type="button" class=${kind || ""} disabled=${busy} aria-label=${`${verb} ${person.name}`} onClick=${click}>
      ${verb}
    </button>
    <${Problem} error=${error} what=${`${verb.toLowerCase()} ${person.name}`} />
  </span>`;
}

const following = (person) => `/api/v1/users/me/following/${person.id}`;

// Follow, unfollow, or cancel the pending request (a private account's owner approves follows).
function FollowButton({ person, followed, requested, onChange }) {
  if (followed.has(person.id)) {
    const run = () => api(following(person), { method: "DELETE" });
    return html`<${PersonButton} person=${person} verb="Unfollow" run=${run} onChange=${onChange} />`;
  }
  if (requested.has(person.id)) {
    const run = () => api(following(person), { method: "DELETE" });
    return html`<${PersonButton} person=${person} verb="Cancel request to follow" run=${run} onChange=${onChange} />`;
  }
  const run = () => api(following(person), { method: "PUT" });
  return html`<${PersonButton} person=${person} verb="Follow" kind="primary" run=${run} onChange=${onChange} />`;
}

function BlockButton({ person, onChange }) {
  const run = () => api(`/api/v1/users/me/blocks/${person.id}`, { method: "PUT" });
  return html`<${PersonButton} person=${person} verb="Block" kind="danger" run=${run} onChange=${onChange} />`;
}

function People({ people, label, me, followed, requested, onChange, note }) {
  return html`<ul class="list people" aria-label=${label}>
    ${people.map((person) => {
      const self = me && person.id === me.id;
      return html`<li key=${person.id}>
        <span>
          <strong>${person.name}</strong>${self ? html` <span class="muted">(you)</span>` : null}
          ${note ? html`<br /><small class="muted">${note(person)}</small>` : null}
        </span>
        ${self
          ? null
          : html`<span class="buttons">
              <${FollowButton} person=${person} followed=${followed} requested=${requested} onChange=${onChange} />
              <${BlockButton} person=${person} onChange=${onChange} />
            </span>`}
      </li>`;
    })}
  </ul>`;
}

// A list of people each with their own buttons (requests, blocks): `entries` are
// {user, [when]} items; `buttons(person)` gives a person's buttons.
function Entries({ list, label, empty, when, since, me, buttons }) {
  return html`<${Loading} state=${list} what=${`load ${label.toLowerCase()}`}>
    ${() =>
      list.data.length
        ? html`<ul class="list people" aria-label=${label}>
              ${list.data.map(
                (entry) => html`<li key=${entry.user.id}>
                  <span>
                    <strong>${entry.user.name}</strong><br />
                    <small class="muted">${since} ${dateTime(entry[when], me?.timezone)}</small>
                  </span>
                  <span class="buttons">${buttons(entry.user)}</span>
                </li>`,
              )}
            </ul>
            ${list.cursor
              ? html`<button type="button" disabled=${list.loading} onClick=${list.more}>Show more</button>`
              : null}`
        : html`<p class="muted">${empty}</p>`}
  <//>`;
}

// A list of the follow graph (following or followers), its pages, or what it holds when empty.
function FollowList({ list, label, empty, since, ...rest }) {
  return html`<${Loading} state=${list} what=${`load ${label.toLowerCase()}`}>
    ${() =>
      list.data.length
        ? html`<${People}
              people=${list.data}
              label=${label}
              note=${(p) => `${since} ${dateTime(p.followed_at, rest.me?.timezone)}`}
              ...${rest}
            />
            ${list.cursor
              ? html`<button type="button" disabled=${list.loading} onClick=${list.more}>Show more</button>`
              : null}`
        : html`<p class="muted">${empty}</p>`}
  <//>`;
}

function SearchForm({ onSearch, busy }) {
  const submit = (event) => {
    event.preventDefault();
    onSearch(new FormData(event.currentTarget).get("q").trim());
  };
  return html`<form onSubmit=${submit} role="search" aria-label="People">
    <div class="row">
      <${Field} label="Name" id="people-q" hint="The start of a name; case does not matter.">
        <input
          id="people-q"
          name="q"
          type="search"
          required
          maxlength="100"
          autocomplete="off"
          aria-describedby="people-q-hint"
        />
      <//>
      <div class="field"><button type="submit" class="primary" disabled=${busy}>Search</button></div>
    </div>
  </form>`;
}

function SearchResults({ results, q, ...rest }) {
  if (results.error) return html`<${Problem} error=${results.error} what="search" />`;
  if (results.loading && !results.data.length) return html`<p class="muted">Searching…</p>`;
  if (!results.data.length) return html`<p role="status">Nobody's name starts with “${q}”.</p>`;
  return html`<${People} people=${results.data} label="Search results" ...${rest} />
    ${results.cursor
      ? html`<button type="button" disabled=${results.loading} onClick=${results.more}>More results</button>`
      : null}`;
}

function Page() {
  const me = useMe();
  const [q, setQ] = useState(null);
  const [version, setVersion] = useState(0);
  const results = usePaged(q === null ? null : "/api/v1/users", { ...PAGE, q });
  const followingList = usePaged("/api/v1/users/me/following", PAGE);
  const followers = usePaged("/api/v1/users/me/followers", PAGE);
  const incoming = usePaged("/api/v1/users/me/follow-requests", PAGE);
  const sent = usePaged("/api/v1/users/me/follow-requests/sent", PAGE);
  const blocks = usePaged("/api/v1/users/me/blocks", PAGE);
  const checked = useFollowed([...results.data, ...followers.data], version);
  // Everyone in the following list is followed; the others on the page were asked about.
  const followed = new Set([...checked.ids, ...followingList.data.map((p) => p.id)]);
  const requested = new Set(sent.data.map((r) => r.user.id));
  // Any action may change every list: a block removes follows and requests both ways, an
  // approval adds a follower, a blocked person leaves the search results.
  const changed = () => {
    for (const list of [followingList, followers, incoming, sent, blocks]) list.reload();
    if (q !== null) results.reload();
    setVersion((v) => v + 1);
  };
  const shared = { me, followed, requested, onChange: changed };
  const requestButtons = (person) => html`
    <${PersonButton}
      person=${person}
      verb="Approve"
      kind="primary"
      run=${() => api(`/api/v1/users/me/follow-requests/${person.id}/approve`, { method: "POST" })}
      onChange=${changed}
    />
    <${PersonButton}
      person=${person}
      verb="Decline"
      run=${() => api(`/api/v1/users/me/follow-requests/${person.id}`, { method: "DELETE" })}
      onChange=${changed}
    />`;
  const sentButtons = (person) => html`<${PersonButton}
    person=${person}
    verb="Cancel request to follow"
    run=${() => api(following(person), { method: "DELETE" })}
    onChange=${changed}
  />`;
  const blockButtons = (person) => html`<${PersonButton}
    person=${person}
    verb="Unblock"
    run=${() => api(`/api/v1/users/me/blocks/${person.id}`, { method: "DELETE" })}
    onChange=${changed}
  />`;

  return html`<div class="grid">
    <${Card} title="Find people" id="people-search" wide>
      <${SearchForm} onSearch=${setQ} busy=${results.loading} />
      <${Problem} error=${checked.error} what="tell whom you follow" />
      ${q === null ? null : html`<${SearchResults} results=${results} q=${q} ...${shared} />`}
    <//>
    <${Card} title="Following" id="people-following" tall>
      <${FollowList}
        list=${followingList}
        label="People you follow"
        since="Since"
        empty="You follow nobody yet. Find people above."
        ...${shared}
      />
    <//>
    <${Card} title="Followers" id="people-followers" tall>
      <${FollowList}
        list=${followers}
        label="People who follow you"
        since="Follows you since"
        empty="Nobody follows you yet."
        ...${shared}
      />
    <//>
    <${Card} title="Requests to follow you" id="people-requests">
      <p class="muted">Your account is ${me ? me.visibility : "…"}. ${
        me && me.visibility === "public"
          ? "Anyone may follow you; requests wait only while your account is private."
          : "Nobody sees your nights, focus or lists until you approve them."
      } <a href="/account">Change it on your account.</a></p>
      <${Entries}
        list=${incoming}
        label="Requests to follow you"
        empty="Nobody is waiting for your approval."
        when="requested_at"
        since="Asked"
        me=${me}
        buttons=${requestButtons}
      />
    <//>
    <${Card} title="Your requests" id="people-sent">
      <${Entries}
        list=${sent}
        label="Your requests to follow"
        empty="No request of yours is waiting. Following a private account asks its owner first."
        when="requested_at"
        since="Asked"
        me=${me}
        buttons=${sentButtons}
      />
    <//>
    <${Card} title="Blocked" id="people-blocks">
      <p class="muted">
        You and the people you block do not see each other: no follows either way, no profile,
        no lists.
      </p>
      <${Entries}
        list=${blocks}
        label="People you block"
        empty="You block nobody."
        when="blocked_at"
        since="Blocked"
        me=${me}
        buttons=${blockButtons}
      />
    <//>
  </div>`;
}

mount(Page);
