// The project's decoders in plain JavaScript (no library, no network): the layers
// vae/export.py decoder_spec() describes (linear, relu, unflatten, convt), then a sigmoid,
// computed in float64 from float32 weights. vae/export.py reference_decode() is the same
// arithmetic in numpy; tests compare both with PyTorch's mean_image.
// Loaded first into the component's module (ui/components/latent_pad.py), and on its own
// by the decoder tests, so it only defines globals-free functions on one object.
const VaeDecoder = (() => {
  function b64ToFloat32(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);  // little-endian, as every browser platform is
  }

  // A decoder: its layers with weight views, and scratch buffers reused on every decode.
  function build(spec, weights) {
    if (!spec || spec.version !== 1) throw new Error("unknown decoder spec");
    if (typeof weights === "string") weights = b64ToFloat32(weights);
    if (weights.length !== spec.n_weights) throw new Error("weights do not match the spec");
    const layers = spec.layers.map((L) => {
      const out = { ...L };
      if (L.op === "linear") {
        out.W = weights.subarray(L.w, L.w + L.n_in * L.n_out);
        out.B = L.b >= 0 ? weights.subarray(L.b, L.b + L.n_out) : null;
        out.buf = new Float64Array(L.n_out);
      } else if (L.op === "convt") {
        out.W = weights.subarray(L.w, L.w + L.c_in * L.c_out * L.k * L.k);
        out.B = L.b >= 0 ? weights.subarray(L.b, L.b + L.c_out) : null;
        out.buf = new Float64Array(L.c_out * L.h_out * L.w_out);
      }
      return out;
    });
    const [c, h, w] = spec.image_shape;
    return { spec, layers, latentDim: spec.latent_dim, channels: c, height: h, width: w,
             out: new Float64Array(c * h * w) };
  }

  function linear(L, x) {
    const { W, B, buf, n_in, n_out } = L;
    for (let o = 0; o < n_out; o++) {
      let s = B ? B[o] : 0;
      const row = o * n_in;
      for (let i = 0; i < n_in; i++) s += W[row + i] * x[i];
      buf[o] = s;
    }
    return buf;
  }

  // Transposed convolution as a scatter: every input pixel adds its kernel-weighted copy to the
  // output window it covers, out[o, i*s-p+a, j*s-p+b] += x[c, i, j] * W[c, o, a, b].
  function convt(L, x) {
    const { W, B, buf, c_in, c_out, k, stride, pad, h_in, w_in, h_out, w_out } = L;
    const plane = h_out * w_out;
    for (let o = 0; o < c_out; o++) buf.fill(B ? B[o] : 0, o * plane, (o + 1) * plane);
    const kk = k * k;
    for (let c = 0; c < c_in; c++) {
      for (let i = 0; i < h_in; i++) {
        for (let j = 0; j < w_in; j++) {
          const v = x[(c * h_in + i) * w_in + j];
          if (v === 0) continue;  // after a ReLU most inputs are zero
          const y0 = i * stride - pad, x0 = j * stride - pad;
          for (let o = 0; o < c_out; o++) {
            const wBase = (c * c_out + o) * kk, oBase = o * plane;
            for (let a = 0; a < k; a++) {
              const y = y0 + a;
              if (y < 0 || y >= h_out) continue;
              const rowOut = oBase + y * w_out, rowW = wBase + a * k;
              for (let b = 0; b < k; b++) {
                const xx = x0 + b;
                if (xx < 0 || xx >= w_out) continue;
                buf[rowOut + xx] += v * W[rowW + b];
              }
            }
          }
        }
      }
    }
    return buf;
  }

  // z: an array of latentDim numbers -> Float64Array of C*H*W values in [0, 1] (E[x|z]).
  function decode(dec, z) {
    let x = Float64Array.from(z);
    for (const L of dec.layers) {
      if (L.op === "linear") x = linear(L, x);
      else if (L.op === "convt") x = convt(L, x);
      else if (L.op === "relu") { for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0; }
      else if (L.op === "unflatten") { /* row-major: the flat buffer already is (C, H, W) */ }
      else throw new Error("unknown layer " + L.op);
    }
    const out = dec.out;
    for (let i = 0; i < out.length; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
    return out;
  }

  // Paint E[x|z] into an ImageData-sized RGBA buffer, rounded as vae/render.py to_pil does.
  function toRGBA(dec, img, rgba) {
    const { channels: c, height: h, width: w } = dec;
    const plane = h * w;
    for (let p = 0; p < plane; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = img[(c === 1 ? 0 : ch) * plane + p];
        rgba[4 * p + ch] = Math.floor(Math.min(1, Math.max(0, v)) * 255 + 0.5);
      }
      rgba[4 * p + 3] = 255;
    }
    return rgba;
  }

  // Linear and spherical interpolation, as vae/analysis/traversal.py lerp / slerp.
  function lerp(z0, z1, t) { return z0.map((a, i) => (1 - t) * a + t * z1[i]); }
  function norm(v) { return Math.sqrt(v.reduce((s, a) => s + a * a, 0)); }
  function slerp(z0, z1, t, eps = 1e-6) {
    const n0 = norm(z0), n1 = norm(z1);
    if (n0 < eps || n1 < eps) return lerp(z0, z1, t);
    const u0 = z0.map((a) => a / n0), u1 = z1.map((a) => a / n1);
    const cos = Math.min(1, Math.max(-1, u0.reduce((s, a, i) => s + a * u1[i], 0)));
    const theta = Math.acos(cos);
    let w = u1.map((a, i) => a - cos * u0[i]);
    const pn = norm(w);
    if (pn > eps) w = w.map((a) => a / pn);
    else if (cos > 0) w = w.map(() => 0);
    else {
      let m = 0;
      u0.forEach((a, i) => { if (Math.abs(a) < Math.abs(u0[m])) m = i; });
      const e = u0.map((_, i) => (i === m ? 1 : 0));
      const d = u0[m];
      w = e.map((a, i) => a - d * u0[i]);
      const wn = norm(w);
      if (wn < eps) return lerp(z0, z1, t);
      w = w.map((a) => a / wn);
    }
    const r = (1 - t) * n0 + t * n1, ct = Math.cos(t * theta), st = Math.sin(t * theta);
    return u0.map((a, i) => (ct * a + st * w[i]) * r);
  }

  return { build, decode, toRGBA, lerp, slerp, b64ToFloat32 };
})();
