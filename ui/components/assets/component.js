// The latent pad: one slider per latent dimension and a 2-D pad for two of them, decoding in the
// browser on every pointer move (VaeDecoder, loaded before this file) and painting a canvas;
// on release the latent goes back to Python (state "z"). Mode "path": a scrubber along an
// interpolation path, decoded live. Weights arrive once per run: the component asks for them
// (trigger "need" with the decoder's hash) only when this page holds no decoder of that hash.

const CACHE = (globalThis.__vaeLiveDecoders ||= new Map());  // hash -> built decoder (the page's life)
const LOCAL = (globalThis.__vaeLiveLocal ||= new Map());     // per-instance view state across reruns
const REG = (globalThis.__vaeLive ||= {});                    // instances, for tests and the bench
const WAITERS = (globalThis.__vaeLiveWaiters ||= new Map());  // hash -> instances still waiting for it

// A decoder of this hash was built (weights sent to any instance, or found in IndexedDB): every
// instance waiting for it draws now, without a request of its own (two instances on one page ask at
// once, and one rerun may carry the weights to only one of them).
function wake(hash) {
  const waiting = WAITERS.get(hash);
  WAITERS.delete(hash);
  for (const inst of waiting || []) {
    if (inst.data && inst.data.spec && inst.data.spec.hash === hash) inst.setData(inst.data, inst.api);
  }
}

// A decoder's weights also stay in IndexedDB (keyed by the same hash, at most 8 decoders), so a
// reload of the page, a new session, does not fetch them again either.
const IDB = (() => {
  let dbp = null;
  function db() {
    if (!globalThis.indexedDB) return Promise.resolve(null);
    dbp ||= new Promise((res) => {
      try {
        const rq = indexedDB.open("vae-live-decoders", 1);
        rq.onupgradeneeded = () => rq.result.createObjectStore("w");
        rq.onsuccess = () => res(rq.result);
        rq.onerror = () => res(null);
      } catch (e) { res(null); }
    });
    return dbp;
  }
  async function get(hash) {
    const d = await db();
    if (!d) return null;
    return new Promise((res) => {
      try {
        const rq = d.transaction("w").objectStore("w").get(hash);
        rq.onsuccess = () => res(rq.result || null);
        rq.onerror = () => res(null);
      } catch (e) { res(null); }
    });
  }
  async function put(hash, buf) {
    const d = await db();
    if (!d) return;
    try {
      const store = d.transaction("w", "readwrite").objectStore("w");
      const count = store.count();
      count.onsuccess = () => { if (count.result >= 8) store.clear(); store.put(buf, hash); };
    } catch (e) { /* a full or disabled store: the weights are asked for again next time */ }
  }
  return { get, put };
})();

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmt(v) { return (v >= 0 ? "+" : "\u2212") + Math.abs(v).toFixed(2); }

class LatentPad {
  constructor(root) {
    this.root = root;
    this.z = [];
    this.dec = null;
    this.frame = 0;           // paints so far (each a fresh decode)
    this.pending = false;
    this.dragging = false;
    this.decodeMs = [];       // the last 600 decode+paint times, for the bench
    root.replaceChildren();
    this.notice = el("div", "vl-notice");
    this.view = el("div", "vl-view");
    this.canvas = el("canvas", "vae-live-canvas");
    this.canvas.setAttribute("role", "img");
    this.caption = el("div", "vl-caption");
    this.view.append(this.canvas, this.caption);
    this.padSlot = el("div", "vl-padslot");
    this.controls = el("div", "vl-controls");
    root.append(this.notice, this.view, this.padSlot, this.controls);
    this.raf = () => { this.pending = false; this.paint(); };
  }

  setData(d, api) {
    this.api = api;
    this.data = d;
    this.ensureDecoder(d);
    if (d.mode === "path") this.buildPath(d);
    else this.buildSliders(d);
    this.schedule();
  }

