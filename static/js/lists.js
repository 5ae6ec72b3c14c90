// Label from a list (templates/admin/contacts/contact/from_list.html): the upload's progress in
// the "Reading the list…" bar while a file is sent. Kept in a file for the Content-Security-Policy.
(function () {
  "use strict";

  document.addEventListener("htmx:xhr:progress", (event) => {
    const bar = document.getElementById("list-upload");
    if (!bar || !event.target.closest || !event.target.closest("#list-form")) return;
    if (event.detail.lengthComputable && event.detail.total) {
      bar.value = Math.round((100 * event.detail.loaded) / event.detail.total);
    }
  });
})();
