// Sign in, or create an account; either opens a device session held in HttpOnly cookies.
import { ApiError, Field, Problem, html, mount, useState } from "../app.js";

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // Only a path of this site: never an open redirect.
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

function SignIn() {
  const [mode, setMode] = useState("signin");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = { email: form.get("email"), password: form.get("password") };
    if (mode === "register") Object.assign(body, { name: form.get("name"), timezone: zone });
    setBusy(true);
    setError(null);
    try {
      const response = await fetch(mode === "register" ? "/web/account" : "/web/session", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      if (!response.ok) throw new ApiError(response.status, await response.json());
      location.assign(nextPage());
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, { detail: "rhythm cannot be reached." }));
      setBusy(false);
    }
  };
  const registering = mode === "register";
  return html`<div class="signin card">
    <form onSubmit=${submit} aria-describedby="signin-help">
      <p id="signin-help" class="muted">
        ${registering ? "Create your rhythm account." : "Sign in with your rhythm account."}
      </p>
      ${registering
        ? html`<${Field} label="Name" id="name">
            <input id="name" name="name" required maxlength="100" autocomplete="name" />
          <//>`
        : null}
      <${Field} label="Email" id="email">
        <input id="email" name="email" type="email" required maxlength="320" autocomplete="email" />
      <//>
      <${Field} label="Password" id="password" hint=${registering ? "At least 10 characters." : null}>
        <input
          id="password"
          name="password"
          type="password"
          required
          minlength=${registering ? 10 : 1}
          autocomplete=${registering ? "new-password" : "current-password"}
        />
      <//>
      <${Problem} error=${error} what=${registering ? "create the account" : "sign in"} />
      <button type="submit" class="primary" disabled=${busy}>
        ${registering ? "Create account" : "Sign in"}
      </button>
    </form>
    <p>
      ${registering ? "Have an account? " : "New here? "}
      <button type="button" class="link" onClick=${() => setMode(registering ? "signin" : "register")}>
        ${registering ? "Sign in" : "Create an account"}
      </button>
    </p>
  </div>`;
}

mount(SignIn);
