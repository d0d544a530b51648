// dqc's one script, small and optional: every page works without it. A region marked
// `data-poll="SECONDS"` is fetched again every SECONDS and replaced in place (a diff's progress),
// until the page sent back no longer marks it; then a link in it marked `data-go` is followed
// (the diff's report). Without the script such a page reloads itself and ends on that link.
"use strict";
document.querySelectorAll("[data-poll][id]").forEach(function (region) {
  var every = 1000 * (Number(region.getAttribute("data-poll")) || 2);
  function tick() {
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
        if (!fresh) { return; }
        region.replaceWith(fresh);
        region = fresh;
        if (fresh.hasAttribute("data-poll")) { setTimeout(tick, every); return; }
        var go = fresh.querySelector("a[data-go]");
        if (go) { location.assign(go.href); }
      })
      .catch(function () { setTimeout(tick, every * 2); });
  }
  setTimeout(tick, every);
});