  ensureDecoder(d) {
    this.dec = null;
    this.notice.textContent = "";
    this.notice.className = "vl-notice";
    if (!d.spec) {
      this.notice.textContent = d.fallback || "This decoder cannot run in the browser.";
      this.notice.className = "vl-notice vl-warn";
      this.view.style.display = "none";
      return;
    }
    this.view.style.display = "";
    const hash = d.spec.hash;
    let dec = CACHE.get(hash);
    if (!dec && d.weights) {
      try {
        const weights = VaeDecoder.b64ToFloat32(d.weights);
        dec = VaeDecoder.build(d.spec, weights);
        CACHE.set(hash, dec);
        IDB.put(hash, weights.buffer);
        queueMicrotask(() => wake(hash));
      } catch (e) {
        this.notice.textContent = "The browser decoder failed (" + e.message + "); the server decodes on release.";
        this.notice.className = "vl-notice vl-warn";
        this.view.style.display = "none";
        this.api.setStateValue("broken", hash);  // the page then shows the server's decode
        return;
      }
    }
    if (dec) {
      this.dec = dec;
      const [, h, w] = d.spec.image_shape;
      if (this.canvas.width !== w || this.canvas.height !== h) {
        this.canvas.width = w; this.canvas.height = h;
        this.ctx = null;
      }
      this.ctx ||= this.canvas.getContext("2d", { willReadFrequently: true });
      this.imageData = this.ctx.createImageData(w, h);
      this.canvas.dataset.hash = d.spec.hash;
    } else {
      this.notice.textContent = "Loading the decoder\u2026";
      if (!WAITERS.has(hash)) WAITERS.set(hash, new Set());
      WAITERS.get(hash).add(this);
      const tried = (this.idbTried ||= {});
      if (tried[hash]) { this.ask(hash); return; }
      tried[hash] = true;
      IDB.get(hash).then((buf) => {
        if (buf && !CACHE.has(hash)) {
          try { CACHE.set(hash, VaeDecoder.build(d.spec, new Float32Array(buf))); } catch (e) { /* ask instead */ }
        }
        if (!CACHE.has(hash)) this.ask(hash);
        else wake(hash);
      });
    }
  }

  ask(hash) {
    const asked = (this.asked ||= {});
    if ((asked[hash] || 0) < 3) {  // the next rerun brings the weights; ask again only if it did not
      asked[hash] = (asked[hash] || 0) + 1;
      this.api.setTriggerValue("need", hash);
      // A request lost to an interrupted rerun is not answered by any later one on an idle page: ask
      // again after a while if the weights have still not come.
      setTimeout(() => {
        if (!CACHE.has(hash) && this.data && this.data.spec && this.data.spec.hash === hash) this.ask(hash);
      }, 10000);
    }
  }

  // ---------------------------------------------------------------- sliders and pad
  buildSliders(d) {
    const local = LOCAL.get(d.instance) || {};
    LOCAL.set(d.instance, local);
    // The server's latent wins unless a gesture is in progress (its release will send ours).
    // A latent the server sent anew (a button, a released gesture coming back, the URL) is taken.
    // The echo of a latent this pad sent is not taken: later moves (keys pressed while that rerun
    // was in flight) would be lost.
    const serverZ = JSON.stringify(d.z);
    if (this.z.length !== d.z.length) {
      this.z = d.z.slice();
      this.sent = [];
    } else if (!this.dragging && serverZ !== this.serverZ && !this.isEcho(d.z)) {
      this.z = d.z.slice();
    }
    this.serverZ = serverZ;
    const sig = JSON.stringify([d.dims, d.radius, d.step, d.focus]);
    if (sig !== this.sig && !this.dragging) {  // mid-gesture, the pad stays; the next rerun redraws it
      this.sig = sig;
      this.controls.replaceChildren();
      this.inputs = new Map();
      this.padBox = this.buildPad(d, local);
      const list = el("div", "vl-sliders");
      for (const info of d.dims) {
        const row = el("label", "vl-row" + (info.collapsed ? " vl-collapsed" : "") + (info.d === d.focus ? " vl-focus" : ""));
        row.dataset.dim = info.d;
        const name = el("span", "vl-name", info.label);
        name.title = info.title || "";
        const input = el("input", "vl-range");
        Object.assign(input, { type: "range", min: -d.radius, max: d.radius, step: d.step });
        input.setAttribute("aria-label", "z" + info.d);
        input.dataset.dim = info.d;
        const val = el("span", "vl-val");
        input.addEventListener("pointerdown", () => { this.dragging = true; });
        input.addEventListener("input", () => {
          this.z[info.d] = Number(input.value);
          val.textContent = fmt(this.z[info.d]);
          this.syncPad();
          this.schedule();
        });
        input.addEventListener("change", () => { this.dragging = false; this.commit(); });
        row.append(name, input, val);
        list.append(row);
        this.inputs.set(info.d, [input, val]);
      }
      this.controls.append(list);
    }
    for (const [d_, [input, val]] of this.inputs) {
      input.value = this.z[d_];
      val.textContent = fmt(this.z[d_]);
    }
    this.syncPad();
  }

