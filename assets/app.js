// Seedbed console script: live logs and statuses over server-sent events,
// a filter box for logs
// (hiding actions a new status makes moot), confirmation prompts for forms
// with data-confirm, and the CSRF header for htmx requests.
// Plain browser JavaScript, no build step.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // htmx requests carry the token in the header the server checks
  // (X-CSRF-Token), since they do not always post a form with _csrf.
  document.addEventListener("htmx:configRequest", function (e) {
    var token = csrfToken();
    if (token && e.detail && e.detail.headers) {
      e.detail.headers["X-CSRF-Token"] = token;
    }
  });

  // Forms with data-confirm ask first; a submitted form disables its buttons
  // so a double click does not deploy twice.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      e.preventDefault();
      return;
    }
    if (form.matches("[hx-post], [hx-put], [hx-patch], [hx-delete], [hx-get]")) return;
    window.setTimeout(function () {
      if (e.defaultPrevented) return;
      form.querySelectorAll('button[type="submit"], button:not([type])').forEach(function (b) {
        b.disabled = true;
        b.setAttribute("aria-busy", "true");
      });
    }, 0);
  });

  // Coming back with the browser's back button restores the page from the
  // cache with its buttons still disabled.
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return;
    document.querySelectorAll('button[aria-busy="true"]').forEach(function (b) {
      b.disabled = false;
      b.removeAttribute("aria-busy");
    });
  });

  // Keep these in step with statusClass, statusLabel and isTerminal in
  // web/views/format.go.
  var TERMINAL = { succeeded: true, failed: true, superseded: true, rejected: true, cancelled: true };
  var KNOWN = {
    queued: true, running: true, succeeded: true, failed: true, superseded: true,
    awaiting_approval: true, rejected: true, cancelled: true
  };
  var LABELS = { "": "not deployed", awaiting_approval: "awaiting approval" };
  var STREAMS = { stdout: true, stderr: true, seedbed: true };

  function setStatus(badge, status) {
    if (!badge) return;
    badge.setAttribute("data-status", status);
    badge.className = "badge badge-" + (KNOWN[status] ? status : "none");
    badge.textContent = LABELS.hasOwnProperty(status) ? LABELS[status] : status;
  }

  // Actions that only make sense in some states (approve while awaiting
  // approval, cancel while unfinished) carry data-live-while="status ...";
  // they hide as soon as the stream reports another status, before the page
  // refreshes.
  function showActionsFor(status) {
    document.querySelectorAll("[data-live-while]").forEach(function (el) {
      var states = el.getAttribute("data-live-while").split(/\s+/);
      el.hidden = states.indexOf(status) < 0;
    });
  }

  function showError(message) {
    var box = document.querySelector("[data-live-error]");
    if (!box || !message) return;
    var text = box.querySelector("[data-live-error-text]");
    (text || box).textContent = message;
    box.hidden = false;
  }

  function atBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 8;
  }

  // follow streams a run's log: each "line" event appends a span shaped
  // like the server-rendered ones, "status" updates the badge and error box,
  // "end" closes the stream and refreshes the page once so artifacts and
  // deploys show.
  function follow(log) {
    var url = log.getAttribute("data-stream-url");
    if (!url || !window.EventSource) return;
    var badge = document.querySelector("[data-live-status]");
    var indicator = document.querySelector("[data-live-indicator]");
    var startedOpen = !badge || !TERMINAL[badge.getAttribute("data-status")];
    var seen = {};
    log.querySelectorAll("span[data-id]").forEach(function (s) {
      seen[s.getAttribute("data-id")] = true;
    });
    log.scrollTop = log.scrollHeight;

    var source = new EventSource(url);

    source.addEventListener("open", function () {
      if (indicator) {
        indicator.textContent = "Live";
        indicator.classList.remove("live-lost");
      }
    });

    source.addEventListener("line", function (e) {
      var line;
      try { line = JSON.parse(e.data); } catch (err) { return; }
      var id = String(line.id);
      if (seen[id]) return; // a reconnect may resend what the page shows
      seen[id] = true;
      var stick = atBottom(log);
      var span = document.createElement("span");
      span.className = "line stream-" + (STREAMS[line.stream] ? line.stream : "stdout");
      span.setAttribute("data-id", id);
      // html is rendered and escaped by the server (web/views/ansi.go).
      if (typeof line.html === "string") {
        span.innerHTML = line.html;
      } else {
        span.textContent = line.text == null ? "" : String(line.text);
      }
      if (filterText(log) && !lineMatches(span, filterText(log))) span.hidden = true;
      log.appendChild(span);
      log.appendChild(document.createTextNode(span.hidden ? "" : "\n"));
      if (stick) log.scrollTop = log.scrollHeight;
    });

    source.addEventListener("status", function (e) {
      var st;
      try { st = JSON.parse(e.data); } catch (err) { return; }
      setStatus(badge, st.status || "");
      showActionsFor(st.status || "");
      if (st.error) showError(st.error);
    });

    source.addEventListener("end", function () {
      source.close();
      if (indicator) indicator.hidden = true;
      // Only a run that finished while we watched has news to show; a page
      // that opened on a finished run would otherwise reload for ever.
      if (startedOpen) {
        window.setTimeout(refresh, 1000);
      }
    });

    source.addEventListener("error", function () {
      // The browser reconnects by itself (sending Last-Event-ID) unless the
      // server refused the stream outright.
      if (!indicator) return;
      indicator.classList.add("live-lost");
      indicator.textContent = source.readyState === EventSource.CLOSED ? "Disconnected — reload the page" : "Reconnecting…";
    });
  }

  // refresh reloads the page in place: it fetches the page again and swaps
  // in its <main>, so the finished run shows its artifacts and deploys
  // without a navigation (no flash, no lost scroll position). When that
  // fails it falls back to a real reload.
  function refresh() {
    var main = document.querySelector("main");
    if (!main || !window.fetch || !window.DOMParser) {
      window.location.reload();
      return;
    }
    fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.querySelector("main");
        if (!fresh) throw new Error("no <main> in the page");
        var oldLog = main.querySelector("#log");
        var keepBottom = oldLog && atBottom(oldLog);
        main.replaceWith(fresh);
        if (doc.title) document.title = doc.title;
        var log = fresh.querySelector("#log");
        if (log && keepBottom) log.scrollTop = log.scrollHeight;
        init(fresh);
      })
      .catch(function () {
        window.location.reload();
      });
  }

  // Log filter: the box in a log's header hides the lines that do not
  // contain its text (ignoring case); streamed lines are filtered as they
  // arrive. The box is hidden in the HTML so pages without JavaScript do not
  // show a box that does nothing.
  function filterText(log) {
    var box = log.__filterBox;
    return box ? box.value.trim().toLowerCase() : "";
  }

  function lineMatches(span, q) {
    return span.textContent.toLowerCase().indexOf(q) >= 0;
  }

  function applyFilter(log, box, count) {
    var q = box.value.trim().toLowerCase();
    var spans = log.querySelectorAll("span[data-id]");
    var shown = 0;
    for (var i = 0; i < spans.length; i++) {
      var match = !q || lineMatches(spans[i], q);
      spans[i].hidden = !match;
      // The newline after a line is a text node; hide it with the line.
      var nl = spans[i].nextSibling;
      if (nl && nl.nodeType === 3) nl.textContent = match ? "\n" : "";
      if (match) shown++;
    }
    if (count) {
      count.hidden = !q;
      count.textContent = q ? shown + " of " + spans.length + " lines" : "";
    }
  }

  function setupFilter(box) {
    var log = document.getElementById(box.getAttribute("data-log-filter"));
    if (!log) return;
    log.__filterBox = box;
    box.hidden = false;
    var count = box.parentNode.querySelector("[data-log-filter-count]");
    var timer = 0;
    box.addEventListener("input", function () {
      // Debounced: a 100,000-line log takes a moment to walk.
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { applyFilter(log, box, count); }, 120);
    });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Escape") {
        box.value = "";
        applyFilter(log, box, count);
      }
    });
  }

  function init(root) {
    (root || document).querySelectorAll("input[data-log-filter]").forEach(setupFilter);
    (root || document).querySelectorAll("pre[data-stream-url]").forEach(follow);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(); });
  } else {
    init();
  }
  // Buttons with data-copy put the value of the element with that id on the
  // clipboard (the settings page's secret, webhook and remote URLs).
  document.addEventListener("click", function (e) {
    var btn = e.target instanceof Element ? e.target.closest("[data-copy]") : null;
    if (!btn) return;
    var el = document.getElementById(btn.getAttribute("data-copy"));
    if (!el) return;
    var text = "value" in el ? el.value : el.textContent;
    var done = function () {
      var label = btn.textContent;
      btn.textContent = "Copied";
      window.setTimeout(function () { btn.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else if (el.select) {
      el.select();
      try { document.execCommand("copy"); done(); } catch (err) { /* the text stays selected */ }
    }
  });
})();
