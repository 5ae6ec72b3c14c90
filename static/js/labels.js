// Labels page: Esc cancels an inline rename or delete confirmation (the form's Cancel button
// does the work, through htmx). Kept in a file, not inline, for the Content-Security-Policy.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const form = event.target.closest && event.target.closest("[data-escape-cancels]");
  const cancel = form && form.querySelector("[data-cancel]");
  if (!cancel) return;
  event.preventDefault();
  // htmx wires up a row it has just swapped in when the row settles: at once by our htmx-config,
  // later for a swap that asks for a settle delay. An Esc pressed before then waits for that,
  // instead of clicking a Cancel button that does nothing yet.
  const fresh = form.closest(".htmx-added");
  if (fresh) fresh.addEventListener("htmx:load", () => cancel.click(), { once: true });
  else cancel.click();
});

// While a request is on its way, the element that sent it says so to assistive technology too
// (hx-disabled-elt and hx-indicator show it on screen).
document.addEventListener("htmx:beforeRequest", (event) => {
  event.detail.elt.setAttribute("aria-busy", "true");
});
document.addEventListener("htmx:afterRequest", (event) => {
  event.detail.elt.removeAttribute("aria-busy");
});

// In the search box, the down arrow goes to the first result's name (Tab gets there too, past the
// merge button and the sort links).
document.addEventListener("keydown", (event) => {
  if (event.key !== "ArrowDown" || event.target.id !== "label-search-q") return;
  const first = document.querySelector("#label-rows a.label-name");
  if (!first) return;
  event.preventDefault();
  first.focus();
});
