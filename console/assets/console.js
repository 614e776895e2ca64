// The rae-pipeline console's script: select every row, refresh the overview, the live tail.
// The pages work without it (forms and links); it only adds what needs a browser to stay open.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll('input[name="seq"]')) box.checked = all.checked;
    });
  }

  // Overview: the server renders the status fragment; refresh it every few seconds.
  const status = document.getElementById("overview-status");
  if (status && status.dataset.refresh) {
    const every = Number(status.dataset.refresh) * 1000;
    const refresh = async () => {
      try {
        const answer = await fetch(status.dataset.refresh_url || "/console/overview/status", { credentials: "same-origin" });
        if (answer.ok) status.innerHTML = await answer.text();
      } catch (_) { /* kept as it was; the next refresh tries again */ }
    };
    setInterval(refresh, every);
  }

  // Live tail: Server-Sent Events, one line per message, newest last.
  const form = document.getElementById("tail-form");
  const log = document.getElementById("tail-log");
  const state = document.getElementById("tail-state");
  if (form && log) {
    let source = null;
    const stop = () => { if (source) { source.close(); source = null; } };
    const say = (text) => { if (state) state.textContent = text; };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      stop();
      log.textContent = "";
      const query = new URLSearchParams(new FormData(form)).toString();
      source = new EventSource("/console/tail/events?" + query);
      source.addEventListener("open", () => say("Watching."));
      source.addEventListener("line", (m) => {
        const p = document.createElement("p");
        p.textContent = m.data;
        log.appendChild(p);
        while (log.childElementCount > 500) log.firstElementChild.remove();
        log.scrollTop = log.scrollHeight;
      });
      source.addEventListener("refused", (m) => { say(m.data); stop(); });
      source.addEventListener("error", () => { if (source && source.readyState === EventSource.CLOSED) say("Stopped."); });
    });
    const stopButton = document.getElementById("tail-stop");
    if (stopButton) stopButton.addEventListener("click", () => { stop(); say("Stopped."); });
  }
});
