/* Password strength indicator (reference §3.5): informational only, the server decides.
   Enhances every element with data-password-strength="<input id>". */
(function () {
  "use strict";
  var SPECIAL = /[!@#$%^&*()_+\-=\[\]{};':"\\|,.<>\/?]/;

  function evaluate(password) {
    var rules = {
      length: password.length >= 8,
      lower: /[a-z]/.test(password),
      upper: /[A-Z]/.test(password),
      digit: /[0-9]/.test(password),
      special: SPECIAL.test(password)
    };
    var score = 0;
    if (rules.length) score += 2;
    if (password.length >= 12) score += 1;
    if (rules.lower) score += 1;
    if (rules.upper) score += 1;
    if (rules.digit) score += 1;
    if (rules.special) score += 2;
    var level = score <= 3 ? "weak" : score <= 5 ? "fair" : score <= 7 ? "good" : "strong";
    return {
      score: score,
      level: level,
      checks: { length: rules.length, "case": rules.lower && rules.upper, digit: rules.digit, special: rules.special }
    };
  }

  function enhance(box) {
    var input = document.getElementById(box.getAttribute("data-password-strength"));
    if (!input) return;
    var levelText = box.querySelector(".strength-level");
    var meter = box.querySelector(".strength");
    var bar = meter.querySelector("span");
    var items = box.querySelectorAll("[data-rule]");
    var lastLevel = null;

    function update() {
      var password = input.value;
      if (!password) {  // nothing is shown for an empty password
        box.hidden = true;
        lastLevel = null;
        return;
      }
      var result = evaluate(password);
      box.hidden = false;
      meter.className = "strength strength-" + result.level;
      bar.style.width = Math.min(100, (result.score / 8) * 100) + "%";
      if (result.level !== lastLevel) {  // announce only changes of the level
        levelText.textContent = box.getAttribute("data-level-" + result.level);
        lastLevel = result.level;
      }
      for (var i = 0; i < items.length; i++) {
        var ok = result.checks[items[i].getAttribute("data-rule")];
        items[i].className = ok ? "ok" : "todo";
        var state = items[i].querySelector(".visually-hidden");
        if (state) state.textContent = "(" + box.getAttribute(ok ? "data-met" : "data-unmet") + ")";
      }
    }

    input.addEventListener("input", update);
    update();
  }

  var boxes = document.querySelectorAll("[data-password-strength]");
  for (var i = 0; i < boxes.length; i++) enhance(boxes[i]);
})();
