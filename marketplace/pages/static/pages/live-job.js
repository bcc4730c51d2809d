/* Live job progress without reloading the page.
 *
 * Every element with `data-progress-url` is a photo job that is still running. Its JSON endpoint answers with the
 * job's state and two pieces of HTML rendered by the server from the same templates as the page: `status_html`
 * (the state in words and the stages with their timings; it lives in an ARIA live region, so screen readers hear
 * each change) and `body_html` (notices and results, replaced only when the state changes). Nothing else on the
 * page is touched: a file the user has chosen in the upload form stays chosen. Polling stops when the job has
 * finished, and backs off while the tab is hidden or the server is unreachable. */
(function () {
  "use strict";
  var INTERVAL_MS = 1000, MAX_INTERVAL_MS = 10000;

  function follow(section) {
    var url = section.getAttribute("data-progress-url");
    var status = section.querySelector("[data-job-status]");
    var body = section.querySelector("[data-job-body]");
    var state = section.getAttribute("data-state");
    var delay = INTERVAL_MS;

    function schedule() { window.setTimeout(poll, document.hidden ? MAX_INTERVAL_MS : delay); }

    function poll() {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          delay = INTERVAL_MS;
          if (status && status.innerHTML !== data.status_html) { status.innerHTML = data.status_html; }
          if (data.state !== state) {
            state = data.state;
            section.setAttribute("data-state", state);
            if (body) { body.innerHTML = data.body_html; }
          }
          if (data.finished) {
            section.removeAttribute("data-progress-url");
            section.dispatchEvent(new CustomEvent("job-finished", { bubbles: true, detail: data }));
          } else {
            schedule();
          }
        })
        .catch(function () {
          // The server restarting or the network dropping: try again, less often, without a console error.
          delay = Math.min(delay * 2, MAX_INTERVAL_MS);
          schedule();
        });
    }
    schedule();
  }

  function start() {
    var sections = document.querySelectorAll("[data-progress-url]");
    for (var i = 0; i < sections.length; i++) { follow(sections[i]); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
