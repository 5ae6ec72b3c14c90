// Labels page: Esc cancels an inline rename or delete confirmation (the form's Cancel button
// does the work, through htmx). Kept in a file, not inline, for the Content-Security-Policy.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const form = event.target.closest && event.target.closest("[data-escape-cancels]");
  const cancel = form && form.querySelector("[data-cancel]");
  if (!cancel) return;
  event.preventDefault();
  cancel.click();
});
