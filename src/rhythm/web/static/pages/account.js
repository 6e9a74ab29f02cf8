// The account page: the profile (name, time zone, who sees your data), the device sessions with revoke, the API
// keys with create (the secret shown once) and revoke, and the set-up snippets of README.md's
// "Pointing an unmodified ActivityWatch watcher at rhythm" and "Point your editor at rhythm",
// filled in with this server's address and, once created, the new key.
import {
  Action,
  Card,
  Field,
  Loading,
  Problem,
  api,
  dateTime,
  html,
  mount,
  useEffect,
  usePaged,
  useState,
} from "../app.js";

const PAGE = { limit: 100 };
const SCOPES = [
  ["usage", "usage: send heartbeats (watchers, editors)"],
  ["read", "read: read your own data"],
  ["write", "write: change sleep, focus and follows"],
];
const DEFAULT_SCOPES = ["usage", "read"];
const VISIBILITIES = [
  ["public", "Public", "Anyone signed in may follow you and see your nights, focus and follow lists."],
  [
    "private",
    "Private",
    "You approve each follower; others see only your name. Becoming public again approves the waiting requests.",
  ],
];
const WAKATIME_URL = "/api/compat/wakatime/v1/users/current/heartbeats.bulk";

// The browser's IANA zones, suggested by the time zone field (the server checks the name).
const ZONES = (() => {
  const listed = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return ["UTC", ...listed.filter((z) => z !== "UTC")];
})();

// A button that copies `text` and says whether it could.
function CopyButton({ text, what }) {
  const [said, setSaid] = useState("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setSaid("Copied.");
    } catch {
      setSaid("Could not copy here: select the text and copy it.");
    }
  };
  return html`<span class="copy">
    <button type="button" onClick=${copy} aria-label=${`Copy ${what}`}>Copy</button>
    <span class="muted" role="status">${said}</span>
  </span>`;
}

function Profile({ me, setMe }) {
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const body = {
        name: form.get("name"),
        timezone: form.get("timezone").trim(),
        visibility: form.get("visibility"),
      };
      setMe(await api("/api/v1/users/me", { method: "PATCH", body }));
      setSaved(true);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const takeBrowserZone = () => {
    document.getElementById("profile-timezone").value = browserZone;
  };
  return html`<form onSubmit=${submit}>
    <p class="muted">Signed in as <strong>${me.email}</strong>.</p>
    <${Field} label="Name" id="profile-name">
      <input id="profile-name" name="name" required maxlength="100" autocomplete="name" defaultValue=${me.name} />
    <//>
    <${Field}
      label="Time zone"
      id="profile-timezone"
      hint="An IANA name such as Europe/Paris: your days (nights, focus, screen time) are counted in it."
    >
      <input
        id="profile-timezone"
        name="timezone"
        required
        maxlength="64"
        list="timezones"
        autocomplete="off"
        spellcheck="false"
        aria-describedby="profile-timezone-hint"
        defaultValue=${me.timezone}
      />
    <//>
    <datalist id="timezones">${ZONES.map((z) => html`<option key=${z} value=${z} />`)}</datalist>
    <fieldset class="visibility">
      <legend>Who sees your nights, focus and lists</legend>
      ${VISIBILITIES.map(
        ([value, label, hint]) => html`<div class="choice" key=${value}>
          <input
            type="radio"
            id=${`visibility-${value}`}
            name="visibility"
            value=${value}
            defaultChecked=${me.visibility === value}
            aria-describedby=${`visibility-${value}-hint`}
          />
          <span>
            <label for=${`visibility-${value}`}><strong>${label}</strong></label><br />
            <small class="muted" id=${`visibility-${value}-hint`}>${hint}</small>
          </span>
        </div>`,
      )}
    </fieldset>
    ${browserZone && browserZone !== me.timezone
      ? html`<p>
          <button type="button" class="link" onClick=${takeBrowserZone}>
            Use this browser's time zone (${browserZone})
          </button>
        </p>`
      : null}
    <${Problem} error=${error} what="save the profile" />
    ${saved ? html`<p class="notice" role="status">Saved.</p>` : null}
    <button type="submit" class="primary" disabled=${busy}>Save profile</button>
  </form>`;
}

