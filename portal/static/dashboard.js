// Refreshes the admin dashboard's live parts (admin.html) without a reload: every
// data-refresh milliseconds it fetches data-live-url, whose "regions" are the same
// templates rendered again on the server (numbers, lists and SVG charts), and swaps each
// into the element with the matching data-live attribute. It draws nothing itself.
(function () {
  var root = document.querySelector("[data-live-url]");
  if (!root) return;
  var url = root.getAttribute("data-live-url");
  var every = parseInt(root.getAttribute("data-refresh"), 10) || 10000;
  function apply(data) {
    var regions = data.regions || {};
    Object.keys(regions).forEach(function (name) {
      var el = document.querySelector('[data-live="' + name + '"]');
      if (el) el.innerHTML = regions[name];
    });
    root.setAttribute("data-refreshed", data.at || "");
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error("dashboard: " + r.status);
        return r.json();
      })
      .then(apply)
      .catch(function () { root.setAttribute("data-stale", "true"); })
      .then(function () { setTimeout(poll, every); });
  }
  setTimeout(poll, every);
})();
