// The project's decoders in plain JavaScript (no library, no network): the layers
// vae/export/onnx.py decoder_spec() describes (linear, relu, unflatten, convt), then a sigmoid,
// computed in float64 from float32 weights. tests/test_export.py reference_decode() is the same
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
    // Activations after an Unflatten are kept channels-last (y, x, c), and transposed-convolution
    // weights are reordered to (c_in, a, b, c_out), so the innermost loop runs over output channels
    // through contiguous memory. Weights are widened to float64 once, here.
    const layers = spec.layers.map((L) => {
      const out = { ...L };
      if (L.op === "linear") {
        out.W = Float64Array.from(weights.subarray(L.w, L.w + L.n_in * L.n_out));
        out.B = L.b >= 0 ? Float64Array.from(weights.subarray(L.b, L.b + L.n_out)) : null;
        out.buf = new Float64Array(L.n_out);
      } else if (L.op === "convt") {
        const { c_in: ci, c_out: co, k } = L;
        const src = weights.subarray(L.w, L.w + ci * co * k * k);  // (c_in, c_out, k, k)
        const W = new Float64Array(src.length);
        for (let c = 0; c < ci; c++)
          for (let o = 0; o < co; o++)
            for (let a = 0; a < k; a++)
              for (let b = 0; b < k; b++) W[((c * k + a) * k + b) * co + o] = src[((c * co + o) * k + a) * k + b];
        out.W = W;
        out.B = L.b >= 0 ? Float64Array.from(weights.subarray(L.b, L.b + co)) : null;
        out.buf = new Float64Array(co * L.h_out * L.w_out);
      } else if (L.op === "unflatten") {
        out.buf = new Float64Array(L.shape.reduce((a, b) => a * b, 1));
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

  // Transposed convolution as a scatter, channels-last: every input pixel adds its kernel-weighted
  // copy to the output window it covers, out[i*s-p+a, j*s-p+b, o] += x[i, j, c] * W[c, a, b, o].
  function convt(L, x) {
    const { W, B, buf, c_in, c_out, k, stride, pad, h_in, w_in, h_out, w_out } = L;
    for (let q = 0; q < h_out * w_out; q++)
      for (let o = 0; o < c_out; o++) buf[q * c_out + o] = B ? B[o] : 0;
    for (let i = 0; i < h_in; i++) {
      for (let j = 0; j < w_in; j++) {
        const xBase = (i * w_in + j) * c_in;
        for (let a = 0; a < k; a++) {
          const y = i * stride - pad + a;
          if (y < 0 || y >= h_out) continue;
          for (let b = 0; b < k; b++) {
            const xx = j * stride - pad + b;
            if (xx < 0 || xx >= w_out) continue;
            const oBase = (y * w_out + xx) * c_out;
            for (let c = 0; c < c_in; c++) {
              const v = x[xBase + c];
              if (v === 0) continue;  // after a ReLU most inputs are zero
              const wBase = ((c * k + a) * k + b) * c_out;
              for (let o = 0; o < c_out; o++) buf[oBase + o] += v * W[wBase + o];
            }
          }
        }
      }
    }
    return buf;
  }

  // (C, H, W) -> (H, W, C), for the layers after an Unflatten.
  function toHWC(L, x) {
    const [c, h, w] = L.shape, buf = L.buf;
    for (let ch = 0; ch < c; ch++)
      for (let q = 0; q < h * w; q++) buf[q * c + ch] = x[ch * h * w + q];
    return buf;
  }

  // z: an array of latentDim numbers -> Float64Array of C*H*W values in [0, 1] (E[x|z]).
  function decode(dec, z) {
    let x = Float64Array.from(z);
    let hwc = false;
    for (const L of dec.layers) {
      if (L.op === "linear") x = linear(L, x);
      else if (L.op === "convt") x = convt(L, x);
      else if (L.op === "relu") { for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0; }
      else if (L.op === "unflatten") { x = toHWC(L, x); hwc = true; }
      else throw new Error("unknown layer " + L.op);
    }
    const out = dec.out, { channels: c, height: h, width: w } = dec;
    const plane = h * w;
    for (let i = 0; i < out.length; i++) {
      // the output in (C, H, W) order; a channels-last activation is read across
      const v = hwc ? x[(i % plane) * c + Math.floor(i / plane)] : x[i];
      out[i] = 1 / (1 + Math.exp(-v));
    }
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
