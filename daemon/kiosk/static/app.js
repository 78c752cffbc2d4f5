// signd kiosk page: the daemon's events from /events (server-sent events) on one screen.
// Drawing happens once per display frame, and only when something new arrived, so an idle
// kiosk costs nothing and a busy one never draws more than the screen can show.
// window.kiosk.stats counts what arrived and what was drawn (read by the tests and the bench).
"use strict";

const POSE_EDGES = [[0, 1], [1, 2], [2, 3], [3, 7], [0, 4], [4, 5], [5, 6], [6, 8], [9, 10],
  [11, 12], [11, 13], [13, 15], [15, 17], [15, 19], [15, 21], [17, 19], [12, 14], [14, 16],
  [16, 18], [16, 20], [16, 22], [18, 20], [11, 23], [12, 24], [23, 24], [23, 25], [24, 26],
  [25, 27], [26, 28], [27, 29], [28, 30], [29, 31], [30, 32], [27, 31], [28, 32]];
const HAND_EDGES = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9],
  [9, 10], [10, 11], [11, 12], [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [0, 17],
  [17, 18], [18, 19], [19, 20]];
const MIN_VISIBILITY = 0.5;
const STALE_AFTER_S = 10; // a sign older than this is shown dimmed
const SILENT_LIMIT_MS = 12000; // the server says where it stands every 3 s

const $ = (id) => document.getElementById(id);
const css = getComputedStyle(document.documentElement);
const COLORS = Object.fromEntries(["--pose", "--left", "--right", "--frame"].map((n) => [n, css.getPropertyValue(n).trim()]));

const stats = {
  messages: 0, keypoints: 0, drawn: 0, skipped: 0, probs: 0, gestures: 0,
  opens: 0, lastDrawnFrame: -1, lastParts: [], drawMs: [], lagMs: [], gapMs: [],
};
const view = { aspect: 4 / 3, mirror: true, labels: [], state: "connecting", socket: "" };
let pending = { keypoints: null, keypointsAt: 0, probs: null };
let frameRequested = false;
let stream = null;
let streamUp = false;
let everUp = false;
let lastMessage = 0;
let lastGesture = null;
let lastKeypointsAt = 0;

function remember(list, value) {
  list.push(value);
  if (list.length > 1200) list.splice(0, list.length - 1200);
}

// -- connection ---------------------------------------------------------------------------

function connect() {
  if (stream) stream.close();
  stream = new EventSource("/events");
  stream.onopen = () => { streamUp = true; everUp = true; stats.opens += 1; lastMessage = performance.now(); showState(); };
  stream.onerror = () => {
    streamUp = false;
    showState();
    // EventSource retries by itself unless the server answered with an error: then we do.
    if (stream.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  };
  stream.onmessage = (e) => {
    lastMessage = performance.now();
    stats.messages += 1;
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    handle(msg);
  };
}

function showState() {
  const state = streamUp ? view.state : (everUp ? "reconnecting" : "connecting");
  const el = $("state");
  el.dataset.state = state;
  el.textContent = state;
  el.title = !streamUp ? "the kiosk server is not answering"
    : state === "connected" ? `signd at ${view.socket}` : `waiting for signd at ${view.socket}`;
  document.body.classList.toggle("away", state !== "connected");
  if (state !== "connected") {
    if (pending.keypoints) stats.skipped += 1;
    pending.keypoints = null;
    clearSkeleton();
  }
}

setInterval(() => {
  if (streamUp && performance.now() - lastMessage > SILENT_LIMIT_MS) {
    streamUp = false; // a hung server or a dead connection that never said so
    showState();
    connect();
  }
  if (lastGesture) $("sign").classList.toggle("stale", Date.now() / 1000 - lastGesture.t > STALE_AFTER_S);
}, 1000);

// -- messages -----------------------------------------------------------------------------

function handle(msg) {
  switch (msg.type) {
    case "kiosk":
      view.state = msg.state;
      view.socket = msg.socket;
      view.mirror = msg.mirror;
      if (msg.aspect && msg.aspect[1] > 0) view.aspect = msg.aspect[0] / msg.aspect[1];
      showState();
      break;
    case "hello":
      $("model").textContent = `model ${msg.model.name}`;
      setLabels(msg.model.labels || []);
      break;
    case "gesture":
      stats.gestures += 1;
      showGesture(msg);
      if (!pending.probs) { pending.probs = msg.top; request(); }
      break;
    case "probs":
      stats.probs += 1;
      pending.probs = msg.probs;
      request();
      break;
    case "keypoints": {
      const now = performance.now();
      stats.keypoints += 1;
      if (stats.keypoints > 1) remember(stats.gapMs, now - lastKeypointsAt);
      lastKeypointsAt = now;
      if (pending.keypoints) stats.skipped += 1; // a newer one came before the screen's next frame
      pending.keypoints = msg;
      pending.keypointsAt = now;
      request();
      break;
    }
    case "enroll":
      showEnroll(msg);
      break;
    case "bye":
      view.state = "reconnecting";
      showState();
      break;
    default:
      break; // status, error, dropped: nothing on screen
  }
}

// `signd enroll` from a camera: the countdown in the sign's place, until it is done.
function showEnroll(e) {
  const sign = $("sign");
  sign.textContent = e.phase === "sign" ? `${e.name}: sign now` : e.phase === "ready" ? `${e.name}: ${e.seconds_left}` : `${e.name}: done`;
  sign.className = `sign enroll phase-${e.phase}`;
  sign.dataset.seq = "";
  $("score").textContent = e.phase === "done" ? `${e.examples} examples recorded` : `example ${e.example} of ${e.examples}`;
}

function showGesture(g) {
  lastGesture = g;
  const sign = $("sign");
  sign.textContent = g.label;
  sign.dataset.seq = String(g.seq);
  sign.className = "sign";
  $("score").textContent = `${Math.round(g.score * 100)}% sure`;
  const list = $("sentence");
  list.replaceChildren(...(g.sentence || []).map((word) => {
    const li = document.createElement("li");
    li.textContent = word;
    return li;
  }));
}

function setLabels(labels) {
  if (labels.join("\n") === view.labels.join("\n")) return;
  view.labels = labels.slice();
  $("bars").replaceChildren(...labels.map((label) => {
    const li = document.createElement("li");
    li.dataset.label = label;
    li.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
    li.querySelector(".name").textContent = label;
    return li;
  }));
}

// -- drawing, once per display frame ------------------------------------------------------

function request() {
  if (!frameRequested) { frameRequested = true; requestAnimationFrame(frame); }
}

function frame() {
  frameRequested = false;
  if (pending.probs) { drawBars(pending.probs); pending.probs = null; }
  if (pending.keypoints) {
    const t0 = performance.now();
    drawSkeleton(pending.keypoints);
    const t1 = performance.now();
    stats.drawn += 1;
    stats.lastDrawnFrame = pending.keypoints.frame;
    stats.lastParts = ["pose", "left_hand", "right_hand"].filter((part) => pending.keypoints[part]);
    remember(stats.drawMs, t1 - t0);
    remember(stats.lagMs, t1 - pending.keypointsAt);
    pending.keypoints = null;
  }
}

function drawBars(probs) {
  const missing = Object.keys(probs).filter((k) => !view.labels.includes(k));
  if (missing.length) setLabels(view.labels.concat(missing));
  let top = null;
  for (const label of view.labels) if (top === null || (probs[label] || 0) > (probs[top] || 0)) top = label;
  for (const li of $("bars").children) {
    const p = probs[li.dataset.label] || 0;
    li.querySelector(".fill").style.transform = `scaleX(${p.toFixed(3)})`;
    li.querySelector(".pct").textContent = `${Math.round(p * 100)}%`;
    li.classList.toggle("top", li.dataset.label === top);
  }
}

const canvas = $("skeleton");
const ctx = canvas.getContext("2d");

function fitCanvas() {
  const r = canvas.getBoundingClientRect();
  const w = Math.round(r.width * devicePixelRatio), h = Math.round(r.height * devicePixelRatio);
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
}
new ResizeObserver(fitCanvas).observe(canvas);
fitCanvas();

function clearSkeleton() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
}

