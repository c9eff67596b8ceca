// The Latent map: every point drawn on a 2-D canvas, with the interactions people use on a latent map
// (hover a dot for its index and label, click it, click empty space to decode there, box and lasso
// selection, box zoom, pan, reset, a legend that hides classes, a colour bar, PNG download).
//
// Why not plotly: a page's first plotly chart costs the browser 0.8-0.95 s to evaluate Streamlit's
// plotly module (per new session), and a WebGL scatter's first draw in software GL 0.3-0.4 s more;
// sprites on a 2-D canvas draw 70,000 dots in tens of milliseconds.
//
// Points arrive as base64 little-endian arrays (x, y float32; value float32 or class uint16), once per
// session and signature: later reruns send them as null and the arrays kept here are used; a page
// without them asks (trigger "need"). What the user picks goes back as trigger "select": {kind: "point", row} | {kind: "many", rows} |
// {kind: "probe", x, y}, rows being positions in the arrays; the page checks every field.
//
// "Images" (off until asked for, trigger "want"): the data points' own images arrive (for every k-th
// point when there are many), hovering a dot shows its image, hovering empty space on an invertible map
// decodes the latent point there in the page (VaeDecoder, loaded before this file), and "Thumbnails"
// draws the images instead of the dots.

const MAPS = (globalThis.__vaeMaps ||= {});       // instances by key, for tests and the bench
const VIEWS = (globalThis.__vaeMapViews ||= {});  // zoom and mode per key, kept across reruns
const POINTS = (globalThis.__vaeMapPoints ||= new Map());  // signature -> decoded arrays (the page's life)
const IMAGES = (globalThis.__vaeMapImages ||= new Map());  // images id -> {pixels uint8, rows int32} (the page's life)
const DECODERS = (globalThis.__vaeMapDecoders ||= new Map());  // decoder hash -> built decoder
const ACCENT = "#d62728";
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                 "#b5de2b", "#fde725"];
const M = { l: 58, r: 14, t: 12, b: 46 };  // plot margins, CSS px
const R = 3.5, R_PICKED = 6;               // dot radii (plotly's size 7 and 12)
const HIT = 8;                             // a click or hover this near a dot (px) means the dot

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function decode(b64, Type) {
  const bin = atob(b64 || "");
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Type(bytes.buffer, 0, Math.floor(bytes.length / Type.BYTES_PER_ELEMENT));
}

function hexRgb(h) { return [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16)); }

// Viridis at t in [0, 1], from ten stops (the colour bar uses the same stops).
function viridis(t) {
  const s = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1), k = Math.min(Math.floor(s), VIRIDIS.length - 2);
  const a = hexRgb(VIRIDIS[k]), b = hexRgb(VIRIDIS[k + 1]), f = s - k;
  return "rgb(" + a.map((v, j) => Math.round(v + f * (b[j] - v))).join(",") + ")";
}

// Round tick values covering [lo, hi], about n of them.
function ticks(lo, hi, n) {
  const span = hi - lo;
  if (!(span > 0) || !isFinite(span)) return [lo];
  const raw = span / Math.max(n, 1), mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function tickText(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(6))).replace("-", "\u2212");
}

function num(v) { return Number(v.toPrecision(3)).toString().replace("-", "\u2212"); }

function insidePoly(poly, x, y) {
  let hit = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [x1, y1] = poly[i], [x2, y2] = poly[j];
    if ((y1 > y) !== (y2 > y) && x < x1 + (y - y1) * (x2 - x1) / (y2 - y1)) hit = !hit;
  }
  return hit;
}

// One pre-drawn dot per colour: a canvas drawImage is far cheaper than an arc per point.
function sprite(colour, r, dpr) {
  const s = Math.ceil((2 * r + 2) * dpr), c = document.createElement("canvas");
  c.width = c.height = s;
  const g = c.getContext("2d");
  g.scale(dpr, dpr);
  g.beginPath();
  g.arc(s / dpr / 2, s / dpr / 2, r, 0, 2 * Math.PI);
  g.fillStyle = colour;
  g.fill();
  g.lineWidth = 0.5;
  g.strokeStyle = "white";
  g.stroke();
  return c;
}

