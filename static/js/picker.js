// The label picker (templates/admin/contacts/label_picker.html): a WAI-ARIA combobox with a
// listbox of the labels the server suggests, best match first.
//
// Typing asks for suggestions (fetch, newest answer wins, so nothing else on the page can
// drop or delay the request); ArrowDown/ArrowUp move through them (and open the list); Enter
// picks the active one, or the one that matches what was typed; Escape closes the list, and a
// second Escape clears the field; leaving the field closes the list. A pick goes to the server
// through htmx, one after another in the order they were made, while the field stays focused
// and empty for the next label. Kept in a file, not inline, for the Content-Security-Policy.
(function () {
  "use strict";

  const WAIT_MS = 120; // a pause in typing this long asks the server
  const ready = new WeakSet();

  function setUp(root) {
    if (ready.has(root)) return;
    ready.add(root);
    const input = root.querySelector("[role=combobox]");
    const list = root.querySelector("[role=listbox]");
    const status = root.querySelector(".picker-status");
    let timer = null;
    let request = null; // {controller, text}
    let shownFor = null; // the text the listed options answer
    let active = -1;
    let enterWaiting = false;
    let moveWaiting = null; // a step to take once the options being loaded are shown
    let picks = Promise.resolve();
    const pending = new Set(); // keys picked whose answer has not come back yet

    function options() {
      return Array.from(list.querySelectorAll("[role=option]"));
    }

    function say(text, visible) {
      status.textContent = text;
      status.classList.toggle("is-visible", Boolean(visible));
    }

    function open() {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      activate(-1);
    }

    function activate(index) {
      const all = options();
      active = index;
      all.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
      if (index >= 0 && all[index]) {
        input.setAttribute("aria-activedescendant", all[index].id);
        all[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function excluded() {
      const keys = new Set(pending);
      if (root.dataset.exclude) {
        document.querySelectorAll(root.dataset.exclude).forEach((area) => {
          area.querySelectorAll("input[type=hidden][value]").forEach((field) => {
            if (field.name !== "idempotency_key" && field.name !== "csrfmiddlewaretoken") {
              keys.add(field.value);
            }
          });
        });
      }
      return keys;
    }

    function load(text) {
      if (request) request.controller.abort();
      const controller = new AbortController();
      request = { controller, text };
      const url = new URL(root.dataset.suggestUrl, window.location.href);
      url.searchParams.set("label_q", text);
      excluded().forEach((key) => url.searchParams.append("exclude", key));
      fetch(url, { headers: { "HX-Request": "true" }, signal: controller.signal })
        .then((response) => {
          // A session that ended answers with the login page (after a redirect), not labels.
          if (response.redirected) throw new Error("logged out");
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then((html) => {
          if (request && request.controller === controller) show(html, text);
        })
        .catch((error) => {
          if (error.name === "AbortError") return;
          enterWaiting = false;
          close();
          if (error.message === "logged out") {
            say("You are logged out. Reload the page to log in again.", true);
          } else {
            say("The labels could not be loaded. Check your connection and type again.", true);
          }
        })
        .finally(() => {
          if (request && request.controller === controller) request = null;
        });
    }

    function show(html, text) {
      list.innerHTML = html; // our own escaped partial (templates/admin/contacts/label_picker.html#options)
      shownFor = text;
      options().forEach((option, i) => {
        option.id = `${input.id}-option-${i}`;
      });
      activate(-1);
      if (!options().length) {
        close();
        say(text ? `No label matches “${text}”.` : "No more labels to add.", true);
      } else {
        say("", false);
        if (document.activeElement === input) open();
      }
      const step = moveWaiting;
      moveWaiting = null;
      if (enterWaiting) {
        enterWaiting = false;
        enter();
      } else if (step && options().length) {
        move(step);
      }
    }

    function ask(now) {
      clearTimeout(timer);
      const text = input.value.trim();
      if (request && request.text === text) return;
      if (now) load(text);
      else timer = setTimeout(() => load(text), WAIT_MS);
    }

    function move(step) {
      const all = options();
      if (!all.length) return;
      if (list.hidden) open();
      let next = active + step;
      if (active < 0) next = step > 0 ? 0 : all.length - 1;
      activate((next + all.length) % all.length);
    }

    function current() {
      return shownFor !== null && shownFor === input.value.trim();
    }

    function openAndMove(step) {
      if (current() && options().length) {
        if (step) move(step);
        else open();
        return;
      }
      // Not loaded yet (or loaded for other text): load, then move once the options are shown.
      moveWaiting = step;
      ask(true);
    }

    function enter() {
      const text = input.value.trim();
      const all = options();
      if (!list.hidden && active >= 0 && all[active]) {
        pick(all[active]);
        return;
      }
      if (!text) return;
      if (!current()) {
        enterWaiting = true;
        ask(true);
        return;
      }
      const wanted = text.toLocaleLowerCase();
      const exact = all.filter((o) => o.dataset.name.trim().toLocaleLowerCase() === wanted);
      // The only option is picked at once when its name holds the text; one found only by its
      // description is shown first, so that Enter never applies a label nobody named.
      const named = all.filter((o) => o.dataset.name.toLocaleLowerCase().includes(wanted));
      if (exact.length === 1) pick(exact[0]);
      else if (all.length === 1 && named.length === 1) pick(all[0]);
      else if (all.length) {
        open();
        activate(0);
        say(
          all.length === 1
            ? "One label matches by its description: press Enter again to choose it."
            : "Several labels match: choose one with the arrow keys and Enter.",
          false,
        );
      }
    }

    function pick(option) {
      const key = option.dataset.key;
      const name = option.dataset.name;
      clearTimeout(timer);
      if (request) request.controller.abort();
      request = null;
      input.value = "";
      shownFor = null;
      close();
      list.innerHTML = "";
      input.focus();
      say(`“${name}” chosen.`, false);
      pending.add(key);
      const send = () =>
        htmx.ajax(root.dataset.pickMethod || "GET", root.dataset.pickUrl, {
          source: root,
          target: root.dataset.pickTarget,
          swap: root.dataset.pickSwap || "beforeend",
          values: { key },
        });
      // One after another: each answer may carry what the next request needs (a new key).
      picks = picks
        .then(send, send)
        .catch(() => {}) // htmx has said what went wrong (static/js/labelsite.js)
        .finally(() => pending.delete(key));
    }

    input.addEventListener("input", () => {
      enterWaiting = false;
      moveWaiting = null;
      shownFor = null;
      if (!input.value.trim()) {
        clearTimeout(timer);
        if (request) request.controller.abort();
        request = null;
        close();
        say("", false);
        return;
      }
      ask(false);
    });

    input.addEventListener("keydown", (event) => {
      if (event.altKey && event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
      if (event.ctrlKey || event.metaKey) return;
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          openAndMove(event.altKey ? 0 : 1);
          break;
        case "ArrowUp":
          event.preventDefault();
          openAndMove(-1);
          break;
        case "Enter":
          event.preventDefault(); // never submits a surrounding form
          enter();
          break;
        case "Escape":
          if (!list.hidden) {
            event.preventDefault();
            event.stopPropagation();
            close();
          } else if (input.value) {
            event.preventDefault();
            event.stopPropagation();
            input.value = "";
            input.dispatchEvent(new Event("input"));
          }
          break;
        case "Tab":
          close();
          break;
        default:
          break;
      }
    });

    root.addEventListener("focusout", (event) => {
      if (!root.contains(event.relatedTarget)) {
        enterWaiting = false;
        moveWaiting = null;
        close();
      }
    });

    input.addEventListener("click", () => {
      if (list.hidden && current() && options().length) open();
    });

    // A press on an option must not take the focus from the field.
    list.addEventListener("mousedown", (event) => event.preventDefault());
    list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) pick(option);
    });
    list.addEventListener("mousemove", (event) => {
      const option = event.target.closest("[role=option]");
      const index = options().indexOf(option);
      if (option && index !== active) activate(index);
    });

    root.picker = { close };
  }

  // After a chip's × or a contact's label button has done its work (and left the page), the
  // focus goes back to the picker named by data-refocus instead of falling to <body>.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    const selector = elt && elt.dataset && elt.dataset.refocus;
    if (!selector) return;
    elt.addEventListener(
      "htmx:afterRequest",
      () => {
        const field = document.querySelector(selector);
        if (field && !document.body.contains(elt)) field.focus();
        else if (field && document.activeElement === document.body) field.focus();
      },
      { once: true },
    );
  });

  // A page kept for the back button must not keep an open list.
  document.addEventListener("htmx:beforeHistorySave", () => {
    document.querySelectorAll("[data-picker]").forEach((root) => {
      if (root.picker) root.picker.close();
    });
  });

  htmx.onLoad((content) => {
    if (content.matches && content.matches("[data-picker]")) setUp(content);
    content.querySelectorAll("[data-picker]").forEach(setUp);
  });
})();
