// The web pages' only script (served from /ui/static; the pages allow no inline script).
// Confirmations, form branches, sortable tables, live job rows (polling) and live job progress (SSE).
"use strict";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

function confirmForms(root) {
  root.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

function formBranches(root) {
  // A union shows the fields of its chosen branch; an optional group its body when ticked.
  root.querySelectorAll("select[data-union]").forEach((select) => {
    const show = () => {
      root.querySelectorAll(`[data-branch-of="${CSS.escape(select.dataset.union)}"]`).forEach((branch) => {
        branch.hidden = branch.dataset.branch !== select.value;
      });
    };
    select.addEventListener("change", show);
    show();
  });
  root.querySelectorAll("input[data-toggles]").forEach((box) => {
    const body = root.querySelector(`[data-body="${CSS.escape(box.dataset.toggles)}"]`);
    const show = () => { if (body) body.hidden = !box.checked; };
    box.addEventListener("change", show);
    show();
  });
}

function sortableTables(root) {
  root.querySelectorAll("table.sortable").forEach((table) => {
    const heads = Array.from(table.querySelectorAll("thead th"));
    heads.forEach((th, col) => {
      const button = th.querySelector("button[data-sort]");
      if (!button) return;
      button.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const numeric = button.dataset.sort === "number";
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        const key = (row) => row.cells[col].dataset.value ?? row.cells[col].textContent;
        rows.sort((a, b) => {
          let x = key(a), y = key(b);
          if (numeric) {
            // blanks (no value) go last in both directions
            if (x === "" || y === "") return (x === "") - (y === "");
            x = Number(x); y = Number(y);
            return ascending ? x - y : y - x;
          }
          return ascending ? x.localeCompare(y) : y.localeCompare(x);
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  });
}

function setStatus(el, status) {
  el.textContent = status;
  el.className = `status status-${status}`;
}

function liveRows() {
  // The jobs list: rows of unfinished jobs are refreshed until they finish.
  const table = document.querySelector("table[data-live-rows]");
  if (!table) return;
  const tick = async () => {
    const active = Array.from(table.querySelectorAll('tr[data-active="true"]'));
    if (active.length === 0) return;
    const query = active.map((tr) => "id=" + encodeURIComponent(tr.dataset.jobId)).join("&");
    try {
      const response = await fetch("/ui/jobs/rows.json?" + query, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const rows = await response.json();
        active.forEach((tr) => {
          const row = rows[tr.dataset.jobId];
          if (!row) return;
          const cell = tr.querySelector('[data-cell="status"]');
          const badge = cell.querySelector(".status");
          setStatus(badge, row.status);
          const bar = cell.querySelector("progress");
          if (bar && row.fraction !== null) bar.value = row.fraction;
          if (!row.active && bar) bar.remove();
          tr.querySelector('[data-cell="best_fit"]').textContent = row.best_fit;
          tr.querySelector('[data-cell="finished"]').textContent = row.finished;
          tr.dataset.active = row.active ? "true" : "false";
        });
      }
    } catch (err) { /* try again at the next tick */ }
    window.setTimeout(tick, 1500);
  };
  window.setTimeout(tick, 1500);
}

function fmt(value) {
  return value === null || value === undefined ? "—" : Number(value).toPrecision(4).replace(/\.?0+(e|$)/, "$1");
}

function liveJob() {
  // The job page: progress from the job's event stream. The browser resumes a dropped stream
  // with Last-Event-ID; if the stream is closed for good, reopen it after the last seen event.
  const box = document.getElementById("job");
  if (!box || box.dataset.active !== "true" || !window.EventSource) return;
  const live = (name) => box.querySelector(`[data-live="${name}"]`);
  let lastSeq = 0;
  let source = null;
  let finished = false;

  const onEvent = (event) => {
    const message = JSON.parse(event.data);
    lastSeq = Math.max(lastSeq, message.seq);
    box.dataset.lastEvent = String(lastSeq);
    const data = message.data || {};
    if (message.type === "progress") {
      const bar = live("progress").querySelector("progress");
      if (data.fraction !== null && data.fraction !== undefined) {
        bar.value = data.fraction;
        live("percent").textContent = (100 * data.fraction).toFixed(1) + "%";
      }
      if (data.stage) live("stage").textContent = data.stage;
      if (data.best_fit !== null && data.best_fit !== undefined) live("best_fit").textContent = fmt(data.best_fit);
    } else if (message.type === "status") {
      setStatus(live("status"), data.status);
      if (TERMINAL.has(data.status)) {
        finished = true;
        source.close();
        refresh();
      }
    }
  };

  const open = () => {
    source = new EventSource(box.dataset.events + (lastSeq ? `?after=${lastSeq}` : ""));
    source.addEventListener("progress", onEvent);
    source.addEventListener("status", onEvent);
    source.onopen = () => { live("connection").textContent = ""; };
    source.onerror = () => {
      if (finished) return;
      live("connection").textContent = "Connection lost; reconnecting…";
      if (source.readyState === EventSource.CLOSED) window.setTimeout(open, 2000);
    };
  };

  const refresh = async () => {
    // The finished job's results, plots and buttons, without reloading the page.
    const response = await fetch(window.location.pathname, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById("job");
    if (!fresh) return;
    box.replaceWith(fresh);
    init(fresh);
  };
  open();
}

function lazyDetails(root) {
  // <details data-load=URL>: the JSON document is fetched and shown (as text) when first opened.
  root.querySelectorAll("details[data-load]").forEach((details) => {
    details.addEventListener("toggle", async () => {
      if (!details.open || details.dataset.loaded) return;
      details.dataset.loaded = "true";
      const pre = details.querySelector("pre");
      try {
        const response = await fetch(details.dataset.load, { headers: { Accept: "application/json" } });
        pre.textContent = response.ok ? JSON.stringify(await response.json(), null, 2) : `could not load it (${response.status})`;
      } catch (err) {
        pre.textContent = "could not load it; use the download link";
      }
    });
  });
}

function init(root) {
  lazyDetails(root);
  confirmForms(root);
  formBranches(root);
  sortableTables(root);
}

document.addEventListener("DOMContentLoaded", () => {
  init(document);
  liveRows();
  liveJob();
});