class ScatterMap {
  constructor(root) {
    this.root = root;
    root.replaceChildren();
    this.bar = el("div", "vm-bar");
    this.buttons = {};
    const tools = [["zoom", "Zoom", "Drag a box to zoom in"], ["pan", "Pan", "Drag to move the view"],
                   ["select", "Box select", "Drag a box to select the points inside"],
                   ["lasso", "Lasso", "Draw around the points to select"]];
    for (const [mode, label, title] of tools) {
      const b = el("button", "vm-btn", label);
      b.type = "button"; b.title = title; b.dataset.mode = mode;
      b.addEventListener("click", () => { this.view.mode = mode; this.paintBar(); });
      this.buttons[mode] = b;
      this.bar.append(b);
    }
    const reset = el("button", "vm-btn", "Reset view");
    reset.type = "button"; reset.title = "Back to every point (or double-click the map)";
    reset.dataset.action = "reset";
    reset.addEventListener("click", () => this.resetView());
    this.imagesBtn = el("button", "vm-btn vm-toggle", "Images");
    this.imagesBtn.type = "button"; this.imagesBtn.dataset.action = "images";
    this.imagesBtn.title = "Hover a dot to see its image; hover empty space to decode it (PCA and 2-D maps)";
    this.imagesBtn.addEventListener("click", () => { this.view.images = !this.view.images; this.wantExtras(); this.paintBar(); this.draw(); });
    this.thumbsBtn = el("button", "vm-btn vm-toggle", "Thumbnails");
    this.thumbsBtn.type = "button"; this.thumbsBtn.dataset.action = "thumbnails";
    this.thumbsBtn.title = "Draw the images themselves instead of dots";
    this.thumbsBtn.addEventListener("click", () => { this.view.thumbs = !this.view.thumbs; if (this.view.thumbs) this.view.images = true; this.wantExtras(); this.paintBar(); this.draw(); });
    this.status = el("span", "vm-status");
    this.clear = el("button", "vm-btn", "Clear selection");
    this.clear.type = "button"; this.clear.title = "Unselect (the panel shows the hint again)";
    this.clear.dataset.action = "clear";
    this.clear.addEventListener("click", () => this.select([]));
    const png = el("button", "vm-btn", "PNG");
    png.type = "button"; png.title = "Download the map as a PNG image"; png.dataset.action = "png";
    png.addEventListener("click", () => this.download());
    this.bar.append(el("span", "vm-sep"), this.imagesBtn, this.thumbsBtn, this.status, el("span", "vm-gap"), this.clear,
                    reset, png);
    this.stage = el("div", "vm-stage");
    this.canvas = el("canvas", "vm-plot");
    this.overlay = el("canvas", "vm-overlay");
    this.tip = el("div", "vm-tip");
    this.tipCanvas = el("canvas", "vm-tip-image");
    this.tipText = el("div", "vm-tip-text");
    this.tip.append(this.tipCanvas, this.tipText);
    this.stage.append(this.canvas, this.overlay, this.tip);
    this.legend = el("div", "vm-legend");
    root.append(this.bar, this.legend, this.stage);
    this.drawn = 0;
    this.hidden = new Set();
    this.bind();
    this.resize = new ResizeObserver(() => { if (this.data && this.stage.clientWidth !== this.width) this.draw(); });
    this.resize.observe(this.stage);
  }

  // ------------------------------------------------------------ data from the page
  setData(d, api) {
    this.api = api;
    if (d.x !== null && d.x !== undefined) {
      POINTS.delete(d.sig);
      POINTS.set(d.sig, { x: decode(d.x, Float32Array), y: decode(d.y, Float32Array), index: decode(d.index, Int32Array),
                          label: decode(d.label, Uint16Array), value: d.categorical ? null : decode(d.value, Float32Array) });
      while (POINTS.size > 6) POINTS.delete(POINTS.keys().next().value);  // the oldest first
    }
    const arrays = POINTS.get(d.sig);
    if (!arrays) {  // sent to this session before, but this page does not hold them: ask again
      this.ask(d.sig);
      return;
    }
    const fresh = !this.data || this.data.sig !== d.sig;
    this.data = d;
    this.view = VIEWS[d.instance + "|" + d.view] ||= { mode: "zoom", range: null };
    if (fresh) {
      Object.assign(this, arrays);
      this.n = this.x.length;
      this.full = this.bounds();
      this.hidden = new Set();
      this.order = null;
      this.buildColours();
      this.buildLegend();
    }
    this.local = null;  // the page's selection replaces the one drawn at the click
    this.takeExtras(d.extras);
    this.paintBar();
    this.draw();
  }

