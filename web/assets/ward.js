/* Ward: progressive enhancement only. Every page works without this file. */
(function () {
  "use strict";

  var d = document;
  var SUBMITS = 'button:not([type="button"]):not([type="reset"]), input[type="submit"]';
  var FINAL_CODES = ["post_already_liked", "review_already_helpful"];

  function all(selector, root) {
    return Array.prototype.slice.call((root || d).querySelectorAll(selector));
  }

  /* a) Back buttons: rendered hidden, shown only when there is somewhere to go back to. */
  all("[data-back]").forEach(function (b) {
    if (window.history.length < 2) return;
    b.hidden = false;
    b.addEventListener("click", function (e) {
      e.preventDefault();
      window.history.back();
    });
  });

  /* d) Live "n / max" counter after every textarea with a maxlength. */
  all("textarea[maxlength]").forEach(function (t) {
    var max = t.maxLength;
    if (!(max > 0)) return;
    var c = d.createElement("small");
    c.className = "counter";
    c.setAttribute("aria-live", "polite");
    var update = function () {
      var n = t.value.length;
      c.textContent = n + " / " + max;
      c.classList.toggle("near", n >= max * 0.9);
    };
    t.insertAdjacentElement("afterend", c);
    update();
    t.addEventListener("input", update);
    if (t.form) t.form.addEventListener("reset", function () { setTimeout(update, 0); });
  });

  /* Helpers for enhanced forms. */
  function setBusy(form, busy) {
    if (busy) form.setAttribute("aria-busy", "true");
    else form.removeAttribute("aria-busy");
    all(SUBMITS, form).forEach(function (b) {
      if (busy) {
        if (!b.disabled) {
          b.disabled = true;
          b.setAttribute("data-ward-off", "");
        }
      } else if (b.hasAttribute("data-ward-off")) {
        b.disabled = false;
        b.removeAttribute("data-ward-off");
      }
    });
  }

  function lock(form, done) {
    form.removeAttribute("aria-busy");
    all(SUBMITS, form).forEach(function (b) {
      b.disabled = true;
      b.removeAttribute("data-ward-off");
      if (done) b.classList.add("done");
    });
  }

  function errorBox(form, create) {
    var box = form.querySelector(".form-error");
    if (!box && create) {
      box = d.createElement("p");
      box.className = "form-error";
      box.setAttribute("role", "alert");
      form.insertBefore(box, form.firstChild);
    }
    return box;
  }

  function showError(form, message) {
    var box = errorBox(form, true);
    box.setAttribute("tabindex", "-1");
    box.textContent = message;
    box.focus();
  }

  function clearError(form) {
    var box = errorBox(form, false);
    if (box) box.textContent = "";
  }

  /* The plain post, as if there were no script (skips the submit event). */
  function nativeSubmit(form) {
    HTMLFormElement.prototype.submit.call(form);
  }

  /* Only ever follow same-origin locations. */
  function go(where) {
    var u;
    try {
      u = new URL(where, window.location.href);
    } catch (_) {
      u = null;
    }
    var here = window.location;
    if (!u || u.origin !== here.origin) {
      here.reload();
    } else if (u.pathname === here.pathname && u.search === here.search) {
      if (u.hash) here.hash = u.hash;
      here.reload();
    } else {
      here.assign(u.href);
    }
  }

  function handle(form, mode, res, json) {
    if (res.ok) {
      if (mode === "submit") {
        if (json && typeof json.location === "string" && json.location) go(json.location);
        else if (res.redirected) go(res.url);
        else window.location.reload();
        return;
      }
      var c = form.querySelector("[data-count]");
      if (c) {
        var n = parseInt(c.textContent.replace(/[^\d-]/g, ""), 10);
        if (!isNaN(n)) c.textContent = String(n + 1);
      }
      clearError(form);
      lock(form, true);
      return;
    }
    if (!json || typeof json.message !== "string" || !json.message) {
      /* Not our JSON (a proxy page, say): let the server render its own answer. */
      nativeSubmit(form);
      return;
    }
    setBusy(form, false);
    if (mode === "count" && FINAL_CODES.indexOf(json.error) !== -1) lock(form, false);
    showError(form, json.message);
  }

  /* e) confirm, then b) / c) inline submission. */
  d.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement) || e.defaultPrevented) return;

    if (form.getAttribute("aria-busy") === "true") {
      e.preventDefault();
      return;
    }

    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      e.preventDefault();
      return;
    }

    var mode = form.getAttribute("data-enhance");
    if (mode !== "submit" && mode !== "count") return;
    if ((form.getAttribute("method") || "").toLowerCase() !== "post") return;
    if (!window.fetch || !window.URLSearchParams || !window.FormData) return;

    e.preventDefault();

    var data;
    try {
      data = e.submitter ? new FormData(form, e.submitter) : new FormData(form);
    } catch (_) {
      data = new FormData(form);
    }
    var body = new URLSearchParams(data);

    if (mode === "submit") clearError(form);
    setBusy(form, true);

    window.fetch(form.action, {
      method: "POST",
      body: body,
      headers: { "ward-inline": "1", accept: "application/json" },
      credentials: "same-origin"
    }).then(function (res) {
      return res.json().then(
        function (json) { return json; },
        function () { return null; }
      ).then(function (json) {
        handle(form, mode, res, json);
      });
    }, function () {
      nativeSubmit(form);
    });
  });

  /* Coming back through the back/forward cache: undo a half-finished submission. */
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return;
    all("form[aria-busy]").forEach(function (form) { setBusy(form, false); });
  });
})();
