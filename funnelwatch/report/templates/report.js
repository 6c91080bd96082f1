(function () {
  "use strict";
  function ago(iso) {
    var then = Date.parse(iso);
    if (isNaN(then)) return "";
    var s = Math.round((Date.now() - then) / 1000), future = s < 0;
    s = Math.abs(s);
    var text = s < 90 ? "a minute" : s < 5400 ? Math.round(s / 60) + " minutes" :
      s < 129600 ? Math.round(s / 3600) + " hours" : Math.round(s / 86400) + " days";
    return future ? "in " + text : text + " ago";
  }
  var times = document.querySelectorAll("time[data-rel]");
  for (var i = 0; i < times.length; i++) {
    var rel = ago(times[i].getAttribute("datetime"));
    if (rel) times[i].insertAdjacentText("beforeend", " (" + rel + ")");
  }

  var form = document.getElementById("filters");
  if (!form) return;
  var status = document.getElementById("f-status"), tag = document.getElementById("f-tag"),
    query = document.getElementById("f-q"), shown = document.getElementById("f-shown");
  var rows = document.querySelectorAll("li.funnel"), groups = document.querySelectorAll("section.group");

  function apply() {
    var s = status.value, t = tag.value, q = query.value.trim().toLowerCase(), visible = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i], tags = [];
      try { tags = JSON.parse(row.getAttribute("data-tags") || "[]"); } catch (e) { tags = []; }
      var ok = (!s || row.getAttribute("data-status") === s) && (!t || tags.indexOf(t) >= 0) &&
        (!q || (row.getAttribute("data-name") || "").toLowerCase().indexOf(q) >= 0);
      row.hidden = !ok;
      if (ok) visible++;
    }
    for (var g = 0; g < groups.length; g++) {
      groups[g].hidden = !groups[g].querySelector("li.funnel:not([hidden])");
    }
    shown.textContent = "Showing " + visible + " of " + rows.length;
    var parts = [];
    if (s) parts.push("status=" + encodeURIComponent(s));
    if (t) parts.push("tag=" + encodeURIComponent(t));
    if (q) parts.push("q=" + encodeURIComponent(q));
    try { history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname); } catch (e) { /* file:// may refuse */ }
  }
  function restore() {
    var pairs = location.hash.replace(/^#/, "").split("&");
    for (var i = 0; i < pairs.length; i++) {
      var kv = pairs[i].split("="), value = decodeURIComponent(kv[1] || "");
      if (kv[0] === "status") status.value = value;
      if (kv[0] === "tag") tag.value = value;
      if (kv[0] === "q") query.value = value;
    }
  }
  form.hidden = false;
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  status.addEventListener("change", apply);
  tag.addEventListener("change", apply);
  query.addEventListener("input", apply);
  document.getElementById("f-reset").addEventListener("click", function () {
    status.value = ""; tag.value = ""; query.value = ""; apply();
  });
  restore();
  apply();
})();