  // ------------------------------------------------------------ images and the decoder
  ask(hash) {
    this.asked ||= {};
    if ((this.asked[hash] || 0) < 3) { this.asked[hash] = (this.asked[hash] || 0) + 1; this.api.setTriggerValue("need", hash); }
  }

  wantExtras() {
    if ((this.view.images || this.view.thumbs) && !this.data.extras) this.api.setTriggerValue("want", true);
  }

  takeExtras(ex) {
    this.dec = null;
    if (!ex) {
      this.img = null; this.imgAt = null; this.imgId = null;
      this.status.textContent = this.view.images ? "Loading the images\u2026" : "";
      return;
    }
    const im = ex.images;
    if (im.data && !IMAGES.has(im.id)) {  // the rows come with the pixels, once
      IMAGES.set(im.id, { pixels: decode(im.data, Uint8Array), rows: decode(im.rows, Int32Array) });
      while (IMAGES.size > 4) IMAGES.delete(IMAGES.keys().next().value);
    }
    const got = IMAGES.get(im.id);
    if (!got) {
      this.img = null; this.imgAt = null; this.imgId = null;
    } else if (this.imgId !== im.id || !this.imgAt || this.imgAt.length !== this.n) {  // a new set: index it once
      this.img = got.pixels;
      this.imgAt = new Int32Array(this.n).fill(-1);  // map row -> image number
      got.rows.forEach((r, k) => { if (r >= 0 && r < this.n) this.imgAt[r] = k; });
      this.imgShape = im.shape;
      this.imgId = im.id;
      if (this.sprites) this.sprites.thumbs = null;
    }
    const dx = ex.decoder;
    if (dx && dx.spec && dx.weights && !DECODERS.has(dx.spec.hash)) {
      try { DECODERS.set(dx.spec.hash, VaeDecoder.build(dx.spec, dx.weights)); } catch (e) { /* the note says so */ }
    }
    this.dec = dx && dx.spec && dx.inverse ? DECODERS.get(dx.spec.hash) || null : null;
    this.inverse = dx ? dx.inverse : null;
    let note = dx && dx.fallback ? dx.fallback : "";
    if (this.view.images || this.view.thumbs) {
      if (!this.img) { note = "Loading the images\u2026"; this.ask(im.id); }
      else if (dx && dx.spec && dx.inverse && !this.dec) { note = "Loading the decoder\u2026"; this.ask(dx.spec.hash); }
      else if (im.note) note = im.note;
    }
    this.status.textContent = note;
  }

  // the image of map row i (a canvas), or null when this row has none
  thumb(i) {
    if (!this.img || !this.imgAt || this.imgAt[i] < 0) return null;
    const T = (this.sprites.thumbs ||= new Map());
    let c = T.get(i);
    if (!c) {
      const [ch, h, w] = this.imgShape, n = ch * h * w, k = this.imgAt[i], bytes = this.img.subarray(k * n, (k + 1) * n);
      c = document.createElement("canvas");
      c.width = w; c.height = h;
      const g = c.getContext("2d"), im = g.createImageData(w, h);
      for (let p = 0; p < h * w; p++) {
        for (let j = 0; j < 3; j++) im.data[4 * p + j] = bytes[(ch === 1 ? 0 : j) * h * w + p];
        im.data[4 * p + 3] = 255;
      }
      g.putImageData(im, 0, 0);
      T.set(i, c);
    }
    return c;
  }

  // E[x|z] decoded in the page at plot point (x, y): z = mean + x c1 + y c2
  decodeAt(x, y) {
    const { mean, components: C } = this.inverse;
    const z = mean.map((m, k) => m + x * C[0][k] + y * C[1][k]);
    const out = VaeDecoder.decode(this.dec, z);
    const { height: h, width: w } = this.dec;
    const c = (this.decodeCanvas ||= document.createElement("canvas"));  // one, redrawn on every move
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    const g = c.getContext("2d"), im = g.createImageData(w, h);
    VaeDecoder.toRGBA(this.dec, out, im.data);
    g.putImageData(im, 0, 0);
    this.lastDecode = { z, rgba: im.data };
    return c;
  }

