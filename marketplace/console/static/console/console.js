// Staff console: live views by polling small staff-only JSON endpoints (no full-page refresh while work runs).
"use strict";
(function () {
  const POLL_MS = 2000;

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  function poll(url, onData, keepGoing) {
    async function tick() {
      let data = null;
      try { data = await getJSON(url); onData(data); } catch (e) { /* transient: try again */ }
      if (data === null || keepGoing(data)) setTimeout(tick, POLL_MS);
    }
    setTimeout(tick, POLL_MS);
  }

  const field = (root, name) => root.querySelector('[data-field="' + name + '"]');
  const setText = (el, text) => { if (el) el.textContent = text; };
  const SVG = "http://www.w3.org/2000/svg";
  const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"];

  function drawLosses(svg, legend, history) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (legend) legend.textContent = "";
    if (!history.length) return;
    const keys = Object.keys(history[history.length - 1]).filter(k => k !== "step" && k !== "epoch");
    const steps = history.map(r => r.step);
    const x0 = Math.min(...steps), x1 = Math.max(...steps, x0 + 1);
    keys.forEach((k, i) => {
      const vals = history.map(r => r[k]).filter(v => typeof v === "number");
      if (!vals.length) return;
      const lo = Math.min(...vals), hi = Math.max(...vals, lo + 1e-9);
      const pts = history.filter(r => typeof r[k] === "number").map(r =>
        (5 + 390 * (r.step - x0) / (x1 - x0)).toFixed(1) + "," + (195 - 190 * (r[k] - lo) / (hi - lo)).toFixed(1));
      const line = document.createElementNS(SVG, pts.length > 1 ? "polyline" : "circle");
      const colour = COLOURS[i % COLOURS.length];
      if (pts.length > 1) {
        line.setAttribute("points", pts.join(" "));
        line.setAttribute("fill", "none");
        line.setAttribute("stroke", colour);
      } else {
        const [cx, cy] = pts[0].split(",");
        line.setAttribute("cx", cx); line.setAttribute("cy", cy); line.setAttribute("r", "3");
        line.setAttribute("fill", colour);
      }
      svg.appendChild(line);
      if (legend) {
        const item = document.createElement("span");
        item.style.color = colour;
        item.textContent = k + " " + vals[vals.length - 1].toPrecision(4) + "  ";
        legend.appendChild(item);
      }
    });
  }

  // --- a training run --------------------------------------------------------------------------------------
  const run = document.getElementById("run-live");
  if (run) {
    const imageUrl = run.dataset.imageUrl;
    const stamps = {};
    function render(p) {
      setText(field(run, "state"), p.state);
      setText(field(run, "step"), p.step);
      setText(field(run, "total"), p.total_steps);
      setText(field(run, "error"), p.error);
      setText(field(run, "cancel-note"), p.cancel_requested && !p.finished ? "(cancel requested)" : "");
      const bar = field(run, "bar");
      if (bar) bar.value = p.progress;
      setText(field(run, "log"), (p.log_tail || []).join("\n"));
      drawLosses(field(run, "loss-svg"), field(run, "loss-legend"), p.loss_history || []);
      for (const [kind, stamp] of Object.entries(p.images || {})) {
        const img = run.querySelector('img[data-kind="' + kind + '"]');
        if (!img || !stamp || stamps[kind] === stamp) continue;
        stamps[kind] = stamp;
        img.src = imageUrl.replace("KIND", kind) + "?v=" + stamp;
        img.hidden = false;
      }
      const v = field(run, "version");
      if (v && p.version) {
        v.textContent = "Model version: ";
        const a = document.createElement("a");
        a.href = run.dataset.modelsUrl;
        a.textContent = p.version.label;
        v.appendChild(a);
        if (p.version.is_active) v.appendChild(document.createTextNode(" (active)"));
      }
      if (p.finished) {
        const form = field(run, "cancel-form");
        if (form) form.remove();
      }
    }
    const initial = document.getElementById("run-initial");
    if (initial) render(JSON.parse(initial.textContent));
    poll(run.dataset.progressUrl, render, p => !p.finished);
  }

  // --- model versions: feedback while a roll-out is queued --------------------------------------------------
  const versions = document.getElementById("versions");
  if (versions && versions.querySelector(".badge-queued")) {
    poll(versions.dataset.statusUrl, data => {
      const queued = data.versions.filter(v => v.rollout_queued);
      if (!queued.length) { window.location.reload(); return; }  // every roll-out ended: show the new state
      for (const v of data.versions) {
        const row = versions.querySelector('tr[data-version="' + v.id + '"]');
        const cell = row && field(row, "status");
        if (!cell) continue;
        cell.textContent = "";
        const badge = (text, cls) => { const s = document.createElement("span"); s.className = "badge " + cls; s.textContent = text; cell.appendChild(s); cell.appendChild(document.createTextNode(" ")); };
        if (v.is_active) badge("active", "badge-running");
        if (v.rollout_queued) badge("roll-out queued", "badge-queued");
        if (v.rollout_error) { const e = document.createElement("span"); e.className = "error"; e.textContent = "roll-out failed: " + v.rollout_error; cell.appendChild(e); }
      }
    }, data => data.versions.some(v => v.rollout_queued));
  }

  // --- re-index progress --------------------------------------------------------------------------------------
  const reindex = document.getElementById("reindex-live");
  if (reindex) {
    const busy = d => d.runs.some(r => r.state === "pending" || r.state === "running") || !!d.overview.building;
    function render(d) {
      const o = d.overview;
      setText(field(reindex, "live"), o.live ? o.live.name + " (embedder " + o.live.embedder_version + ", " + o.live.done + " vectors)" : "none yet");
      setText(field(reindex, "building"), o.building ? o.building.name + ": " + o.building.done + " / " + o.building.total : "none");
      setText(field(reindex, "dirty"), o.dirty_stock_images);
      const body = field(reindex, "runs");
      if (!body || !d.runs.length) return;
      body.textContent = "";
      for (const r of d.runs) {
        const tr = document.createElement("tr");
        tr.dataset.run = r.id;
        for (const [text, cls] of [["Run " + r.id, ""], [r.state, "state"], [r.done + " / " + r.total, ""], [r.error, "error"]]) {
          const td = document.createElement("td");
          td.textContent = text;
          if (cls) td.className = cls;
          tr.appendChild(td);
        }
        body.appendChild(tr);
      }
    }
    getJSON(reindex.dataset.statusUrl).then(d => { render(d); if (busy(d)) poll(reindex.dataset.statusUrl, render, busy); }).catch(() => {});
  }
})();