  buildPad(d, local) {
    this.padSlot.replaceChildren();
    this.padDot = null;
    if (d.dims.length < 2) return null;
    const box = el("div", "vl-padbox");
    const head = el("div", "vl-padhead");
    const picks = [0, 1].map((k) => {
      const s = el("select", "vl-pick");
      s.setAttribute("aria-label", k === 0 ? "pad across" : "pad up");
      for (const info of d.dims) {
        const o = el("option", "", "z" + info.d + (info.collapsed ? " \u00b7 collapsed" : ""));
        o.value = info.d;
        s.append(o);
      }
      return s;
    });
    const pair = local.pad && local.pad.every((v) => d.dims.some((i) => i.d === v)) ? local.pad
      : [d.dims[0].d, d.dims[1].d];
    picks[0].value = pair[0]; picks[1].value = pair[1];
    this.pad = pair.slice();
    picks.forEach((s, k) => s.addEventListener("change", () => {
      this.pad[k] = Number(s.value);
      local.pad = this.pad.slice();
      this.syncPad();
    }));
    head.append(el("span", "", "Pad \u2192"), picks[0], el("span", "", "\u2191"), picks[1]);
    const area = el("div", "vl-pad");
    area.setAttribute("aria-label", "latent pad");
    const dot = el("div", "vl-dot");
    area.append(el("div", "vl-axis vl-axis-h"), el("div", "vl-axis vl-axis-v"), dot);
    this.padArea = area; this.padDot = dot;
    const move = (ev) => {
      const r = (this.padArea || area).getBoundingClientRect();  // the pad drawn now, if a rerun redrew it
      const fx = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
      const fy = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
      const q = (v) => Math.round(v / d.step) * d.step;
      this.z[this.pad[0]] = q((2 * fx - 1) * d.radius);
      this.z[this.pad[1]] = q((1 - 2 * fy) * d.radius);
      for (const k of this.pad) {
        const pair_ = this.inputs.get(k);
        if (pair_) { pair_[0].value = this.z[k]; pair_[1].textContent = fmt(this.z[k]); }
      }
      this.syncPad();
      this.schedule();
    };
    // The gesture is followed on the window, not on this element: a rerun that lands mid-drag and
    // redraws the pad would otherwise leave the rest of the gesture (and its release) unheard, and
    // commit a latent from half-way.
    area.addEventListener("pointerdown", (ev) => {
      this.dragging = true;
      const id = ev.pointerId;
      try { area.setPointerCapture(id); } catch (e) { /* moves outside the window are then not seen */ }
      move(ev);
      const onMove = (e) => { if (e.pointerId === id && this.dragging) move(e); };
      const onEnd = (e) => {
        if (e.pointerId !== id) return;
        window.removeEventListener("pointermove", onMove);
        window.removeEventListener("pointerup", onEnd);
        window.removeEventListener("pointercancel", onEnd);
        if (!this.dragging) return;
        this.dragging = false;
        this.commit();
      };
      window.addEventListener("pointermove", onMove);
      window.addEventListener("pointerup", onEnd);
      window.addEventListener("pointercancel", onEnd);
    });
    box.append(head, area);
    this.padSlot.replaceChildren(box);
    return box;
  }

