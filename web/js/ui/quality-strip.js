// quality-strip: the in-call quality line: RTT, jitter, packet loss and estimated MOS, each
// with its latest value and a sparkline of the last 30 seconds, redrawn once a second from
// QualityMonitor samples.
//
// The sparklines are inline SVG built with DOM calls; colours come from classes in app.css
// (the CSP forbids style attributes, and SVG presentation attributes would bypass the
// light/dark palettes).

import { byId, el, show } from './dom.js';
import { mosWords } from '../quality.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 60;
const H = 18; // viewBox units; CSS stretches the chart to the cell's width

// What each cell shows; `scale` is the smallest top of the y axis, so a quiet line stays low.
const METRICS = [
  { key: 'rttMs', name: 'RTT', unit: 'ms', scale: 100, fmt: (v) => String(Math.round(v)), warn: (v) => v > 300 },
  { key: 'jitterMs', name: 'Jitter', unit: 'ms', scale: 20, fmt: (v) => (v < 10 ? v.toFixed(1) : String(Math.round(v))), warn: (v) => v > 30 },
  { key: 'lossPct', name: 'Loss', unit: '%', scale: 5, fmt: (v) => v.toFixed(1), warn: (v) => v > 2 },
  { key: 'mos', name: 'MOS', unit: '', scale: 5, min: 1, fmt: (v) => v.toFixed(1), warn: (v) => v < 3.6 },
];

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

export function mountQualityStrip(monitor, calls) {
  const root = byId('call-quality');
  const cells = METRICS.map((m) => {
    const value = el('span', { class: 'q-value' }, '–');
    const line = svg('polyline', { class: 'q-line', points: '' });
    const chart = svg('svg', { class: 'q-spark', viewBox: `0 0 ${W} ${H}`, width: W, height: H, 'aria-hidden': 'true', focusable: 'false', preserveAspectRatio: 'none' });
    chart.append(svg('line', { class: 'q-base', x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }), line);
    const cell = el('div', { class: 'q-cell', dataset: { metric: m.key } },
      el('span', { class: 'q-name' }, m.name), value, chart);
    root.append(cell);
    return { m, value, line, cell };
  });

  function draw(samples) {
    for (const { m, value, line, cell } of cells) {
      const values = samples.map((s) => s[m.key]);
      const latest = values.at(-1);
      const has = latest !== null && latest !== undefined;
      value.textContent = has ? `${m.fmt(latest)}${m.unit ? ` ${m.unit}` : ''}` : '–';
      if (m.key === 'mos' && has) value.append(el('span', { class: 'visually-hidden' }, ` (${mosWords(latest)})`));
      cell.classList.toggle('is-warn', has && m.warn(latest));
      const min = m.min ?? 0;
      const top = Math.max(m.scale, ...values.filter((v) => v != null));
      // The newest sample at the right edge; at least 10 slots wide, so the first seconds of
      // a call already draw a visible line, and at most the monitor's 30 s of history.
      const slots = Math.max(10, values.length);
      const step = W / (slots - 1);
      const offset = W - step * (values.length - 1);
      const points = [];
      values.forEach((v, i) => {
        if (v == null) return;
        const y = H - 1 - ((Math.max(min, v) - min) / (top - min)) * (H - 2);
        points.push(`${(offset + i * step).toFixed(1)},${y.toFixed(1)}`);
      });
      line.setAttribute('points', points.join(' '));
    }
  }

  monitor.addEventListener('sample', (ev) => {
    if (ev.detail.call !== calls.current) return;
    show(root, true);
    draw(ev.detail.samples);
  });
  calls.addEventListener('change', (ev) => {
    const { call } = ev.detail;
    if (call === calls.current && (call.ended || !(call.state === 'connected' || call.state === 'early'))) {
      show(root, false);
      draw([]);
    }
  });
}
