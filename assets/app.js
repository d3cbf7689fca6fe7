// Seedbed console script: forms that act in place (htmx), live logs and
// statuses over server-sent events, a filter box for logs (hiding actions a
// new status makes moot), confirmation prompts for forms with data-confirm,
// and the CSRF header for htmx requests.
// Plain browser JavaScript, no build step. Every page works without it: its
// forms post and redirect, and a reload shows what changed.
(function () {
  "use strict";

  // htmx settings. Console forms carry hx-boost and swap <main> (see the
  // attributes on <main> in web/views/layout.templ):
  // - the page stays where it is scrolled (no jump to the top);
  // - the browser's back button loads pages again rather than restoring
  //   snapshots, so live streams start afresh;
  // - answers with an error status reach htmx:beforeSwap below, which
  //   decides between showing the page again (a form with its mistakes)
  //   and showing a refusal next to the form.
  // - content a swap brings is taken by htmx (its hx-boost forms bound)
  //   at once: htmx does that when the swap settles, 20 ms later by
  //   default, and a click in between submitted the form natively and
  //   loaded the whole page (seen in the browser tests on a busy machine).
  if (window.htmx) {
    window.htmx.config.defaultSettleDelay = 0;
    window.htmx.config.scrollIntoViewOnBoost = false;
    window.htmx.config.historyCacheSize = 0;
    window.htmx.config.refreshOnHistoryMiss = true;
  }

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

  function submitButtons(form) {
    return form.querySelectorAll('button[type="submit"], button:not([type])');
  }

  function setBusy(form, busy) {
    if (!(form instanceof HTMLFormElement)) return;
    submitButtons(form).forEach(function (b) {
      b.disabled = busy;
      if (busy) b.setAttribute("aria-busy", "true");
      else b.removeAttribute("aria-busy");
    });
  }

  // Forms with data-confirm ask first; a submitted form disables its buttons
  // so a double click does not deploy twice. Forms htmx posts (hx-boost)
  // ask in htmx:confirm instead: htmx has taken their submit event already.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement) || e.defaultPrevented) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      e.preventDefault();
      return;
    }
    if (form.matches("[hx-post], [hx-put], [hx-patch], [hx-delete], [hx-get]")) return;
    window.setTimeout(function () {
      if (e.defaultPrevented) return;
      setBusy(form, true);
    }, 0);
  });

  document.addEventListener("htmx:confirm", function (e) {
    var elt = e.detail && e.detail.elt;
    var question = elt && elt.getAttribute && elt.getAttribute("data-confirm");
    if (!question) return;
    e.preventDefault();
    if (window.confirm(question)) e.detail.issueRequest(true);
  });

  document.addEventListener("htmx:beforeRequest", function (e) {
    clearActionError(e.detail.elt);
    setBusy(e.detail.elt, true);
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    setBusy(e.detail.elt, false);
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

  // Refusals shown in place. A form posted with htmx that the server
  // refuses (403, 404, 409, 422, 500 ...) is answered with the error page;
  // its message goes into a box right after the form, and the page stays
  // as it was. A page sent back with an error status that is not the error
  // page is the form again with its mistakes by its fields: it is swapped
  // in like any answer.
  function parseHTML(text) {
    if (!window.DOMParser || typeof text !== "string") return null;
    return new DOMParser().parseFromString(text, "text/html");
  }

  function clearActionError(elt) {
    if (!(elt instanceof Element)) return;
    var next = elt.nextElementSibling;
    if (next && next.hasAttribute("data-action-error")) next.remove();
  }

  // showActionError puts a message (nodes from the server's error page,
  // or text) in a box after elt.
  function showActionError(elt, title, nodes) {
    if (!(elt instanceof Element) || !elt.isConnected) elt = document.querySelector("main");
    if (!elt) return;
    clearActionError(elt);
    var box = document.createElement("div");
    box.className = "alert alert-error action-error";
    box.setAttribute("role", "alert");
    box.setAttribute("data-action-error", "");
    box.setAttribute("data-testid", "action-error");
    var strong = document.createElement("strong");
    strong.textContent = title;
    box.appendChild(strong);
    var body = document.createElement("p");
    body.className = "alert-body";
    if (typeof nodes === "string") {
      body.textContent = nodes;
    } else {
      nodes.forEach(function (n) { body.appendChild(document.importNode(n, true)); });
    }
    box.appendChild(body);
    if (elt.tagName === "MAIN") elt.insertBefore(box, elt.firstChild);
    else elt.insertAdjacentElement("afterend", box);
  }

  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (!xhr || xhr.status < 400) return;
    var doc = parseHTML(xhr.responseText);
    var errorPage = doc && doc.querySelector("[data-error-page]");
    if (doc && doc.querySelector("#main") && !errorPage) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
      return;
    }
    e.detail.shouldSwap = false;
    var title = "Error " + xhr.status;
    var nodes = "Seedbed could not do this (" + xhr.status + " " + (xhr.statusText || "error") + "). Reload the page and try again.";
    if (errorPage) {
      var t = errorPage.querySelector("[data-error-title]");
      var m = errorPage.querySelector("[data-error-message]");
      if (t) title = t.textContent.trim();
      if (m) nodes = Array.prototype.slice.call(m.childNodes);
    }
    showActionError(e.detail.requestConfig ? e.detail.requestConfig.elt : e.detail.elt, title, nodes);
  });

  function noAnswer(e) {
    showActionError(e.detail.elt, "No answer", "Seedbed did not answer. Check your connection, then try again.");
  }
  document.addEventListener("htmx:sendError", noAnswer);
  document.addEventListener("htmx:timeout", noAnswer);

  // A form that answers with the page it was posted from (a redirect back
  // to it) replaces that history entry instead of adding one; one that
  // leads elsewhere (Deploy opens the build) adds an entry and shows the
  // new page from its top.
  var scrollTopAfterSwap = false;
  document.addEventListener("htmx:beforeHistoryUpdate", function (e) {
    var h = e.detail && e.detail.history;
    if (!h || !h.path) return;
    var here = window.location.pathname + window.location.search;
    var there = h.path.replace(/^https?:\/\/[^/]+/, "");
    if (there === here) {
      h.type = "replace";
    } else {
      scrollTopAfterSwap = true;
    }
  });

  document.addEventListener("htmx:afterSwap", function () {
    if (scrollTopAfterSwap) {
      scrollTopAfterSwap = false;
      window.scrollTo(0, 0);
    }
    closeStale();
  });

  // New content from htmx (a swapped <main>) gets the same set-up as the
  // page had at load.
  document.addEventListener("htmx:load", function (e) {
    init(e.detail && e.detail.elt);
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
  var LEVELS = { error: true, warn: true, info: true, debug: true };

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

  // The event streams the page holds open, each with the element it serves:
  // when that element leaves the page (a swap replaced it) its stream is
  // closed, and while the tab is hidden the page's watches pause (browsers
  // allow only a few open connections per server).
  var streams = [];

  function track(el, source) {
    streams.push({ el: el, source: source });
  }

  function closeStale() {
    streams = streams.filter(function (s) {
      if (s.el.isConnected) return true;
      s.source.close();
      return false;
    });
  }

  // follow streams a run's log: each "line" event appends a span shaped
  // like the server-rendered ones, "status" updates the badge and error box,
  // "end" closes the stream and refreshes the page once so artifacts and
  // deploys show.
  // How many streamed log lines one frame adds at most.
  var LINES_PER_FRAME = 500;

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
    track(log, source);

    source.addEventListener("open", function () {
      if (indicator) {
        indicator.textContent = "Live";
        indicator.classList.remove("live-lost");
      }
    });

    // Lines are added in batches, at most once a frame: adding each as it
    // came (and reading the scroll position for each) laid the page out
    // once per line, and a fast build froze the tab for as long as it ran.
    var pending = [];
    var scheduled = false;
    function addLines() {
      scheduled = false;
      if (!pending.length) return;
      // A frame's worth at most; the rest goes in the next frame, so the
      // page keeps answering while a long log pours in.
      var batch = pending.length > LINES_PER_FRAME ? pending.splice(0, LINES_PER_FRAME) : pending.splice(0);
      var stick = atBottom(log);
      var filter = filterText(log);
      var frag = document.createDocumentFragment();
      batch.forEach(function (line) {
        var span = document.createElement("span");
        span.className = "line stream-" + (STREAMS[line.stream] ? line.stream : "stdout");
        // Function logs carry a level (error, warn, info, debug) to colour by.
        if (LEVELS[line.level]) span.className += " level-" + line.level;
        span.setAttribute("data-id", String(line.id));
        // html is rendered and escaped by the server (web/views/ansi.go).
        if (typeof line.html === "string") {
          span.innerHTML = line.html;
        } else {
          span.textContent = line.text == null ? "" : String(line.text);
        }
        if (filter && !lineMatches(span, filter)) span.hidden = true;
        frag.appendChild(span);
        frag.appendChild(document.createTextNode(span.hidden ? "" : "\n"));
      });
      // Each batch is a block of its own: the browser then lays out the
      // new lines only, not the whole log again, which made each batch
      // of a 100,000-line log slower than the last.
      var chunk = document.createElement("div");
      chunk.className = "log-chunk";
      chunk.appendChild(frag);
      log.appendChild(chunk);
      if (stick) log.scrollTop = log.scrollHeight;
      if (pending.length) schedule();
      else if (drained) drained();
    }
    function schedule() {
      if (scheduled) return;
      scheduled = true;
      // Hidden tabs get no animation frames; they catch up on a timer.
      if (document.hidden || !window.requestAnimationFrame) window.setTimeout(addLines, 250);
      else window.requestAnimationFrame(addLines);
    }
    // drained runs once the lines that came before the stream's end are
    // all in the page; adding them all at once would freeze the tab.
    var drained = null;
    function whenDrained(fn) {
      if (!pending.length) fn();
      else drained = function () { drained = null; fn(); };
    }

    source.addEventListener("line", function (e) {
      var line;
      try { line = JSON.parse(e.data); } catch (err) { return; }
      var id = String(line.id);
      if (seen[id]) return; // a reconnect may resend what the page shows
      seen[id] = true;
      pending.push(line);
      schedule();
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
      whenDrained(function () {
        if (indicator) indicator.hidden = true;
        // Only a run that finished while we watched has news to show; a page
        // that opened on a finished run would otherwise reload for ever.
        if (startedOpen) {
          window.setTimeout(refresh, 1000);
        }
      });
    });

    source.addEventListener("error", function () {
      // The browser reconnects by itself (sending Last-Event-ID) unless the
      // server refused the stream outright.
      if (!indicator) return;
      indicator.classList.add("live-lost");
      indicator.textContent = source.readyState === EventSource.CLOSED ? "Disconnected — reload the page" : "Reconnecting…";
    });
  }

  // fetchPage reads the page at the browser's URL again, parsed.
  function fetchPage() {
    return fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.text();
      })
      .then(function (text) { return new DOMParser().parseFromString(text, "text/html"); });
  }

  // activate sets up content put into the page by this script (htmx does
  // its own): boosted forms, log filters, streams.
  function activate(el) {
    if (window.htmx) window.htmx.process(el);
    init(el);
  }

  // refresh reloads the page in place: it fetches the page again and swaps
  // in its <main>, so the finished run shows its artifacts and deploys
  // without a navigation (no flash, no lost scroll position). When that
  // fails it falls back to a real reload.
  // sameStream says whether two log elements follow the same run's log.
  function sameStream(a, b) {
    var ua = a.getAttribute("data-stream-url"), ub = b.getAttribute("data-stream-url");
    return !!ua && !!ub && ua.split("?")[0] === ub.split("?")[0];
  }

  function refresh() {
    var main = document.querySelector("main");
    if (!main || !window.fetch || !window.DOMParser) {
      window.location.reload();
      return;
    }
    fetchPage()
      .then(function (doc) {
        var fresh = doc.querySelector("main");
        if (!fresh) throw new Error("no <main> in the page");
        var oldLog = main.querySelector("#log");
        var keepBottom = oldLog && atBottom(oldLog);
        // The log on the page already holds every line of the run that
        // just ended: keep it, rather than render its head again and
        // stream the rest a second time.
        var freshLog = fresh.querySelector("#log");
        if (oldLog && freshLog && sameStream(oldLog, freshLog)) {
          oldLog.removeAttribute("data-stream-url");
          freshLog.replaceWith(oldLog);
          var freshIndicator = fresh.querySelector("[data-live-indicator]");
          if (freshIndicator) freshIndicator.hidden = true;
        }
        main.replaceWith(fresh);
        closeStale();
        if (doc.title) document.title = doc.title;
        var log = fresh.querySelector("#log");
        if (log && keepBottom) log.scrollTop = log.scrollHeight;
        activate(fresh);
      })
      .catch(function () {
        window.location.reload();
      });
  }

  // Live regions. A page with a [data-live-url] element follows that
  // stream (web/live.go); each "changed" event fetches the page again and
  // replaces every [data-live-region] element by the one with its id in the
  // fresh page: the stage cards of a board, the apps list, a build's
  // deploys. What the user typed into a replaced form is kept, and so is
  // the focus.
  function swapRegions(doc) {
    var active = document.activeElement;
    var activeID = active && active.id;
    var caret = null;
    if (activeID && typeof active.selectionStart === "number") {
      caret = [active.selectionStart, active.selectionEnd];
    }
    document.querySelectorAll("[data-live-region][id]").forEach(function (old) {
      var fresh = doc.getElementById(old.id);
      if (!fresh) return;
      fresh = document.importNode(fresh, true);
      old.querySelectorAll("input[id], textarea[id], select[id]").forEach(function (input) {
        if (input.type === "hidden") return;
        var twin = fresh.querySelector("#" + CSS.escape(input.id));
        if (!twin) return;
        if (input.type === "checkbox" || input.type === "radio") twin.checked = input.checked;
        else twin.value = input.value;
      });
      old.replaceWith(fresh);
      activate(fresh);
    });
    closeStale();
    if (activeID && active && !active.isConnected) {
      var again = document.getElementById(activeID);
      if (again) {
        again.focus();
        if (caret && again.setSelectionRange) {
          try { again.setSelectionRange(caret[0], caret[1]); } catch (err) { /* not a text field */ }
        }
      }
    }
  }

  function watch(el) {
    var url = el.getAttribute("data-live-url");
    if (!url || !window.EventSource || !window.fetch || !window.DOMParser) return;
    var version = el.getAttribute("data-live-version") || "";
    var source = null;
    var busy = false;
    var again = false;

    function update() {
      if (busy) { again = true; return; }
      busy = true;
      fetchPage()
        .then(function (doc) {
          if (!el.isConnected) return;
          swapRegions(doc);
          var fresh = doc.querySelector("[data-live-url]");
          if (fresh) version = fresh.getAttribute("data-live-version") || version;
        })
        .catch(function () { /* the next change tries again */ })
        .then(function () {
          busy = false;
          if (again) { again = false; update(); }
        });
    }

    function open() {
      if (source || !el.isConnected) return;
      source = new EventSource(url + (url.indexOf("?") < 0 ? "?" : "&") + "v=" + encodeURIComponent(version));
      track(el, source);
      source.addEventListener("changed", function (e) {
        if (!el.isConnected) { source.close(); return; }
        if (e.data && e.data === version) return;
        update();
      });
    }

    function close() {
      if (!source) return;
      source.close();
      source = null;
    }

    el.__watch = { open: open, close: close };
    if (!document.hidden) open();
  }

  document.addEventListener("visibilitychange", function () {
    document.querySelectorAll("[data-live-url]").forEach(function (el) {
      if (!el.__watch) return;
      if (document.hidden) el.__watch.close();
      else el.__watch.open();
    });
  });

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

  // once runs set-up f on el a single time, however often el is handed in
  // (the page's load and htmx's first htmx:load both cover the whole page).
  function once(key, f) {
    return function (el) {
      if (el[key]) return;
      el[key] = true;
      f(el);
    };
  }

  var setupFilterOnce = once("__seedbedFilter", setupFilter);
  var followOnce = once("__seedbedFollow", follow);
  var watchOnce = once("__seedbedWatch", watch);

  function init(root) {
    root = root || document;
    if (!root.querySelectorAll) return;
    var pick = function (sel, f) {
      if (root.matches && root.matches(sel)) f(root);
      root.querySelectorAll(sel).forEach(f);
    };
    pick("input[data-log-filter]", setupFilterOnce);
    pick("pre[data-stream-url]", followOnce);
    pick("[data-live-url]", watchOnce);
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
