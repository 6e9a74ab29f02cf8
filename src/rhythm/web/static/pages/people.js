// The people page: find users by name, follow and unfollow them, and who you follow and who
// follows you. After every follow or unfollow the lists, and which people you follow, are read
// again from the API.
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

function FollowButton({ person, following, onChange }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const verb = following ? "Unfollow" : "Follow";
  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      await api(`/api/v1/users/me/following/${person.id}`, { method: following ? "DELETE" : "PUT" });
      onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<span class="action">
    <button
      type="button"
      class=${following ? "" : "primary"}
      disabled=${busy}
      aria-label=${`${verb} ${person.name}`}
      onClick=${toggle}
    >
      ${verb}
    </button>
    <${Problem} error=${error} what=${`${verb.toLowerCase()} ${person.name}`} />
  </span>`;
}

function People({ people, label, me, followed, onChange, note }) {
  return html`<ul class="list" aria-label=${label}>
    ${people.map((person) => {
      const self = me && person.id === me.id;
      return html`<li key=${person.id}>
        <span>
          <strong>${person.name}</strong>${self ? html` <span class="muted">(you)</span>` : null}
          ${note ? html`<br /><small class="muted">${note(person)}</small>` : null}
        </span>
        ${self
          ? null
          : html`<${FollowButton} person=${person} following=${followed.has(person.id)} onChange=${onChange} />`}
      </li>`;
    })}
  </ul>`;
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
  const following = usePaged("/api/v1/users/me/following", PAGE);
  const followers = usePaged("/api/v1/users/me/followers", PAGE);
  const checked = useFollowed([...results.data, ...followers.data], version);
  // Everyone in the following list is followed; the others on the page were asked about.
  const followed = new Set([...checked.ids, ...following.data.map((p) => p.id)]);
  const changed = () => {
    following.reload();
    setVersion((v) => v + 1);
  };
  const shared = { me, followed, onChange: changed };

  return html`<div class="grid">
    <${Card} title="Find people" id="people-search" wide>
      <${SearchForm} onSearch=${setQ} busy=${results.loading} />
      <${Problem} error=${checked.error} what="tell whom you follow" />
      ${q === null ? null : html`<${SearchResults} results=${results} q=${q} ...${shared} />`}
    <//>
    <${Card} title="Following" id="people-following" tall>
      <${FollowList}
        list=${following}
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
  </div>`;
}

mount(Page);
