/* Confirmation dialogs for destructive actions (shared by the booking and admin pages).
 *
 * Without JavaScript the trigger works on its own: a link leads to a confirmation page with a
 * POST form, or a submit button posts a form whose page asks again. This script replaces that
 * round trip with a <dialog>. Any element with `data-confirm-dialog` qualifies:
 *
 *   data-confirm-title     heading of the dialog (required)
 *   data-confirm-message   the question
 *   data-confirm-submit    label of the confirming button           (default: the trigger's text)
 *   data-confirm-cancel    label of the cancelling button           (default "Abbrechen")
 *   data-confirm-variant   classes of the confirming button, e.g. "danger solid" or "primary"
 *   data-confirm-action    URL the dialog's form POSTs to           (links: default the link's href)
 *   data-confirm-csrf      CSRF token (default: the first input[name=csrf_token] on the page)
 *   data-confirm-fields    JSON object of extra hidden fields, e.g. {"next": "/bookings"}
 *   data-confirm-reason    label of an optional textarea (e.g. a rejection reason)
 *   data-confirm-reason-name   its field name                     (default "reason")
 *
 * A submit button (or a <form data-confirm-dialog>) instead submits its own form once confirmed.
 */
(function () {
  "use strict";
  if (typeof HTMLDialogElement !== "function") return; // very old browsers keep the fallback page

  var counter = 0;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) node.textContent = text;
    return node;
  }

  function csrfToken(trigger) {
    if (trigger.dataset.confirmCsrf) return trigger.dataset.confirmCsrf;
    var input = document.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  function open(trigger, onConfirm) {
    var data = trigger.dataset;
    var id = "confirm-" + (++counter);
    var dialog = el("dialog", {
      "class": "confirm-dialog", "aria-labelledby": id + "-title", "aria-describedby": id + "-message"
    });
    dialog.appendChild(el("h2", { id: id + "-title" }, data.confirmTitle || trigger.textContent.trim()));
    if (data.confirmMessage) dialog.appendChild(el("p", { id: id + "-message" }, data.confirmMessage));

    var form = el("form", { method: "post" });
    if (onConfirm) {
      form.setAttribute("method", "dialog");
    } else {
      form.setAttribute("action", data.confirmAction || trigger.getAttribute("href"));
      form.appendChild(el("input", { type: "hidden", name: "csrf_token", value: csrfToken(trigger) }));
      var fields = {};
      try { fields = JSON.parse(data.confirmFields || "{}"); } catch (e) { fields = {}; }
      Object.keys(fields).forEach(function (name) {
        form.appendChild(el("input", { type: "hidden", name: name, value: String(fields[name]) }));
      });
      if (data.confirmReason) {
        var field = el("div", { "class": "field" });
        field.appendChild(el("label", { "for": id + "-reason" }, data.confirmReason));
        field.appendChild(el("textarea", {
          id: id + "-reason", name: data.confirmReasonName || "reason", rows: "3", maxlength: "500"
        }));
        form.appendChild(field);
      }
    }
    var actions = el("div", { "class": "actions" });
    var confirmButton = el("button", { type: "submit", "class": data.confirmVariant || "primary" },
      data.confirmSubmit || trigger.textContent.trim());
    var cancelButton = el("button", { type: "button" }, data.confirmCancel || "Abbrechen");
    actions.appendChild(confirmButton);
    actions.appendChild(cancelButton);
    form.appendChild(actions);
    dialog.appendChild(form);

    cancelButton.addEventListener("click", function () { dialog.close("cancel"); });
    if (onConfirm) {
      form.addEventListener("submit", function () { dialog.returnValue = "confirm"; });
    } else {
      form.addEventListener("submit", function () { confirmButton.disabled = true; });
    }
    dialog.addEventListener("close", function () {
      var confirmed = dialog.returnValue === "confirm";
      dialog.remove();
      if (confirmed && onConfirm) onConfirm();
      else if (document.body.contains(trigger)) trigger.focus();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    (dialog.querySelector("textarea") || cancelButton).focus();
  }

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest ? event.target.closest("[data-confirm-dialog]") : null;
    if (!trigger || trigger.tagName === "FORM") return;
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    var submitter = trigger.form && (trigger.type === "submit" || trigger.tagName === "BUTTON");
    event.preventDefault();
    if (submitter) {
      open(trigger, function () {
        trigger.dataset.confirmed = "1";
        if (trigger.form.requestSubmit) trigger.form.requestSubmit(trigger);
        else trigger.form.submit();
      });
    } else {
      open(trigger, null);
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    if (submitter && submitter.dataset.confirmed) { delete submitter.dataset.confirmed; return; }
    if (!form.hasAttribute || !form.hasAttribute("data-confirm-dialog") || form.dataset.confirmed) {
      delete form.dataset.confirmed;
      return;
    }
    event.preventDefault();
    open(form, function () { form.dataset.confirmed = "1"; form.submit(); });
  });
})();