function drawSkeleton(k) {
  clearSkeleton();
  $("skeleton").parentElement.classList.toggle("empty", !k.pose && !k.left_hand && !k.right_hand);
  // The camera image, fitted into the canvas with its own aspect ratio.
  let w = canvas.width, h = w / view.aspect;
  if (h > canvas.height) { h = canvas.height; w = h * view.aspect; }
  const ox = (canvas.width - w) / 2, oy = (canvas.height - h) / 2;
  const px = (p) => ox + (view.mirror ? 1 - p[0] : p[0]) * w;
  const py = (p) => oy + p[1] * h;
  const unit = Math.max(2, w / 250);
  ctx.fillStyle = COLORS["--frame"]; // the camera's field of view
  ctx.fillRect(ox, oy, w, h);
  ctx.lineCap = "round";
  if (k.pose) {
    const seen = (p) => p[2] >= MIN_VISIBILITY;
    lines(k.pose, POSE_EDGES, COLORS["--pose"], unit, px, py, seen);
    dots(k.pose, COLORS["--pose"], unit * 1.3, px, py, seen);
  }
  for (const [hand, name] of [[k.left_hand, "--left"], [k.right_hand, "--right"]]) {
    if (!hand) continue;
    lines(hand, HAND_EDGES, COLORS[name], unit * 0.9, px, py, () => true);
    dots(hand, COLORS[name], unit * 1.1, px, py, () => true);
  }
}

function lines(points, edges, stroke, width, px, py, seen) {
  ctx.strokeStyle = stroke;
  ctx.lineWidth = width;
  ctx.beginPath();
  for (const [a, b] of edges) {
    const p = points[a], q = points[b];
    if (!seen(p) || !seen(q)) continue;
    ctx.moveTo(px(p), py(p));
    ctx.lineTo(px(q), py(q));
  }
  ctx.stroke();
}

function dots(points, fill, radius, px, py, seen) {
  ctx.fillStyle = fill;
  ctx.beginPath();
  for (const p of points) {
    if (!seen(p)) continue;
    ctx.moveTo(px(p) + radius, py(p));
    ctx.arc(px(p), py(p), radius, 0, 2 * Math.PI);
  }
  ctx.fill();
}

// -- for tests and measurements -------------------------------------------------------------

function percentile(values, q) {
  if (!values.length) return null;
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

window.kiosk = {
  stats,
  summary: () => ({
    keypoints: stats.keypoints, drawn: stats.drawn, skipped: stats.skipped,
    gestures: stats.gestures, probs: stats.probs, opens: stats.opens,
    state: $("state").dataset.state, sign: $("sign").textContent,
    drawMs: { p50: percentile(stats.drawMs, 0.5), p95: percentile(stats.drawMs, 0.95) },
    lagMs: { p50: percentile(stats.lagMs, 0.5), p95: percentile(stats.lagMs, 0.95) },
    gapMs: { p5: percentile(stats.gapMs, 0.05), p50: percentile(stats.gapMs, 0.5), p95: percentile(stats.gapMs, 0.95) },
  }),
};

connect();
