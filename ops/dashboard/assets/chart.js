// chart.js: the dashboard's line charts, drawn on <canvas> with no library.
// PlumeChart.draw(canvas, {times, series: [{name, color, values}], format,
// span}) draws every series against time, the newest sample at the right
// edge and `span` milliseconds of history across.
"use strict";

(function () {
  // niceCeil rounds up to 1, 2 or 5 times a power of ten, so that the
  // axis reads in round numbers.
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) {
      if (v <= m * p) return m * p;
    }
    return 10 * p;
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // fit sizes the canvas's backing store to its CSS box and the screen's
  // pixel ratio, so lines stay sharp; it returns the CSS size.
  function fit(canvas) {
    const r = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width * dpr));
    const h = Math.max(1, Math.round(r.height * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx, w: r.width, h: r.height };
  }

  function draw(canvas, opts) {
    const { ctx, w, h } = fit(canvas);
    const times = opts.times;
    const span = opts.span || 600000;
    const gap = opts.gap || 3000; // a longer gap between samples breaks the line
    const fmt = opts.format || String;
    const pad = { l: 62, r: 10, t: 8, b: 20 };
    const pw = Math.max(1, w - pad.l - pad.r);
    const ph = Math.max(1, h - pad.t - pad.b);
    ctx.clearRect(0, 0, w, h);

    const end = times.length ? times[times.length - 1] : Date.now();
    const start = end - span;
    let max = 0;
    for (const s of opts.series) {
      for (let i = 0; i < s.values.length; i++) {
        if (times[i] >= start && s.values[i] > max) max = s.values[i];
      }
    }
    const top = niceCeil(max);
    const x = (t) => pad.l + ((t - start) / span) * pw;
    const y = (v) => pad.t + ph - (v / top) * ph;

    // Grid and axis labels.
    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    ctx.strokeStyle = css("--grid");
    ctx.fillStyle = css("--muted");
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.l, yy);
      ctx.lineTo(pad.l + pw, yy);
      ctx.stroke();
      ctx.fillText(fmt(v), pad.l - 6, yy);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    // Time labels: the smallest step that gives at most six of them.
    const step = [10, 15, 30, 60, 120, 300].find((st) => span / 1000 / st <= 6) || 600;
    for (let ago = 0; ago * 1000 <= span; ago += step) {
      const xx = x(end - ago * 1000);
      const text = ago === 0 ? "now" : ago < 60 ? "−" + ago + " s" : "−" + ago / 60 + " min";
      ctx.fillText(text, Math.min(Math.max(xx, pad.l + 16), pad.l + pw - 12), pad.t + ph + 5);
    }

    // One line per series, a soft fill under the first.
    opts.series.forEach((s, k) => {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.6;
      ctx.lineJoin = "round";
      ctx.beginPath();
      let open = false;
      let prev = 0;
      for (let i = 0; i < times.length; i++) {
        if (times[i] < start) continue;
        const xx = x(times[i]);
        const yy = y(s.values[i] || 0);
        if (!open || times[i] - prev > gap) ctx.moveTo(xx, yy);
        else ctx.lineTo(xx, yy);
        open = true;
        prev = times[i];
      }
      ctx.stroke();
      if (k === 0 && opts.fill !== false && times.length > 1) {
        ctx.lineTo(x(end), y(0));
        const first = times.findIndex((t) => t >= start);
        ctx.lineTo(x(times[Math.max(first, 0)]), y(0));
        ctx.closePath();
        ctx.globalAlpha = 0.08;
        ctx.fillStyle = s.color;
        ctx.fill();
        ctx.globalAlpha = 1;
      }
    });
  }

  window.PlumeChart = { draw, niceCeil };
})();
