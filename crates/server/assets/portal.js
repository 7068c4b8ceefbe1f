// Berth portal: the only script. It keeps the chosen theme, makes
// destructive forms ask first, gives commands a copy button and permission
// grids a "select all".

// Runs in <head>, before the page is drawn: the theme chosen on this browser.
var THEME_KEY = "berth-theme";
function applyTheme(theme) {
  if (theme === "light" || theme === "dark") {
    document.documentElement.setAttribute("data-theme", theme);
  } else {
    document.documentElement.removeAttribute("data-theme");
  }
}
try { applyTheme(localStorage.getItem(THEME_KEY)); } catch (e) { /* storage blocked: follow the system */ }

document.addEventListener("submit", function (e) {
  var form = e.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    e.preventDefault();
  }
});

document.addEventListener("DOMContentLoaded", function () {
  var theme = document.getElementById("theme");
  if (theme) {
    theme.value = document.documentElement.getAttribute("data-theme") || "auto";
    theme.addEventListener("change", function () {
      applyTheme(theme.value);
      try { localStorage.setItem(THEME_KEY, theme.value); } catch (e) { /* this page only */ }
    });
    theme.parentNode.hidden = false;
  }

  document.querySelectorAll("code.copy").forEach(function (code) {
    var wrap = document.createElement("span");
    wrap.className = "copyable";
    code.replaceWith(wrap);
    wrap.appendChild(code);
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + code.textContent);
    // Without a clipboard (plain http to a remote host), the text is selected instead.
    var select = function () {
      var range = document.createRange();
      range.selectNodeContents(code);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      button.textContent = "Press Ctrl+C";
    };
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(code.textContent).then(function () {
          button.textContent = "Copied";
        }, select);
      } else {
        select();
      }
    });
    wrap.appendChild(button);
  });

  // A permission grid's "Select all" ticks or clears every box of its field.
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var field = all.getAttribute("data-select-all");
    var boxes = all.closest("fieldset").querySelectorAll("input[name='" + field + "']");
    var sync = function () {
      all.checked = Array.prototype.every.call(boxes, function (b) { return b.checked; });
    };
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
    });
    boxes.forEach(function (b) { b.addEventListener("change", sync); });
    sync();
    all.closest("label").hidden = false;
  });
});

// The member form suggests users or groups (as its kind says) while a
// name is typed, from the API's searches.
document.addEventListener("DOMContentLoaded", function () {
  var input = document.querySelector("input[list=member-names]");
  if (!input) return;
  var list = document.getElementById("member-names");
  var kind = document.getElementById("kind");
  var timer;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value.trim();
      var group = kind && kind.value === "group";
      if (!q) { list.replaceChildren(); return; }
      var url = group
        ? "/api/v2.0/usergroups/search?page_size=10&groupname="
        : "/api/v2.0/users/search?page_size=10&username=";
      fetch(url + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (found) {
          list.replaceChildren.apply(list, found.map(function (f) {
            var o = document.createElement("option");
            o.value = group ? f.group_name : f.username;
            return o;
          }));
        });
    }, 150);
  });
});
