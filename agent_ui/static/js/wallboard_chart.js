// SVG charts drawn by the page itself (no library, no external service): a time line
// with a left and a right axis (the wallboard's waiting and service level per queue)
// and grouped bars (the reports). Each chart is an <svg role="img"> with a <title>
// and a <desc> that says in words what it shows, so a screen reader gets the figures.
// Data values become text nodes or numeric attributes only.

const NS = "http://www.w3.org/2000/svg";
let chartCount = 0;

function svg(tag, attributes, ...children) {
  const element = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined) continue;
    element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function frame(width, height, title, description) {
  chartCount += 1;
  const id = `chart-${chartCount}`;
  return svg(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": `${id}-title ${id}-desc`,
      preserveAspectRatio: "xMidYMid meet",
    },
    svg("title", { id: `${id}-title` }, title),
    svg("desc", { id: `${id}-desc` }, description),
  );
}

// A round upper bound for an axis: 1, 2, 5, 10, 20, 50...
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 4, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

function path(points) {
  return points.map(([x, y], index) => `${index ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
}

// points: [{at, <key>: number|null, ...}] in time order; series: [{key, label, className,
// axis: "left" | "right", max (optional fixed top), min (optional lowest top), area}]; format: {time(at), left(v), right(v)}.
export function timeChart({ title, description, points, series, format, width = 420, height = 150 }) {
  const margin = { top: 10, right: 40, bottom: 22, left: 34 };
  const root = frame(width, height, title, description);
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const times = points.map((point) => point.at);
  const start = times.length ? Math.min(...times) : 0;
  const end = times.length ? Math.max(...times) : 1;
  const span = end - start || 1;
  const x = (at) => margin.left + ((at - start) / span) * plotWidth;
  const tops = {};
  for (const axis of ["left", "right"]) {
    const mine = series.filter((item) => item.axis === axis);
    if (!mine.length) continue;
    const fixed = mine.find((item) => item.max !== undefined);
    const highest = Math.max(0, ...points.flatMap((point) => mine.map((item) => Number(point[item.key]) || 0)));
    // A floor for the top (min) keeps small counts off fractional ticks: 0, 2, 4.
    const floor = Math.max(0, ...mine.map((item) => item.min || 0));
    tops[axis] = fixed ? fixed.max : niceMax(Math.max(highest, floor));
  }
  const y = (axis, value) => margin.top + plotHeight - (Math.min(value, tops[axis]) / tops[axis]) * plotHeight;

  const grid = svg("g", { class: "chart-grid" });
  for (const fraction of [0, 0.5, 1]) {
    const level = margin.top + plotHeight - fraction * plotHeight;
    grid.append(svg("line", { x1: margin.left, x2: margin.left + plotWidth, y1: level, y2: level }));
    if (tops.left !== undefined) {
      grid.append(svg("text", { class: "chart-tick", x: margin.left - 4, y: level + 4, "text-anchor": "end" },
        format.left(tops.left * fraction)));
    }
    if (tops.right !== undefined) {
      grid.append(svg("text", { class: "chart-tick", x: margin.left + plotWidth + 4, y: level + 4, "text-anchor": "start" },
        format.right(tops.right * fraction)));
    }
  }
  if (times.length) {
    grid.append(svg("text", { class: "chart-tick", x: margin.left, y: height - 6, "text-anchor": "start" }, format.time(start)));
    grid.append(svg("text", { class: "chart-tick", x: margin.left + plotWidth, y: height - 6, "text-anchor": "end" }, format.time(end)));
  }
  root.append(grid);

  for (const item of series) {
    const known = points.filter((point) => point[item.key] !== null && point[item.key] !== undefined);
    if (!known.length) continue;
    const coordinates = known.map((point) => [x(point.at), y(item.axis, Number(point[item.key]))]);
    if (item.area) {
      const base = margin.top + plotHeight;
      const first = coordinates[0];
      const last = coordinates[coordinates.length - 1];
      root.append(svg("path", {
        class: `chart-area ${item.className}`,
        d: `${path(coordinates)}L${last[0].toFixed(1)},${base}L${first[0].toFixed(1)},${base}Z`,
      }));
    }
    root.append(svg("path", { class: `chart-line ${item.className}`, d: path(coordinates) }));
    const [lastX, lastY] = coordinates[coordinates.length - 1];
    root.append(svg("circle", { class: `chart-dot ${item.className}`, cx: lastX, cy: lastY, r: 3 }));
  }
  return root;
}

// categories: [label]; series: [{label, className, values: [number|null]}] (one value
// per category); format(value) for the axis.
export function barChart({ title, description, categories, series, format, width = 900, height = 260 }) {
  const margin = { top: 12, right: 12, bottom: 48, left: 52 };
  const root = frame(width, height, title, description);
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const highest = Math.max(0, ...series.flatMap((item) => item.values.map((value) => Number(value) || 0)));
  const top = niceMax(highest);
  const grid = svg("g", { class: "chart-grid" });
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const level = margin.top + plotHeight - fraction * plotHeight;
    grid.append(svg("line", { x1: margin.left, x2: margin.left + plotWidth, y1: level, y2: level }));
    grid.append(svg("text", { class: "chart-tick", x: margin.left - 6, y: level + 4, "text-anchor": "end" }, format(top * fraction)));
  }
  root.append(grid);
  const slot = plotWidth / Math.max(categories.length, 1);
  // Bars no wider than 36 units: one period alone is not a wall of colour.
  const barWidth = Math.min(36, Math.max(2, (slot * 0.8) / Math.max(series.length, 1)));
  const groupWidth = barWidth * series.length;
  // Label every category when they fit, else every n-th.
  const labelEvery = Math.max(1, Math.ceil(categories.length / Math.max(1, Math.floor(plotWidth / 70))));
  categories.forEach((category, index) => {
    const left = margin.left + index * slot + (slot - groupWidth) / 2;
    series.forEach((item, seriesIndex) => {
      const value = Number(item.values[index]) || 0;
      const barHeight = (value / top) * plotHeight;
      root.append(svg("rect", {
        class: `chart-bar ${item.className}`,
        x: (left + seriesIndex * barWidth).toFixed(1),
        y: (margin.top + plotHeight - barHeight).toFixed(1),
        width: Math.max(1, barWidth - 1).toFixed(1),
        height: barHeight.toFixed(1),
      }, svg("title", {}, `${category} · ${item.label}: ${format(value)}`)));
    });
    if (index % labelEvery === 0) {
      root.append(svg("text", {
        class: "chart-tick",
        x: (margin.left + index * slot + slot / 2).toFixed(1),
        y: height - margin.bottom + 16,
        "text-anchor": "middle",
      }, category.length > 16 ? `${category.slice(0, 15)}…` : category));
    }
  });
  return root;
}