function Sessions({ timeZone }) {
  const sessions = usePaged("/api/v1/auth/sessions", PAGE);
  return html`<${Loading} state=${sessions} what="list the sessions">
    ${() => html`<ul class="list sessions" aria-label="Device sessions" tabindex="0">
        ${sessions.data.map(
          (s) => html`<li key=${s.id}>
            <span class="device">
              ${s.device_name || "Unnamed device"}
              ${s.current ? html` <strong class="badge">This device</strong>` : null}
              <br />
              <small class="muted">
                Signed in ${dateTime(s.created_at, timeZone)} · last used
                ${" "}${dateTime(s.last_used_at, timeZone)}
              </small>
            </span>
            ${s.current
              ? html`<span class="muted">Sign out to end it</span>`
              : html`<${Action}
                  label="Revoke"
                  kind="danger"
                  what="revoke the session"
                  run=${async () => {
                    await api(`/api/v1/auth/sessions/${s.id}`, { method: "DELETE" });
                    sessions.reload();
                  }}
                />`}
          </li>`,
        )}
      </ul>
      ${sessions.cursor ? html`<button type="button" onClick=${sessions.more}>Show more</button>` : null}`}
  <//>`;
}

function NewKeyForm({ onCreated }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    setBusy(true);
    setError(null);
    try {
      const created = await api("/api/v1/auth/api-keys", {
        method: "POST",
        body: { name: form.get("name"), scopes: form.getAll("scopes"), format: form.get("format") },
      });
      formElement.reset();
      onCreated(created);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<form onSubmit=${submit} class="key-form">
    <div class="row">
      <${Field} label="Key name" id="key-name" hint="Where it is used, e.g. “laptop watchers”.">
        <input id="key-name" name="name" required maxlength="100" aria-describedby="key-name-hint" />
      <//>
      <${Field} label="Format" id="key-format">
        <select id="key-format" name="format">
          <option value="rhythm">rhythm key (rhk_…)</option>
          <option value="uuid">UUID (what editor plugins accept)</option>
        </select>
      <//>
    </div>
    <fieldset class="scopes">
      <legend>Scopes</legend>
      ${SCOPES.map(
        ([scope, label]) => html`<label key=${scope}>
          <input type="checkbox" name="scopes" value=${scope} defaultChecked=${DEFAULT_SCOPES.includes(scope)} />
          ${label}
        </label>`,
      )}
    </fieldset>
    <${Problem} error=${error} what="create the key" />
    <button type="submit" class="primary" disabled=${busy}>Create key</button>
  </form>`;
}

function NewKey({ created }) {
  return html`<div class="notice new-key">
    <p role="status">
      Your new key <strong>${created.name}</strong> (${created.scopes.join(", ")}):
    </p>
    <p><code class="secret" id="new-key">${created.key}</code></p>
    <${CopyButton} text=${created.key} what="the new key" />
    <p><strong>Copy it now: it will not be shown again.</strong> The set-up snippets below
      include it until you leave this page.</p>
  </div>`;
}

function ApiKeys({ timeZone, created, setCreated }) {
  const keys = usePaged("/api/v1/auth/api-keys", PAGE);
  const onCreated = (key) => {
    setCreated(key);
    keys.reload();
  };
  const revoke = async (key) => {
    await api(`/api/v1/auth/api-keys/${key.id}`, { method: "DELETE" });
    if (created && created.id === key.id) setCreated(null);
    keys.reload();
  };
  return html`<${NewKeyForm} onCreated=${onCreated} />
    ${created ? html`<${NewKey} created=${created} />` : null}
    <h3>Your keys</h3>
    <${Loading} state=${keys} what="list the keys">
      ${() =>
        keys.data.length
          ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="API keys">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Starts with</th>
                    <th scope="col">Scopes</th>
                    <th scope="col">Created</th>
                    <th scope="col">Last used</th>
                    <th scope="col"><span class="sr-only">Action</span></th>
                  </tr>
                </thead>
                <tbody>
                  ${keys.data.map(
                    (k) => html`<tr key=${k.id}>
                      <td>${k.name}</td>
                      <td><code>${k.prefix}…</code></td>
                      <td>${k.scopes.join(", ")}</td>
                      <td>${dateTime(k.created_at, timeZone)}</td>
                      <td>${k.last_used_at ? dateTime(k.last_used_at, timeZone) : "Never"}</td>
                      <td>
                        <${Action}
                          label=${html`Revoke<span class="sr-only"> ${k.name}</span>`}
                          kind="danger"
                          what="revoke the key"
                          run=${() => revoke(k)}
                        />
                      </td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>
            ${keys.cursor ? html`<button type="button" onClick=${keys.more}>Show more</button>` : null}`
          : html`<p class="muted">No API keys yet.</p>`}
    <//>`;
}

function Snippet({ title, text }) {
  return html`<div class="snippet">
    <div class="snippet-head"><strong>${title}</strong><${CopyButton} text=${text} what=${title} /></div>
    <pre><code>${text}</code></pre>
  </div>`;
}

function SetUp({ created }) {
  const { protocol, hostname, port, origin } = location;
  const awPort = port || (protocol === "https:" ? "443" : "80");
  const key = created ? created.key : "rhk_your_api_key";
  const uuidKey = created && created.key.indexOf("rhk_") !== 0;
  const editorKey = uuidKey ? created.key : "your-uuid-api-key";
  return html`<div class="setup">
    <section aria-labelledby="setup-aw">
      <h3 id="setup-aw">ActivityWatch watchers</h3>
      <p>
        aw-client (aw-watcher-window, aw-watcher-afk and the others) sends the API key in
        its <code>~/.netrc</code> as the HTTP Basic user name. Give the watchers a key with
        the scope <code>usage</code>, then restart them.
      </p>
      <${Snippet}
        title="~/.netrc (mode 600)"
        text=${`machine ${hostname}\nlogin ${key}\npassword x\n`}
      />
      <${Snippet}
        title="~/.config/activitywatch/aw-client/aw-client.toml"
        text=${`[server]\nhostname = "${hostname}"\nport = "${awPort}"\n`}
      />
    </section>
    <section aria-labelledby="setup-editors">
      <h3 id="setup-editors">Editors (WakaTime plugins)</h3>
      <p>
        Editor plugins send their time through wakatime-cli, which accepts only a key in the
        UUID format: create one with the format “UUID”.
        ${created && !uuidKey ? html` <strong>The key just created is not one.</strong>` : null}
      </p>
      <${Snippet}
        title="~/.wakatime.cfg"
        text=${`[settings]\napi_key = ${editorKey}\napi_url = ${origin}${WAKATIME_URL}\n`}
      />
    </section>
  </div>`;
}

function Page() {
  const [me, setMe] = useState(null);
  const [meError, setMeError] = useState(null);
  const [created, setCreated] = useState(null);
  useEffect(() => {
    api("/api/v1/users/me").then(setMe).catch(setMeError);
  }, []);
  const timeZone = me ? me.timezone : undefined;
  return html`<div class="grid">
    <${Card} title="Profile" id="account-profile" tall>
      ${meError
        ? html`<${Problem} error=${meError} what="load your profile" />`
        : me
          ? html`<${Profile} me=${me} setMe=${setMe} />`
          : html`<p class="muted">Loading…</p>`}
    <//>
    <${Card} title="Device sessions" id="account-sessions" tall>
      <p class="muted">Where you are signed in. Revoking a session signs that device out.</p>
      <${Sessions} timeZone=${timeZone} />
    <//>
    <${Card} title="API keys" id="account-keys" wide>
      <p class="muted">For watchers, editor plugins and scripts. A key cannot manage the account.</p>
      <${ApiKeys} timeZone=${timeZone} created=${created} setCreated=${setCreated} />
    <//>
    <${Card} title="Set up your trackers" id="account-setup" wide>
      <${SetUp} created=${created} />
    <//>
  </div>`;
}

mount(Page);
