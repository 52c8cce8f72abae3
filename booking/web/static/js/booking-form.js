/* The booking form, enhanced: a date range picker with per-day availability, a person counter per
 * sleeping place capped at its free capacity for the chosen nights, a live notes counter and a
 * summary. Without this script the form still works: two date inputs and number fields.
 * The date inputs stay the submitted fields; the picker only writes into them. */
(function () {
  "use strict";
  var form = document.querySelector("[data-booking-form]");
  var configNode = document.getElementById("booking-form-config");
  if (!form || !configNode || !window.fetch) return;
  var cfg = JSON.parse(configNode.textContent);
  var T = cfg.text;
  var DAY = 86400000;
  var startInput = form.querySelector("#f-start_date");
  var endInput = form.querySelector("#f-end_date");
  var rows = Array.prototype.slice.call(form.querySelectorAll("[data-place]"));

  // --- helpers (dates are UTC midnights in milliseconds: no daylight-saving surprises) -----
  function parse(text) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3]) : null;
  }
  function iso(ms) { return new Date(ms).toISOString().slice(0, 10); }
  function nights(a, b) { return Math.round((b - a) / DAY); }
  function monthOf(ms) { var d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1); }
  function addMonths(ms, n) { var d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1); }
  function weekday(ms) { return (new Date(ms).getUTCDay() + 6) % 7; } // Monday = 0
  function plural(key, n) { var f = cfg.plural[key]; return (n === 1 ? f[0] : f[1]).replace("{n}", n); }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, key) { return key in values ? values[key] : all; });
  }
  function fmt(ms) {
    var d = new Date(ms);
    return fill(cfg.dateFormat, { d: d.getUTCDate(), month: cfg.months[d.getUTCMonth()], y: d.getUTCFullYear() });
  }
  function longDate(ms) { return cfg.weekdays[weekday(ms)] + ", " + fmt(ms); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      });
  }
  function query(start, end) {
    var q = "startDate=" + iso(start) + "&endDate=" + iso(end);
    return cfg.excludeBookingId ? q + "&excludeBookingId=" + encodeURIComponent(cfg.excludeBookingId) : q;
  }

  var today = parse(cfg.today);
  // House rules for members, computed on the server (the house's today): arrival from
  // firstArrival (or the edited stay's own keepArrival), departure until lastDeparture.
  var bounds = cfg.bounds || {};
  var firstArrival = parse(bounds.firstArrival);
  var keepArrival = parse(bounds.keepArrival);
  var lastDeparture = parse(bounds.lastDeparture);
  var state = { start: parse(startInput.value), end: parse(endInput.value), hover: null };
  if (state.start !== null && state.end !== null && state.end <= state.start) state.end = null;

  // --- sleeping places: counters, free capacity, summary --------------------------------------
  var placesStatus = form.querySelector("[data-places-status]");
  var placesWarning = form.querySelector("[data-places-warning]");
  var placesRequest = 0;

  rows.forEach(function (row) {
    var input = row.querySelector("input[type=number]");
    var counter = row.querySelector("[data-counter]");
    var label = row.querySelector("label");
    label.id = label.id || "l-" + input.id;
    counter.setAttribute("role", "group");
    counter.setAttribute("aria-labelledby", label.id);
    var minus = el("button", { type: "button", "aria-label": T.decrease, "aria-controls": input.id }, "−");
    var plus = el("button", { type: "button", "aria-label": T.increase, "aria-controls": input.id }, "+");
    counter.insertBefore(minus, input);
    counter.appendChild(plus);
    row.placeMax = +row.dataset.capacity;
    function step(delta) {
      input.value = Math.min(row.placeMax, Math.max(0, (parseInt(input.value, 10) || 0) + delta));
      update();
    }
    minus.addEventListener("click", function () { step(-1); });
    plus.addEventListener("click", function () { step(1); });
    input.addEventListener("input", update);
    input.addEventListener("change", function () { step(0); });
    row.minus = minus; row.plus = plus; row.input = input;
  });

  function persons(row) { return Math.max(0, parseInt(row.input.value, 10) || 0); }

  function updateCounters() {
    rows.forEach(function (row) {
      var value = persons(row);
      row.minus.disabled = row.input.disabled || value <= 0;
      row.plus.disabled = row.input.disabled || value >= row.placeMax;
    });
  }

  function showFree(row, free) {
    var badge = row.querySelector("[data-free]");
    var capacity = +row.dataset.capacity;
    if (free === null) { badge.hidden = true; row.placeMax = capacity; row.input.disabled = false; return; }
    badge.hidden = false;
    badge.className = "badge " + (free >= capacity ? "status-accepted" : free > 0 ? "status-pending" : "status-cancelled");
    badge.textContent = free >= capacity ? T.available : free > 0 ? fill(T.free, { n: free }) : T.occupied;
    row.placeMax = free;
    row.input.max = String(free);
    if (persons(row) > free) row.input.value = String(free);
    row.input.disabled = free === 0;
  }

  function loadPlaces() {
    var ticket = ++placesRequest;
    placesWarning.hidden = true;
    if (state.start === null || state.end === null) {
      rows.forEach(function (row) { showFree(row, null); row.input.max = row.dataset.capacity; });
      placesStatus.textContent = T.pickDatesFirst;
      update();
      return;
    }
    placesStatus.textContent = T.checking;
    getJSON("/api/bookings/availability?" + query(state.start, state.end)).then(function (data) {
      if (ticket !== placesRequest) return;
      var free = {};
      (data.accommodations || []).forEach(function (a) { free[a.id] = a.availableCapacity; });
      rows.forEach(function (row) { showFree(row, row.dataset.place in free ? free[row.dataset.place] : 0); });
      placesStatus.textContent = "";
      update();
    }).catch(function () {
      if (ticket !== placesRequest) return;
      rows.forEach(function (row) { showFree(row, null); row.input.max = row.dataset.capacity; });
      placesStatus.textContent = "";
      placesWarning.textContent = T.checkFailed;
      placesWarning.hidden = false;
      update();
    });
  }

  var summary = form.querySelector("[data-summary]");
  var summaryText = form.querySelector("[data-summary-text]");
  var summaryPlaces = form.querySelector("[data-summary-places]");

  function update() {
    updateCounters();
    var chosen = rows.filter(function (row) { return persons(row) > 0; });
    var total = chosen.reduce(function (sum, row) { return sum + persons(row); }, 0);
    var complete = state.start !== null && state.end !== null;
    summary.hidden = !complete && !total;
    var parts = [];
    if (complete) parts.push(fmt(state.start) + " – " + fmt(state.end), plural("nights", nights(state.start, state.end)));
    parts.push(plural("persons", total), plural("places", chosen.length));
    summaryText.textContent = parts.join(" · ");
    summaryPlaces.textContent = "";
    chosen.forEach(function (row) {
      summaryPlaces.appendChild(el("li", {}, row.dataset.name + ": " + plural("persons", persons(row))));
    });
  }

  // --- notes counter ---------------------------------------------------------------------------
  var notes = form.querySelector("#f-notes");
  var notesCount = form.querySelector("[data-notes-count]");
  function countNotes() { notesCount.textContent = fill(T.notesCount, { n: notes.value.length, max: cfg.maxNotes }); }
  notes.addEventListener("input", countNotes);
  countNotes();

  // --- the date range picker -------------------------------------------------------------------
  var pastStart = state.start !== null && state.start < today; // a running stay keeps its arrival
  if (pastStart) {
    [startInput, endInput].forEach(function (input) {
      input.addEventListener("change", function () {
        state.start = parse(startInput.value); state.end = parse(endInput.value);
        if (state.start === null || state.end === null || state.end <= state.start) state.end = null;
        loadPlaces();
      });
    });
    loadPlaces();
    return;
  }

  var nightsByDate = {};   // "YYYY-MM-DD" -> {full, freeBeds}
  var loadedGrids = {};
  var shown = monthOf(state.start !== null ? state.start : today);
  var focusDate = null;
  var mount = form.querySelector("[data-picker-mount]");
  form.querySelector("[data-date-inputs]").hidden = true;
  var errorIds = Array.prototype.map.call(form.querySelectorAll("#dates .error"), function (e) { return e.id; });

  var picker = el("div", { "class": "picker", role: "group", "aria-label": T.calendar });
  if (errorIds.length) picker.setAttribute("aria-describedby", errorIds.join(" "));
  var display = el("p", { "class": "picker-display" });
  var head = el("div", { "class": "picker-head" });
  var prev = el("button", { type: "button", "aria-label": T.previous }, "‹");
  var title = el("p", { id: "picker-title", "class": "picker-title", "aria-live": "polite" });
  var next = el("button", { type: "button", "aria-label": T.next }, "›");
  head.appendChild(prev); head.appendChild(title); head.appendChild(next);
  var grid = el("div", { "class": "picker-grid", role: "group", "aria-labelledby": "picker-title" });
  var hint = el("p", { "class": "picker-hint", "aria-live": "polite" });
  var tools = el("div", { "class": "picker-tools" });
  var todayButton = el("button", { type: "button" }, T.today);
  var clearButton = el("button", { type: "button" }, T.clear);
  tools.appendChild(todayButton); tools.appendChild(clearButton);
  var legend = el("ul", { "class": "picker-legend" });
  var legendItems = [["lg-past", T.past], ["lg-full", T.full], ["lg-closed", T.closed]];
  if (firstArrival !== null || lastDeparture !== null) legendItems.push(["lg-unbookable", T.unbookable]);
  legendItems.concat([["lg-selected", T.selected], ["lg-today", T.today]]).forEach(function (item) {
    var li = el("li");
    li.appendChild(el("span", { "class": item[0], "aria-hidden": "true" }));
    li.appendChild(document.createTextNode(item[1]));
    legend.appendChild(li);
  });
  var closures = el("ul", { "class": "picker-closures" }); // the visible reasons of closed nights
  [display, head, grid, hint, closures, tools, legend].forEach(function (node) { picker.appendChild(node); });
  mount.appendChild(picker);

  function gridStart() { return shown - weekday(shown) * DAY; }
  function isFull(ms) { var n = nightsByDate[iso(ms)]; return !!(n && n.full); }
  /** A closed night (house rules: "Sperrzeit") has its reason; null when open. */
  function closedReason(ms) { var n = nightsByDate[iso(ms)]; return n && n.closed ? n.closedReason || "" : null; }
  /** A night the member may not book (house rules: booking window, minimum notice), with the
   * rule's text; null when allowed. Nights before the notice ends are out as arrivals only: a
   * kept arrival's stay may run through them. */
  function tooFar(ms) { return lastDeparture !== null && ms >= lastDeparture; }
  function ruleReason(ms) {
    if (tooFar(ms)) return bounds.tooFar;
    if (firstArrival !== null && ms < firstArrival && ms !== keepArrival) return bounds.tooSoon;
    return null;
  }
  function isBlocked(ms) { return isFull(ms) || closedReason(ms) !== null || tooFar(ms); }

  /** The last possible departure for an arrival: the first full or closed night ends the stay. */
  function lastEnd(start) {
    var limit = start + cfg.maxNights * DAY;
    for (var day = start + DAY; day < limit; day += DAY) if (isBlocked(day)) return day;
    return limit;
  }

  function loadGrid() {
    var first = gridStart();
    var key = iso(first);
    if (loadedGrids[key]) return;
    loadedGrids[key] = true;
    getJSON("/api/calendar/availability?" + query(first, first + 42 * DAY)).then(function (list) {
      list.forEach(function (night) { nightsByDate[night.date.slice(0, 10)] = night; });
      render(false);
    }).catch(function () { loadedGrids[key] = false; });
  }

  function dayState(ms) {
    var awaitingEnd = state.start !== null && state.end === null;
    var validEnd = awaitingEnd && ms > state.start && ms <= lastEnd(state.start);
    var closed = closedReason(ms);
    var rule = ms < today ? null : ruleReason(ms);
    return {
      past: ms < today,
      full: isFull(ms),
      closed: closed,
      rule: rule,
      validEnd: validEnd,
      disabled: ms < today || ((isBlocked(ms) || rule !== null) && !validEnd)
    };
  }

  var notice = null;   // why a click started a new stay instead of ending one
  var builtFor = null; // the grid's first day; buttons are rebuilt only when the month changes

  /** Draw the month: rebuild the 42 buttons if needed, then update every button in place (so
   * hovering never replaces the element under the pointer). keepFocus: focus the focus date. */
  function render(keepFocus) {
    var first = gridStart();
    var d = new Date(shown);
    title.textContent = cfg.months[d.getUTCMonth()] + " " + d.getUTCFullYear();
    prev.disabled = shown <= monthOf(today);
    if (builtFor !== first) {
      builtFor = first;
      grid.textContent = "";
      cfg.weekdaysShort.forEach(function (name, i) {
        grid.appendChild(el("abbr", { "class": "dow", title: cfg.weekdays[i] }, name));
      });
      for (var n = 0; n < 42; n++) {
        var ms = first + n * DAY;
        grid.appendChild(el("button", { type: "button", "data-date": iso(ms), tabindex: "-1" },
          String(new Date(ms).getUTCDate())));
      }
    }
    var preview = state.start !== null && state.end === null && state.hover !== null &&
      state.hover > state.start && dayState(state.hover).validEnd ? state.hover : null;
    if (focusDate === null || focusDate < first || focusDate >= first + 42 * DAY) {
      focusDate = state.start !== null && monthOf(state.start) === shown ? state.start :
        monthOf(today) === shown ? today : shown;
    }
    var focusable = null;
    Array.prototype.forEach.call(grid.querySelectorAll("button[data-date]"), function (button) {
      var ms = parse(button.dataset.date);
      var s = dayState(ms);
      var classes = [];
      var labels = [longDate(ms)];
      if (monthOf(ms) !== shown) classes.push("outside");
      if (ms === today) { classes.push("today"); labels.push(T.today); }
      if (s.past) labels.push(T.past);
      if (s.full) { classes.push("booked-out"); labels.push(s.validEnd ? T.full + " – " + T.departureOnly : T.full); }
      if (s.closed !== null) {
        var why = T.closed + (s.closed ? ": " + s.closed : "");
        classes.push("closed");
        labels.push(s.validEnd ? why + " – " + T.departureOnly : why);
        button.title = why;
        button.setAttribute("data-closed", "true");
      } else if (button.hasAttribute("data-closed")) {
        button.removeAttribute("title");
        button.removeAttribute("data-closed");
      }
      if (s.rule !== null) {
        classes.push("unbookable");
        labels.push(s.validEnd ? s.rule + " – " + T.departureOnly : s.rule);
        if (s.closed === null) button.title = s.rule;
        button.setAttribute("data-unbookable", "true");
      } else if (button.hasAttribute("data-unbookable")) {
        if (s.closed === null) button.removeAttribute("title");
        button.removeAttribute("data-unbookable");
      }
      var isStart = ms === state.start, isEnd = ms === state.end;
      if (isStart || isEnd) { classes.push("selected"); labels.push(isStart ? T.arrival : T.departure); }
      if (state.end !== null && ms > state.start && ms < state.end) classes.push("in-range");
      if (preview !== null && ms > state.start && ms <= preview) classes.push("preview");
      button.className = classes.join(" ");
      button.setAttribute("aria-label", labels.join(", "));
      button.setAttribute("aria-pressed", isStart || isEnd ? "true" : "false");
      if (s.full) button.setAttribute("data-full", "true"); else button.removeAttribute("data-full");
      button.disabled = s.disabled;
      button.tabIndex = -1;
      if (ms === focusDate && !s.disabled) focusable = button;
    });
    if (!focusable) focusable = grid.querySelector("button[data-date]:not(:disabled)");
    if (focusable) {
      focusable.tabIndex = 0;
      if (keepFocus && document.activeElement !== focusable) focusable.focus();
    }
    // the chosen range and the hint
    if (state.start !== null && state.end !== null) {
      display.textContent = fmt(state.start) + " → " + fmt(state.end) + " ";
      display.appendChild(el("span", { "class": "picker-nights" }, plural("nights", nights(state.start, state.end))));
      hint.textContent = plural("chosen", nights(state.start, state.end));
    } else {
      display.textContent = (state.start !== null ? fmt(state.start) : T.arrival) + " → " + T.departure;
      hint.textContent = state.start === null ? T.pickStart :
        preview !== null ? plural("preview", nights(state.start, preview)) : notice || T.pickEnd;
    }
    clearButton.disabled = state.start === null;
    showClosures(first);
    loadGrid();
  }

  /** One line per closed period in the shown weeks: "Geschlossen: 25. Januar – 27. Januar: reason". */
  function showClosures(first) {
    closures.textContent = "";
    var from = null;
    for (var n = 0; n <= 42; n++) {
      var ms = first + n * DAY;
      var reason = n < 42 ? closedReason(ms) : null;
      var previous = n > 0 ? closedReason(ms - DAY) : null;
      if (from !== null && reason !== previous) {
        var last = ms - DAY;
        var when = from === last ? fmt(from) : fmt(from) + " – " + fmt(last);
        closures.appendChild(el("li", {}, T.closed + " " + when + (previous ? ": " + previous : "")));
        from = null;
      }
      if (reason !== null && from === null) from = ms;
    }
    closures.hidden = !closures.firstChild;
  }

  function setInputs() {
    startInput.value = state.start !== null ? iso(state.start) : "";
    endInput.value = state.end !== null ? iso(state.end) : "";
  }

  function choose(ms) {
    var s = dayState(ms);
    if (s.disabled) return;
    state.hover = null;
    focusDate = ms;
    notice = null;
    if (state.start !== null && state.end === null && ms > state.start) {
      if (s.validEnd) {
        state.end = ms;
        setInputs();
        render(true);
        loadPlaces();
        return;
      }
      var stop = lastEnd(state.start);
      var tooLong = stop === state.start + cfg.maxNights * DAY;
      var reason = tooLong ? T.tooLong : closedReason(stop) !== null ? T.blockedClosed :
        tooFar(stop) && !isFull(stop) ? bounds.tooFar : T.blocked;
      notice = reason + ". " + T.restart + " " + T.pickEnd;
    }
    // a first click, a click on or before the arrival, or a new start after a complete range
    state.start = ms;
    state.end = null;
    setInputs();
    render(true);
    loadPlaces();
  }

  grid.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-date]");
    if (button) choose(parse(button.dataset.date));
  });
  function hover(event) {
    var button = event.target.closest && event.target.closest("button[data-date]");
    if (!button || state.start === null || state.end !== null) return;
    var ms = parse(button.dataset.date);
    if (ms === state.hover) return;
    state.hover = ms;
    if (document.activeElement === button) focusDate = ms;
    render(false);
  }
  grid.addEventListener("mouseover", hover);
  grid.addEventListener("focusin", hover);
  grid.addEventListener("mouseleave", function () {
    if (state.hover === null) return;
    state.hover = null;
    render(false);
  });
  grid.addEventListener("keydown", function (event) {
    var moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 };
    var button = event.target.closest("button[data-date]");
    if (!button) return;
    var current = parse(button.dataset.date);
    var target = null;
    if (event.key in moves) {
      target = current;
      for (var tries = 0; tries < 60; tries++) {
        target += moves[event.key] * DAY;
        if (!dayState(target).disabled) break;
      }
      if (dayState(target).disabled) return;
    } else if (event.key === "PageUp" || event.key === "PageDown") {
      target = current + (event.key === "PageUp" ? -28 : 28) * DAY;
      if (target < today) target = today;
    } else {
      return;
    }
    event.preventDefault();
    focusDate = target;
    shown = monthOf(target);
    state.hover = state.start !== null && state.end === null ? target : null;
    render(true);
  });
  prev.addEventListener("click", function () {
    shown = addMonths(shown, -1); focusDate = null; render(false);
    if (prev.disabled) next.focus();
  });
  next.addEventListener("click", function () { shown = addMonths(shown, 1); focusDate = null; render(false); });
  todayButton.addEventListener("click", function () { shown = monthOf(today); focusDate = today; render(false); });
  clearButton.addEventListener("click", function () {
    state.start = state.end = state.hover = null;
    setInputs();
    render(false);
    loadPlaces();
    todayButton.focus();
  });

  render(false);
  loadPlaces();
})();
