// When an htmx request gets no answer we can show (the network is down, or a proxy in front of
// labelsite failed), say so in plain words instead of leaving the click without effect.
// Kept in a file, not inline, for the Content-Security-Policy.
(function () {
  function say(text) {
    const box = document.getElementById("htmx-messages");
    if (!box) return;
    box.innerHTML = "";
    const note = document.createElement("p");
    note.className = "errornote";
    note.textContent = text;
    box.appendChild(note);
  }
  document.addEventListener("htmx:sendError", function () {
    say("labelsite did not answer. Check your connection and try again; nothing was changed.");
  });
  document.addEventListener("htmx:responseError", function (event) {
    const status = event.detail.xhr.status;
    if (status >= 500 && status !== 500) {
      say("labelsite is not answering right now (HTTP " + status + "). Try again in a minute.");
    }
  });
  document.addEventListener("htmx:beforeRequest", function () {
    const box = document.getElementById("htmx-messages");
    if (box) box.innerHTML = "";
  });
})();
