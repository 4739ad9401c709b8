// peclip live page: one chart per person (track id) of the class probabilities of its scored windows.
// Plain JavaScript, no libraries: Server-Sent Events from /events, drawn on <canvas>.
"use strict";

const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
const SPAN = 60;  // seconds of stream time shown
const live = { classes: [], people: {}, updates: 0, summary: null };
window.peclipLive = live;  // for the curious (and the browser test)

function legend() {
  const box = document.getElementById("legend");
  box.innerHTML = "";
  live.classes.forEach((name, i) => {
    const item = document.createElement("span");
    item.innerHTML = `<i style="background:${COLOURS[i % COLOURS.length]}"></i>`;
    item.appendChild(document.createTextNode(name));
    box.appendChild(item);
  });
}

function person(track) {
  const key = track === null ? "none" : String(track);
  if (!live.people[key]) {
    const div = document.createElement("div");
    div.className = "person";
    const title = document.createElement("h2");
    title.textContent = track === null ? "no face" : `person ${track}`;
    const canvas = document.createElement("canvas");
    canvas.width = 520; canvas.height = 180;
    canvas.id = `chart-${key}`;
    div.appendChild(title); div.appendChild(canvas);
    document.getElementById("charts").appendChild(div);
    live.people[key] = { points: [], canvas: canvas, title: title, track: track };
  }
  return live.people[key];
}

function draw(p) {
  const c = p.canvas, g = c.getContext("2d");
  const w = c.width, h = c.height, left = 30, bottom = 18;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#ddd"; g.fillStyle = "#666"; g.font = "10px sans-serif";
  for (const v of [0, 0.5, 1]) {
    const y = (h - bottom) * (1 - v);
    g.beginPath(); g.moveTo(left, y); g.lineTo(w, y); g.stroke();
    g.fillText(v.toFixed(1), 2, Math.max(10, y + 3));
  }
  if (!p.points.length) return;
  const end = p.points[p.points.length - 1].t, start = end - SPAN;
  const x = t => left + (w - left) * (t - start) / SPAN;
  g.fillText(`${end.toFixed(0)} s`, w - 40, h - 4);
  live.classes.forEach((name, i) => {
    g.strokeStyle = COLOURS[i % COLOURS.length]; g.lineWidth = 1.5; g.beginPath();
    let pen = false;
    for (const pt of p.points) {
      if (pt.t < start) continue;
      if (!pt.probs) { pen = false; continue; }  // a window without a face: a gap in the line
      const y = (h - bottom) * (1 - pt.probs[name]);
      if (pen) g.lineTo(x(pt.t), y); else g.moveTo(x(pt.t), y);
      pen = true;
    }
    g.stroke();
  });
}

function receive(record) {
  if (record.type === "summary") {
    live.summary = record;
    const ms = v => (v === null || v === undefined) ? "-" : `${Math.round(1000 * v)} ms`;
    document.getElementById("status").textContent =
      `frames in ${record.frames_in}, dropped ${record.frames_dropped}, windows scored ${record.windows_scored}, ` +
      `skipped ${record.windows_skipped}\nlatency p50 ${ms(record.latency_p50)}, p95 ${ms(record.latency_p95)}, ` +
      `${record.fps.toFixed(1)} fps`;
    return;
  }
  const p = person(record.track);
  p.points.push({ t: record.stream_time, probs: record.face ? record.probabilities : null });
  while (p.points.length && p.points[0].t < record.stream_time - 2 * SPAN) p.points.shift();
  p.title.textContent = (record.track === null ? "no face" : `person ${record.track}`) +
    (record.face ? `: ${record.top} ${record.top_probability.toFixed(2)}` : ": no face") +
    ` (${record.stream_time.toFixed(1)} s, latency ${Math.round(1000 * record.latency)} ms)`;
  draw(p);
  live.updates += 1;
  const counter = document.getElementById("updates");
  counter.dataset.count = String(live.updates);
  counter.textContent = `${live.updates} windows received`;
}

fetch("/state").then(r => r.json()).then(state => {
  live.classes = state.classes;
  legend();
  const events = new EventSource("/events");
  events.onmessage = e => receive(JSON.parse(e.data));
});