  syncPad() {
    if (!this.padDot || !this.data) return;
    const r = this.data.radius;
    const fx = (this.z[this.pad[0]] / r + 1) / 2, fy = (1 - this.z[this.pad[1]] / r) / 2;
    this.padDot.style.left = (100 * Math.min(1, Math.max(0, fx))) + "%";
    this.padDot.style.top = (100 * Math.min(1, Math.max(0, fy))) + "%";
  }

  commit() {
    const z = this.z.map((v) => Math.round(v * 1e4) / 1e4);
    (this.sent ||= []).push(z);
    if (this.sent.length > 64) this.sent.shift();
    this.api.setStateValue("z", z);
  }

  // Echoes come back in order (some reruns are merged away): one matching sent[k] retires sent[0..k].
  isEcho(z) {
    const sent = this.sent || [];
    const k = sent.findIndex((s) => s.length === z.length && s.every((v, i) => Math.abs(v - z[i]) < 1e-7));
    if (k < 0) return false;
    sent.splice(0, k + 1);
    return true;
  }

  // ---------------------------------------------------------------- interpolation scrubber
  buildPath(d) {
    const local = LOCAL.get(d.instance) || { t: 0.5 };
    LOCAL.set(d.instance, local);
    const sig = JSON.stringify([d.za, d.zb, d.kind]);
    if (sig !== this.sig && !this.dragging) {  // mid-gesture, the pad stays; the next rerun redraws it
      this.sig = sig;
      this.controls.replaceChildren();
      const row = el("label", "vl-row vl-scrub");
      const input = el("input", "vl-range");
      Object.assign(input, { type: "range", min: 0, max: 1, step: 0.001, value: local.t });
      input.setAttribute("aria-label", "path position t");
      const val = el("span", "vl-val", "t = " + local.t.toFixed(3));
      input.addEventListener("input", () => {
        local.t = Number(input.value);
        val.textContent = "t = " + local.t.toFixed(3);
        this.schedule();
      });
      row.append(el("span", "vl-name", d.label || "Scrub A \u2192 B"), input, val);
      this.controls.append(row);
      this.scrub = local;
    }
  }

  latent() {
    const d = this.data;
    if (d.mode !== "path") return this.z;
    const f = d.kind === "spherical" ? VaeDecoder.slerp : VaeDecoder.lerp;
    return f(d.za, d.zb, this.scrub.t);
  }

  // ---------------------------------------------------------------- painting
  schedule() {
    if (!this.pending) { this.pending = true; requestAnimationFrame(this.raf); }
  }

  paint() {
    if (!this.dec) return;
    const t0 = performance.now();
    const z = this.latent();
    const img = VaeDecoder.decode(this.dec, z);
    VaeDecoder.toRGBA(this.dec, img, this.imageData.data);
    this.ctx.putImageData(this.imageData, 0, 0);
    this.decodeMs.push(performance.now() - t0);
    if (this.decodeMs.length > 600) this.decodeMs.shift();
    this.lastImage = img;
    this.lastLatent = z.slice();
    this.frame += 1;
    this.canvas.dataset.frame = this.frame;
    this.caption.textContent = this.data.caption || "";
  }
}

export default function (component) {
  const { parentElement, data, setStateValue, setTriggerValue } = component;
  let root = parentElement.querySelector(".vae-live");
  if (!root) {
    root = el("div", "vae-live");
    parentElement.append(root);
  }
  let inst = root.__pad;
  if (!inst || inst.mode !== data.mode) {
    inst = root.__pad = new LatentPad(root);
    inst.mode = data.mode;
  }
  inst.setData(data, { setStateValue, setTriggerValue });
  REG[data.instance] = inst;
  REG.Decoder = VaeDecoder;
  return () => { if (REG[data.instance] === inst) delete REG[data.instance]; };
}
