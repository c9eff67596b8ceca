// The Train page's live curves: a running job's ELBO (train, test), reconstruction and KL (test) per
// epoch, and the test KL of each latent dimension per epoch as a heatmap, drawn on canvases. The page
// sends only the epochs this browser has not drawn ("start" = how many it sent before); a gap (a
// reload, a remount) is reported with the trigger "need" (the points held), and the next tick resends.

const STORE = (globalThis.__vaeCurvesStore ||= new Map());  // instance -> {job, points}
const REG = (globalThis.__vaeCurves ||= {});                  // instances, for tests and the bench
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
// Viridis at nine stops (matplotlib's), interpolated linearly.
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
                 [92, 200, 99], [170, 220, 50], [253, 231, 37]];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k])));
}

function nice(v) {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

class Curves {
  constructor(root) {
    this.root = root;
    root.replaceChildren();
    const row = el("div", "vc-row");
    this.panels = [["ELBO (nats per image)", [0, 1]], ["Reconstruction and KL (test)", [2, 3]]].map(([title, idx]) => {
      const p = el("div", "vc-panel");
      const legend = el("div", "vc-legend");
      const canvas = el("canvas", "vc-canvas");
      p.append(el("div", "vc-title", title), legend, canvas);
      row.append(p);
      return { title, idx, legend, canvas };
    });
    this.heatTitle = el("div", "vc-title", "KL per latent dimension per epoch (dark rows: collapsed onto the prior)");
    this.heat = el("canvas", "vc-heat");
    this.heatNote = el("div", "vc-note");
    root.append(row, this.heatTitle, this.heat, this.heatNote);
    this.draws = 0;
    this.frame = 0;
  }

  setData(data, trigger, instance) {
    let s = STORE.get(instance);
    if (!s || s.job !== data.job) {
      s = { job: data.job, points: [] };
      STORE.set(instance, s);
    }
    if (data.start > s.points.length) {  // some epochs never reached this browser: ask from what it holds
      trigger("need", s.points.length);
    } else {
      const fresh = data.points.slice(s.points.length - data.start);
      if (fresh.length) s.points.push(...fresh);
    }
    this.names = data.names;
    this.store = s;
    if (s.points.length !== this.drawnCount) this.schedule();  // nothing new: nothing to draw
  }

  schedule() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    const pts = this.store.points;
    for (const p of this.panels) this.drawPanel(p, pts);
    this.drawHeat(pts);
    this.drawnCount = pts.length;
    this.draws += 1;
  }

  drawPanel(panel, pts) {
    const { canvas, idx, legend } = panel;
    if (!legend.childElementCount) {
      for (const i of idx) {
        const k = el("span", "vc-key", this.names[i]);
        k.style.setProperty("--vc-colour", COLOURS[i]);
        legend.append(k);
      }
    }
    const dpr = globalThis.devicePixelRatio || 1, w = canvas.clientWidth || 320, h = canvas.clientHeight || 220;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const L = 52, R = 8, T = 8, B = 26;
    let lo = Infinity, hi = -Infinity;
    for (const p of pts) for (const i of idx) { const v = p.v[i]; if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
    const text = getComputedStyle(this.root).color || "#333";
    ctx.strokeStyle = "rgba(128,128,128,0.35)";
    ctx.lineWidth = 1;
    ctx.strokeRect(L, T, w - L - R, h - T - B);
    ctx.fillStyle = text;
    ctx.font = "11px sans-serif";
    if (!pts.length || lo === Infinity) { ctx.fillText("waiting for the first epoch…", L + 8, T + 18); return; }
    if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    const pad = 0.05 * (hi - lo); lo -= pad; hi += pad;
    const e0 = pts[0].epoch, e1 = Math.max(pts[pts.length - 1].epoch, e0 + 1);
    const X = (e) => L + (e - e0) / (e1 - e0) * (w - L - R), Y = (v) => T + (hi - v) / (hi - lo) * (h - T - B);
    ctx.textAlign = "right";
    for (const v of [hi - pad, (hi + lo) / 2, lo + pad]) {
      ctx.fillText(nice(v), L - 4, Y(v) + 4);
      ctx.beginPath(); ctx.moveTo(L, Y(v)); ctx.lineTo(w - R, Y(v)); ctx.stroke();
    }
    ctx.textAlign = "center";
    ctx.fillText("epoch " + e0, X(e0) + 18, h - 8);
    ctx.fillText(String(pts[pts.length - 1].epoch), X(pts[pts.length - 1].epoch) - 8, h - 8);
    ctx.lineWidth = 2;
    for (const i of idx) {
      ctx.strokeStyle = COLOURS[i];
      ctx.beginPath();
      let open = false;
      for (const p of pts) {
        const v = p.v[i];
        if (v === null) { open = false; continue; }
        if (open) ctx.lineTo(X(p.epoch), Y(v)); else ctx.moveTo(X(p.epoch), Y(v));
        open = true;
      }
      ctx.stroke();
      if (pts.length === 1 && pts[0].v[i] !== null) {  // one epoch: a dot
        ctx.fillStyle = COLOURS[i];
        ctx.beginPath(); ctx.arc(X(pts[0].epoch), Y(pts[0].v[i]), 3, 0, 2 * Math.PI); ctx.fill();
      }
    }
  }

  drawHeat(pts) {
    const rows = pts.filter((p) => Array.isArray(p.kl));
    const show = rows.length > 0;
    this.heat.style.display = this.heatTitle.style.display = this.heatNote.style.display = show ? "" : "none";
    if (!show) return;
    const D = rows[0].kl.length, E = rows.length;
    let top = -4;
    for (const p of rows) for (const v of p.kl) if (v !== null && v > 0) top = Math.max(top, Math.log10(v));
    top = Math.max(top, -3);
    const cell = Math.max(2, Math.min(14, Math.floor(360 / D)));
    this.heat.width = E;
    this.heat.height = D;
    this.heat.style.height = D * cell + "px";
    const ctx = this.heat.getContext("2d"), img = ctx.createImageData(E, D);
    for (let e = 0; e < E; e++) {
      for (let d = 0; d < D; d++) {
        const v = rows[e].kl[d];
        const c = v === null ? [200, 200, 200] : viridis((Math.log10(Math.max(v, 1e-4)) + 4) / (top + 4));
        const o = 4 * (d * E + e);
        img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    const last = rows[E - 1].kl;
    const collapsed = last.filter((v) => v !== null && v < 0.01).length;
    this.heatNote.textContent = `Rows z0 … z${D - 1} (top to bottom), epochs ${rows[0].epoch} … ${rows[E - 1].epoch} ` +
      `(left to right); colour: log₁₀ KL from 10⁻⁴ (dark) to ${Math.pow(10, top).toPrecision(2)} nats (yellow). ` +
      `${collapsed} of ${D} dimensions below 0.01 nats at epoch ${rows[E - 1].epoch}.`;
  }
}

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  let root = parentElement.querySelector(".vae-curves");
  if (!root) {
    root = el("div", "vae-curves");
    parentElement.append(root);
  }
  const instance = data.instance;
  let inst = root.__curves;
  if (!inst) inst = root.__curves = new Curves(root);
  inst.setData(data, setTriggerValue, instance);
  REG[instance] = inst;
  return () => { if (REG[instance] === inst) delete REG[instance]; };
}
