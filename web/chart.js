// The click chart: one bar per bucket of the stats series, drawn as SVG by this code alone.
import { svg, numberFormat } from './dom.js';

const WIDTH = 640;
const HEIGHT = 220;
const MARGIN = { top: 12, right: 8, bottom: 28, left: 44 };

/**
 * An <svg> bar chart of `series` ([{start, clicks}], every click), hours or days by
 * `granularity`; each bar's part in `humans` (the same buckets without bots) is drawn solid,
 * the bots' part above it lighter.
 */
export function clickChart(series, humans, granularity) {
  const total = series.reduce((sum, bucket) => sum + bucket.clicks, 0);
  const unit = granularity === 'hour' ? 'hour' : 'day';
  const chart = svg('svg', {
    class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'data-total': String(total),
    'aria-label': `Clicks per ${unit}: ${numberFormat.format(total)} in ${series.length} ${unit}s`,
  });
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const highest = Math.max(1, ...series.map((bucket) => bucket.clicks));
  const scale = niceCeiling(highest);
  for (const fraction of scale >= 2 ? [0, 0.5, 1] : [0, 1]) {
    const y = MARGIN.top + plotHeight * (1 - fraction);
    chart.append(
      svg('line', { class: 'grid', x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y, y2: y }),
      svg('text', { class: 'axis', x: MARGIN.left - 6, y: y + 4, 'text-anchor': 'end' },
        compact(scale * fraction)));
  }
  const step = plotWidth / Math.max(1, series.length);
  const barWidth = Math.max(1, step * 0.8);
  series.forEach((bucket, index) => {
    const people = Math.min(bucket.clicks, humans[index]?.clicks ?? 0);
    const x = (MARGIN.left + index * step + (step - barWidth) / 2).toFixed(2);
    const bar = svg('g', {});
    let base = MARGIN.top + plotHeight;
    for (const [part, kind] of [[people, 'bar'], [bucket.clicks - people, 'bar bots']]) {
      const height = (part / scale) * plotHeight;
      base -= height;
      if (part > 0) bar.append(svg('rect', { class: kind, x, y: base.toFixed(2), width: barWidth.toFixed(2), height: height.toFixed(2) }));
    }
    bar.append(svg('title', {}, `${label(bucket.start, granularity)}: ${numberFormat.format(bucket.clicks)} clicks, `
      + `${numberFormat.format(bucket.clicks - people)} by bots`));
    chart.append(bar);
  });
  if (series.length > 0) {
    const ticks = series.length === 1 ? [0] : [0, Math.floor((series.length - 1) / 2), series.length - 1];
    for (const index of ticks) {
      const x = MARGIN.left + index * step + step / 2;
      const anchor = index === 0 ? 'start' : index === series.length - 1 ? 'end' : 'middle';
      chart.append(svg('text', { class: 'axis', x: x.toFixed(2), y: HEIGHT - 8, 'text-anchor': anchor },
        label(series[index].start, granularity)));
    }
  }
  return chart;
}

/** 1, 2 or 5 times a power of ten, at least `value`: round numbers on the axis. */
function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const factor of [1, 2, 5, 10]) if (factor * power >= value) return factor * power;
  return 10 * power;
}

function compact(value) {
  return new Intl.NumberFormat(undefined, { notation: 'compact' }).format(value);
}

function label(start, granularity) {
  const date = new Date(start);
  return granularity === 'hour'
    ? date.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}