  bounds() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < this.n; i++) {
      const x = this.x[i], y = this.y[i];
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    for (const p of this.data.placed || []) { x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y); }
    if (!isFinite(x0)) { x0 = -1; x1 = 1; y0 = -1; y1 = 1; }
    const px = 0.05 * (x1 - x0 || 2), py = 0.05 * (y1 - y0 || 2);
    return [x0 - px, x1 + px, y0 - py, y1 + py];
  }

  // colour key per point (an index into this.colours)
  buildColours() {
    const d = this.data;
    this.key = new Uint16Array(this.n);
    if (d.categorical) {
      this.colours = d.classes.map((c) => c.colour);
      const at = new Map(d.classes.map((c, k) => [c.code, k]));
      for (let i = 0; i < this.n; i++) this.key[i] = at.get(this.label[i]) ?? 0;
    } else {
      const bins = 64, [lo, hi] = d.range, span = hi - lo || 1;
      this.colours = Array.from({ length: bins }, (_, k) => viridis(k / (bins - 1)));
      for (let i = 0; i < this.n; i++) {
        const v = this.value[i];
        this.key[i] = isFinite(v) ? Math.round(Math.min(Math.max((v - lo) / span, 0), 1) * (bins - 1)) : 0;
      }
    }
    this.sprites = null;
  }

  buildLegend() {
    const d = this.data;
    this.legend.replaceChildren();
    if (d.categorical) {
      this.legend.append(el("span", "vm-legend-title", d.title));
      d.classes.forEach((c, k) => {
        const item = el("button", "vm-item");
        item.type = "button";
        item.title = "Click: hide or show " + c.name + ". Double-click: show only " + c.name + ".";
        item.dataset.key = String(k);
        const sw = el("span", "vm-swatch");
        sw.style.background = c.colour;
        item.append(sw, el("span", "", c.name));
        item.addEventListener("click", () => { this.toggle(k); });
        item.addEventListener("dblclick", () => { this.isolate(k); });
        this.legend.append(item);
      });
    } else {
      const [lo, hi] = d.range;
      const bar = el("span", "vm-colourbar");
      bar.style.background = "linear-gradient(to right, " + VIRIDIS.join(", ") + ")";
      this.legend.append(el("span", "vm-legend-title", d.title), el("span", "vm-cb-end", num(lo)), bar,
                         el("span", "vm-cb-end", num(hi)));
    }
  }

  toggle(k) {
    if (this.hidden.has(k)) this.hidden.delete(k); else this.hidden.add(k);
    this.paintLegend();
    this.draw();
  }

  isolate(k) {
    const all = this.data.classes.map((_, j) => j);
    const only = this.hidden.size === all.length - 1 && !this.hidden.has(k);
    this.hidden = new Set(only ? [] : all.filter((j) => j !== k));
    this.paintLegend();
    this.draw();
  }

  paintLegend() {
    for (const item of this.legend.querySelectorAll(".vm-item")) item.classList.toggle("vm-off", this.hidden.has(Number(item.dataset.key)));
  }

  paintBar() {
    for (const [mode, b] of Object.entries(this.buttons)) b.classList.toggle("vm-on", this.view.mode === mode);
    this.imagesBtn.classList.toggle("vm-on", !!this.view.images);
    this.thumbsBtn.classList.toggle("vm-on", !!this.view.thumbs);
    this.overlay.style.cursor = this.view.mode === "pan" ? "grab" : "crosshair";
  }

  // ------------------------------------------------------------ geometry
  range() { return this.view.range || this.full; }

  toPx(x, y) {
    const [x0, x1, y0, y1] = this.range();
    return [M.l + (x - x0) / (x1 - x0) * this.pw, M.t + (1 - (y - y0) / (y1 - y0)) * this.ph];
  }

  toData(px, py) {
    const [x0, x1, y0, y1] = this.range();
    return [x0 + (px - M.l) / this.pw * (x1 - x0), y0 + (1 - (py - M.t) / this.ph) * (y1 - y0)];
  }

  inPlot(px, py) { return px >= M.l && px <= M.l + this.pw && py >= M.t && py <= M.t + this.ph; }

  // which rows are drawn as picked, the ring and the cross: the click's until the page answers
  marks() {
    if (this.local) return this.local;
    const s = this.data.selection || {};
    return { rows: s.rows || [], ring: s.ring ?? null, cross: s.cross || null };
  }

  // ------------------------------------------------------------ drawing
  draw() {
    const d = this.data, dpr = window.devicePixelRatio || 1;
    const W = this.width = Math.max(this.stage.clientWidth, 240), H = d.height;
    this.pw = W - M.l - M.r; this.ph = H - M.t - M.b;
    for (const c of [this.canvas, this.overlay]) {
      if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
        c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
        c.style.width = W + "px"; c.style.height = H + "px";
      }
    }
    this.stage.style.height = H + "px";
    if (!this.sprites || this.sprites.dpr !== dpr) {
      this.sprites = { dpr, dot: this.colours.map((c) => sprite(c, R, dpr)), big: this.colours.map((c) => sprite(c, R_PICKED, dpr)) };
    }
    const g = this.canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    this.axes(g, W, H);
    const { rows, ring, cross } = this.marks();
    this.clear.style.display = rows.length || cross ? "" : "none";
    const picked = new Uint8Array(this.n);
    for (const r of rows) if (r >= 0 && r < this.n) picked[r] = 1;
    const dim = rows.length > 0;
    // screen positions of the visible points, bucketed for hover and click
    this.sx = new Float32Array(this.n); this.sy = new Float32Array(this.n);
    this.grid = new Map();
    const [x0, x1, y0, y1] = this.range(), kx = this.pw / (x1 - x0), ky = this.ph / (y1 - y0);
    const order = this.order || (this.order = this.drawOrder());
    g.save();
    g.beginPath(); g.rect(M.l, M.t, this.pw, this.ph); g.clip();
    const half = R + 1, halfBig = R_PICKED + 1, thumbs = this.view.thumbs && this.img;
    g.imageSmoothingEnabled = false;
    g.globalAlpha = dim ? 0.35 : 1;
    for (const i of order) {
      const k = this.key[i];
      if (this.data.categorical && this.hidden.has(k)) { this.sx[i] = NaN; continue; }
      const px = M.l + (this.x[i] - x0) * kx, py = M.t + (y1 - this.y[i]) * ky;
      this.sx[i] = px; this.sy[i] = py;
      if (px < M.l - half || px > M.l + this.pw + half || py < M.t - half || py > M.t + this.ph + half) continue;
      const cell = ((px / 16) | 0) * 4096 + ((py / 16) | 0);
      const list = this.grid.get(cell);
      if (list) list.push(i); else this.grid.set(cell, [i]);
      if (picked[i]) continue;
      const t = thumbs ? this.thumb(i) : null;
      if (t) g.drawImage(t, px - 7, py - 7, 14, 14);
      else g.drawImage(this.sprites.dot[k], px - half, py - half, 2 * half, 2 * half);
    }
    g.globalAlpha = 1;
    for (const i of order) {
      if (!picked[i] || Number.isNaN(this.sx[i])) continue;
      g.drawImage(this.sprites.big[this.key[i]], this.sx[i] - halfBig, this.sy[i] - halfBig, 2 * halfBig, 2 * halfBig);
    }
    if (ring !== null && ring >= 0 && ring < this.n && !Number.isNaN(this.sx[ring])) {
      g.beginPath(); g.arc(this.sx[ring], this.sy[ring], 8, 0, 2 * Math.PI);
      g.lineWidth = 2.5; g.strokeStyle = ACCENT; g.stroke();
    }
    if (cross) {
      const [cx, cy] = this.toPx(cross[0], cross[1]);
      g.beginPath(); g.moveTo(cx - 7, cy - 7); g.lineTo(cx + 7, cy + 7); g.moveTo(cx + 7, cy - 7); g.lineTo(cx - 7, cy + 7);
      g.lineWidth = 3; g.strokeStyle = ACCENT; g.stroke();
    }
    for (const p of d.placed || []) this.star(g, ...this.toPx(p.x, p.y), p.name);
    g.restore();
    this.drawn += 1;
    this.root.dataset.drawn = String(this.drawn);
    this.root.dataset.mode = thumbs ? "thumbnails" : "points";
    this.paintOverlay();
  }

  // class by class (the legend's order), as one trace per class would be drawn
  drawOrder() {
    const idx = Array.from({ length: this.n }, (_, i) => i);
    if (this.data.categorical) idx.sort((a, b) => this.key[a] - this.key[b] || a - b);
    return Int32Array.from(idx);
  }

  axes(g, W, H) {
    const d = this.data, [x0, x1, y0, y1] = this.range();
    g.font = "11px sans-serif";
    g.fillStyle = "#555";
    g.strokeStyle = "#e6e6e6";
    g.lineWidth = 1;
    g.textAlign = "center"; g.textBaseline = "top";
    for (const v of ticks(x0, x1, Math.max(2, Math.round(this.pw / 90)))) {
      const [px] = this.toPx(v, y0);
      g.beginPath(); g.moveTo(Math.round(px) + 0.5, M.t); g.lineTo(Math.round(px) + 0.5, M.t + this.ph); g.stroke();
      g.fillText(tickText(v), px, M.t + this.ph + 5);
    }
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const v of ticks(y0, y1, Math.max(2, Math.round(this.ph / 70)))) {
      const [, py] = this.toPx(x0, v);
      g.beginPath(); g.moveTo(M.l, Math.round(py) + 0.5); g.lineTo(M.l + this.pw, Math.round(py) + 0.5); g.stroke();
      if (!d.flat) g.fillText(tickText(v), M.l - 6, py);
    }
    g.strokeStyle = "#bbb";
    g.strokeRect(M.l + 0.5, M.t + 0.5, this.pw - 1, this.ph - 1);
    g.fillStyle = "#333"; g.font = "13px sans-serif";
    g.textAlign = "center"; g.textBaseline = "bottom";
    g.fillText(d.axis[0], M.l + this.pw / 2, H - 4);
    g.save();
    g.translate(14, M.t + this.ph / 2); g.rotate(-Math.PI / 2);
    g.textBaseline = "middle";
    g.fillText(d.axis[1], 0, 0);
    g.restore();
  }

  star(g, x, y, name) {
    g.beginPath();
    for (let k = 0; k < 10; k++) {
      const r = k % 2 ? 4 : 10, a = -Math.PI / 2 + k * Math.PI / 5;
      g[k ? "lineTo" : "moveTo"](x + r * Math.cos(a), y + r * Math.sin(a));
    }
    g.closePath();
    g.fillStyle = ACCENT; g.fill();
    g.lineWidth = 1.5; g.strokeStyle = "black"; g.stroke();
    g.font = "600 12px sans-serif"; g.textAlign = "center"; g.textBaseline = "bottom";
    g.lineWidth = 3; g.strokeStyle = "white"; g.lineJoin = "round";
    g.strokeText(name, x, y - 11);  // a halo, so the name reads over the dots
    g.fillStyle = "#111";
    g.fillText(name, x, y - 11);
  }

  // the hover ring and the gesture being drawn
  paintOverlay() {
    const dpr = window.devicePixelRatio || 1, g = this.overlay.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, this.width, this.data.height);
    if (this.hoverRow !== undefined && this.hoverRow >= 0 && !Number.isNaN(this.sx[this.hoverRow])) {
      g.beginPath(); g.arc(this.sx[this.hoverRow], this.sy[this.hoverRow], 6, 0, 2 * Math.PI);
      g.lineWidth = 1.5; g.strokeStyle = "#111"; g.stroke();
    }
    const gest = this.gesture;
    if (gest && gest.moved) {
      g.lineWidth = 1; g.strokeStyle = "#333"; g.setLineDash([4, 3]); g.fillStyle = "rgba(100,100,100,0.1)";
      if (gest.mode === "lasso") {
        g.beginPath(); gest.path.forEach(([x, y], k) => g[k ? "lineTo" : "moveTo"](x, y)); g.closePath();
        g.fill(); g.stroke();
      } else if (gest.mode === "zoom" || gest.mode === "select") {
        const [ax, ay] = gest.start, [bx, by] = gest.at;
        g.fillRect(Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay));
        g.strokeRect(Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay));
      }
      g.setLineDash([]);
    }
  }

  // ------------------------------------------------------------ picking
  nearest(px, py, radius = HIT) {
    let best = -1, bd = radius * radius;
    const cx = (px / 16) | 0, cy = (py / 16) | 0, reach = Math.ceil(radius / 16);
    for (let a = cx - reach; a <= cx + reach; a++) {
      for (let b = cy - reach; b <= cy + reach; b++) {
        for (const i of this.grid.get(a * 4096 + b) || []) {
          const dd = (this.sx[i] - px) ** 2 + (this.sy[i] - py) ** 2;
          if (dd < bd || (dd === bd && i > best)) { bd = dd; best = i; }
        }
      }
    }
    return best;
  }

  rowsWhere(test) {
    const out = [];
    for (const list of this.grid.values()) for (const i of list) if (test(this.sx[i], this.sy[i])) out.push(i);
    return out.sort((a, b) => a - b);
  }

  send(value) { this.api.setTriggerValue("select", value); }

  pick(px, py) {
    const i = this.nearest(px, py);
    if (i >= 0) {
      this.local = { rows: [i], ring: i, cross: null };
      this.send({ kind: "point", row: i });
    } else if (this.data.invertible) {
      const [x, y] = this.toData(px, py);
      this.local = { rows: [], ring: null, cross: [x, y] };
      this.send({ kind: "probe", x, y });
    } else {
      return;
    }
    this.draw();
  }

  select(rows) {
    this.local = { rows, ring: null, cross: null };
    this.send({ kind: "many", rows });
    this.draw();
  }

  // ------------------------------------------------------------ gestures
  at(ev) {
    const r = this.overlay.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }

  bind() {
    const o = this.overlay;
    o.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0 || !this.data) return;
      const p = this.at(ev);
      if (!this.inPlot(...p)) return;
      o.setPointerCapture(ev.pointerId);
      this.gesture = { mode: this.view.mode, start: p, at: p, path: [p], moved: false, range: this.range().slice() };
      this.hideTip();
    });
    o.addEventListener("pointermove", (ev) => {
      if (!this.data) return;
      const p = this.at(ev), gest = this.gesture;
      if (!gest) { this.hover(p); return; }
      gest.at = p;
      if (Math.hypot(p[0] - gest.start[0], p[1] - gest.start[1]) > 4) gest.moved = true;
      if (gest.mode === "lasso") gest.path.push(p);
      if (gest.mode === "pan" && gest.moved) {
        const [x0, x1, y0, y1] = gest.range, dx = (p[0] - gest.start[0]) / this.pw * (x1 - x0);
        const dy = (p[1] - gest.start[1]) / this.ph * (y1 - y0);
        this.view.range = [x0 - dx, x1 - dx, y0 + dy, y1 + dy];
        this.draw();
        return;
      }
      this.paintOverlay();
    });
    const end = (ev) => {
      const gest = this.gesture;
      this.gesture = null;
      if (!gest) return;
      if (ev.type === "pointercancel") { this.paintOverlay(); return; }
      if (!gest.moved) { this.pick(...gest.start); return; }
      const [ax, ay] = gest.start, [bx, by] = gest.at;
      if (gest.mode === "zoom" && Math.abs(bx - ax) > 4 && Math.abs(by - ay) > 4) {
        const [u0, v1] = this.toData(Math.min(ax, bx), Math.min(ay, by)), [u1, v0] = this.toData(Math.max(ax, bx), Math.max(ay, by));
        this.view.range = [u0, u1, v0, v1];
        this.draw();
      } else if (gest.mode === "select") {
        const [lx, hx, ly, hy] = [Math.min(ax, bx), Math.max(ax, bx), Math.min(ay, by), Math.max(ay, by)];
        this.select(this.rowsWhere((x, y) => x >= lx && x <= hx && y >= ly && y <= hy));
      } else if (gest.mode === "lasso" && gest.path.length > 2) {
        this.select(this.rowsWhere((x, y) => insidePoly(gest.path, x, y)));
      } else {
        this.paintOverlay();
      }
    };
    o.addEventListener("pointerup", end);
    o.addEventListener("pointercancel", end);
    o.addEventListener("pointerleave", () => { if (!this.gesture) { this.hoverRow = -1; this.hideTip(); this.paintOverlay(); } });
    o.addEventListener("dblclick", () => this.resetView());
  }

  resetView() {
    this.view.range = null;
    this.draw();
  }

  hover(p) {
    const d = this.data, i = this.inPlot(...p) ? this.nearest(...p, 10) : -1;
    this.hoverRow = i;
    const images = this.view.images || this.view.thumbs;
    if (i >= 0) {
      const c = d.labels[this.label[i]] ?? String(this.label[i]);
      let text = "#" + this.index[i] + " \u00b7 label " + c;
      if (!d.categorical) text += "\n" + d.title + ": " + num(this.value[i]);
      this.shown = { kind: "point", index: this.index[i] };
      this.showTip(text, this.sx[i], this.sy[i], images ? this.thumb(i) : null);
    } else if (d.invertible && this.inPlot(...p)) {
      const [x, y] = this.toData(...p);
      const pic = images && this.dec ? this.decodeAt(x, y) : null;
      this.shown = pic ? { kind: "decode", xy: [x, y], z: this.lastDecode.z } : null;
      this.showTip("(" + num(x) + ", " + num(y) + "): " + (pic ? "decoded here; click to keep it" : "click to decode"),
                   p[0], p[1], pic);
    } else {
      this.hideTip();
    }
    this.paintOverlay();
  }

  showTip(text, x, y, picture = null) {
    this.tipText.textContent = text;
    if (picture) {
      const big = Math.max(2, Math.floor(84 / Math.max(picture.width, picture.height)));
      if (this.tipCanvas.width !== picture.width * big || this.tipCanvas.height !== picture.height * big) {
        this.tipCanvas.width = picture.width * big; this.tipCanvas.height = picture.height * big;
      }
      const g = this.tipCanvas.getContext("2d");
      g.imageSmoothingEnabled = false;
      g.drawImage(picture, 0, 0, this.tipCanvas.width, this.tipCanvas.height);
      this.tipPixels = picture;
    }
    this.tipCanvas.style.display = picture ? "block" : "none";
    this.tip.style.display = "block";
    const w = this.tip.offsetWidth, left = x + 12 + w > this.width ? x - 12 - w : x + 12;
    this.tip.style.left = left + "px";
    this.tip.style.top = Math.max(0, Math.min(y - 10, this.data.height - this.tip.offsetHeight)) + "px";
  }

  hideTip() { this.tip.style.display = "none"; }

  download() {
    const a = document.createElement("a");
    a.download = "latent-map.png";
    a.href = this.canvas.toDataURL("image/png");
    a.click();
  }

  // ------------------------------------------------------------ for tests and the bench
  // client (viewport) coordinates of every visible point: [x, y, dataset index]
  points() {
    const r = this.canvas.getBoundingClientRect(), out = [];
    for (let i = 0; i < this.n; i++) {
      if (Number.isNaN(this.sx[i]) || !this.inPlot(this.sx[i], this.sy[i])) continue;
      out.push([r.left + this.sx[i], r.top + this.sy[i], this.index[i]]);
    }
    return out;
  }

  // what is drawn as picked: dataset indices, the ringed one, the decoded spot
  picked() {
    const { rows, ring, cross } = this.marks();
    return { indices: rows.map((r) => this.index[r]).sort((a, b) => a - b),
             ring: ring === null ? null : this.index[ring], cross };
  }

  // a client point in the plot farthest from every drawn dot, with that distance
  emptySpot() {
    const r = this.canvas.getBoundingClientRect();
    let best = null, gap = -1;
    for (let fx = 0.05; fx < 0.96; fx += 0.025) {
      for (let fy = 0.05; fy < 0.96; fy += 0.025) {
        const px = M.l + fx * this.pw, py = M.t + fy * this.ph;
        let g = Infinity;
        for (let i = 0; i < this.n; i++) if (!Number.isNaN(this.sx[i])) g = Math.min(g, Math.hypot(this.sx[i] - px, this.sy[i] - py));
        if (g > gap) { gap = g; best = [r.left + px, r.top + py]; }
      }
    }
    return { px: best[0], py: best[1], gap };
  }
}

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  let root = parentElement.querySelector(".vae-map");
  if (!root) {
    root = el("div", "vae-map");
    parentElement.append(root);
  }
  const inst = root.__map ||= new ScatterMap(root);
  inst.setData(data, { setTriggerValue });
  MAPS[data.instance] = inst;
  return () => { if (MAPS[data.instance] === inst) delete MAPS[data.instance]; };
}
