// The contacts pages: keyboard shortcuts (templates/admin/contacts/shortcuts.html) and ticking
// rows (the box that ticks the whole page, the count of ticked rows, "Ticked rows" chosen as
// soon as a row is ticked). Kept in a file, not inline, for the Content-Security-Policy.
(function () {
  "use strict";

  // --- Keyboard shortcuts: "/", "g l", "g c", "?"; never while typing in a field.
  const TEXT_INPUTS = /^(text|search|email|number|password|tel|url|date|datetime-local|month|time|week)$/;
  let afterG = null;

  function typing(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && TEXT_INPUTS.test(target.type || "text");
  }

  document.addEventListener("keydown", (event) => {
    const dialog = document.getElementById("shortcuts");
    if (!dialog || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (dialog.open || typing(event.target)) return;
    if (afterG) {
      clearTimeout(afterG);
      afterG = null;
      if (event.key === "l") window.location.assign(dialog.dataset.labelsUrl);
      else if (event.key === "c") window.location.assign(dialog.dataset.contactsUrl);
      return;
    }
    if (event.key === "/") {
      const field = dialog.dataset.search && document.querySelector(dialog.dataset.search);
      if (!field) return;
      event.preventDefault();
      field.focus();
      if (field.select) field.select();
    } else if (event.key === "g") {
      afterG = setTimeout(() => {
        afterG = null;
      }, 1500);
    } else if (event.key === "?") {
      event.preventDefault();
      dialog.showModal();
    }
  });

  document.addEventListener("click", (event) => {
    if (!(event.target instanceof Element) || !event.target.closest("[data-shortcuts-open]")) return;
    const dialog = document.getElementById("shortcuts");
    if (dialog) dialog.showModal();
  });

  // --- Ticking rows.
  let allMatching = false; // "All N matching" chosen on this page (not remembered beyond it)

  function rowBoxes(results) {
    return Array.from(results.querySelectorAll("#result_list tbody input[name=contact]"));
  }

  function refresh(results) {
    const boxes = rowBoxes(results);
    const ticked = boxes.filter((box) => box.checked).length;
    const pageBox = results.querySelector("#select-page");
    if (pageBox) {
      pageBox.checked = boxes.length > 0 && ticked === boxes.length;
      pageBox.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    const count = results.querySelector("#ticked-count");
    if (count) count.textContent = String(ticked);
    results.querySelectorAll("#result_list tbody tr").forEach((row) => {
      const box = row.querySelector("input[name=contact]");
      row.classList.toggle("selected", Boolean(box && box.checked));
    });
  }

  function chooseTicked(results) {
    const ticked = results.querySelector("input[name=selection][value=ids]");
    if (ticked) ticked.checked = true;
    allMatching = false;
  }

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLInputElement)) return;
    const results = target.closest("#results");
    if (!results) return;
    if (target.id === "select-page") {
      rowBoxes(results).forEach((box) => {
        box.checked = target.checked;
      });
      if (target.checked) chooseTicked(results);
      refresh(results);
    } else if (target.name === "contact") {
      if (target.checked) chooseTicked(results);
      refresh(results);
    } else if (target.name === "selection") {
      allMatching = target.value === "all";
    }
  });

  // The results come again after every change of the rules: "All N matching" stays chosen.
  htmx.onLoad((content) => {
    const results = content.id === "results" ? content : content.querySelector("#results");
    if (!results) return;
    if (allMatching) {
      const all = results.querySelector("#select-all-matching");
      if (all) all.checked = true;
    }
    refresh(results);
  });
})();
