// The events page.
import { Card, html, mount } from "../app.js";

function Page() {
  return html`<div class="grid"><${Card} title="Coming next"><p class="muted">This page is being built.</p><//></div>`;
}

mount(Page);
