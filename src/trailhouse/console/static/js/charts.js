// Hand-written SVG charts: bars (optionally stacked series) and a line. Each returns an <svg>
// that scales to its container; every bar and point carries a <title> tooltip.
import { decimal, h, svg } from "./ui.js";

export const COLORS = ["#ff6a00", "#1458d6", "#1a7f37", "#8e44ad", "#c62828", "#00838f", "#8f959e"];
// Narrow screens get a narrower drawing, so that its text stays readable when scaled down.
const chartWidth = () => (window.innerWidth < 640 ? 460 : 820);

function niceStep(range, ticks) {
  const raw = range / ticks;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

function scale(maximum, ticks = 5) {
  if (!(maximum > 0)) return { top: 1, steps: [0, 1] };
  const step = niceStep(maximum, ticks);
  const top = Math.ceil(maximum / step) * step;
  const steps = [];
  for (let value = 0; value <= top + step / 2; value += step) steps.push(value);
  return { top, steps };
}

function compact(value) {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${+(value / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return decimal(value, 3);
}

function frame({ labels, maximum, height, yFormat, title }) {
  const WIDTH = chartWidth();
  const longest = Math.max(...labels.map((l) => String(l).length), 1);
  const rotate = labels.length > 8 || longest * labels.length * 6.5 > WIDTH - 80;
  const maxLabels = WIDTH < 600 ? 0.5 : 1;
  const bottom = rotate ? Math.min(96, 18 + longest * 5.2) : 30;
  const { top, steps } = scale(maximum);
  const format = yFormat || compact;
  const shownLength = Math.min(longest, 18);
  // A rotated first label reaches left of its tick by about cos(40°) of its length.
  const left = Math.max(44, 12 + Math.max(...steps.map((s) => format(s).length)) * 6.5, rotate ? shownLength * 5.6 : 0);
  const area = { left, right: WIDTH - 14, top: 14, bottom: height - bottom };
  const y = (value) => area.bottom - (value / top) * (area.bottom - area.top);
  const root = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${WIDTH} ${height}`,
    role: "img",
    "aria-label": title || "chart",
    preserveAspectRatio: "xMidYMid meet",
  });
  for (const value of steps) {
    root.append(
      svg("line", { class: "grid", x1: area.left, x2: area.right, y1: y(value), y2: y(value) }),
      svg("text", { x: area.left - 6, y: y(value) + 4, "text-anchor": "end" }, format(value)),
    );
  }
  root.append(svg("line", { class: "axis", x1: area.left, x2: area.right, y1: area.bottom, y2: area.bottom }));
  return { root, area, y, rotate, density: maxLabels };
}

function xLabel(root, area, x, text, rotate) {
  const label = String(text);
  if (rotate) {
    root.append(
      svg(
        "text",
        { x, y: area.bottom + 12, "text-anchor": "end", transform: `rotate(-40 ${x} ${area.bottom + 12})` },
        label.length > 18 ? `${label.slice(0, 17)}…` : label,
      ),
    );
  } else {
    root.append(svg("text", { x, y: area.bottom + 18, "text-anchor": "middle" }, label));
  }
}

// labels: category names; series: [{ name, values }]; stacked sums the series per category.
export function barChart({ labels, series, stacked = false, height = 280, yFormat, title, legend = false }) {
  const totals = labels.map((_, i) =>
    stacked ? series.reduce((sum, s) => sum + (Number(s.values[i]) || 0), 0) : Math.max(...series.map((s) => Number(s.values[i]) || 0)),
  );
  const { root, area, y, rotate, density } = frame({ labels, maximum: Math.max(0, ...totals), height, yFormat, title });
  const slot = (area.right - area.left) / Math.max(labels.length, 1);
  const groups = stacked ? 1 : series.length;
  const barWidth = Math.max(1, Math.min(56, (slot * 0.72) / groups));
  const every = Math.ceil(labels.length / ((rotate ? 40 : 12) * density));
  const format = yFormat || ((v) => Number(v).toLocaleString("en-US"));
  labels.forEach((label, i) => {
    const center = area.left + slot * (i + 0.5);
    let base = 0;
    series.forEach((s, k) => {
      const value = Number(s.values[i]) || 0;
      const x = stacked ? center - barWidth / 2 : center - (barWidth * groups) / 2 + k * barWidth;
      const top = y(base + value);
      const bottom = y(base);
      root.append(
        svg(
          "rect",
          {
            class: "bar",
            x: x.toFixed(1),
            y: top.toFixed(1),
            width: barWidth.toFixed(1),
            height: Math.max(0, bottom - top).toFixed(1),
            fill: COLORS[k % COLORS.length],
            rx: barWidth > 6 ? 2 : 0,
          },
          svg("title", {}, `${label}${series.length > 1 ? ` · ${s.name}` : ""}: ${format(value)}`),
        ),
      );
      if (stacked) base += value;
    });
    if (i % every === 0) xLabel(root, area, center, label, rotate);
  });
  return withLegend(root, series, legend);
}

// A line over ordered labels (times): one series of numbers.
export function lineChart({ labels, values, height = 260, yFormat, title, name = "value" }) {
  const numbers = values.map((v) => Number(v) || 0);
  const { root, area, y, rotate, density } = frame({ labels, maximum: Math.max(0, ...numbers), height, yFormat, title });
  const span = Math.max(labels.length - 1, 1);
  const x = (i) => area.left + ((area.right - area.left) * (labels.length === 1 ? 0.5 : i / span));
  const points = numbers.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  root.append(
    svg("polygon", {
      points: `${x(0).toFixed(1)},${area.bottom} ${points} ${x(numbers.length - 1).toFixed(1)},${area.bottom}`,
      fill: COLORS[0],
      "fill-opacity": "0.10",
    }),
    svg("polyline", { points, fill: "none", stroke: COLORS[0], "stroke-width": 2, "stroke-linejoin": "round" }),
  );
  const format = yFormat || ((v) => Number(v).toLocaleString("en-US"));
  const every = Math.ceil(labels.length / ((rotate ? 24 : 10) * density));
  numbers.forEach((value, i) => {
    if (labels.length <= 400) {
      root.append(
        svg(
          "circle",
          { class: "dot", cx: x(i).toFixed(1), cy: y(value).toFixed(1), r: labels.length > 80 ? 2 : 3.2, fill: COLORS[0] },
          svg("title", {}, `${labels[i]}: ${format(value)} ${name}`),
        ),
      );
    }
    if (i % every === 0) xLabel(root, area, x(i), labels[i], rotate);
  });
  return root;
}

function withLegend(root, series, always) {
  if (series.length < 2 && !always) return root;
  return h(
    "div",
    { class: "chart-box" },
    root,
    h(
      "div",
      { class: "legend" },
      series.map((s, k) => h("span", {}, h("i", { class: `c${k % COLORS.length}` }), s.name)),
    ),
  );
}

// Which chart suits a SQL result: a label column and a numeric column make a bar chart, or a
// line when the labels are times or days. Returns null when no chart fits.
export function chartFor(result, preference = "auto") {
  const { columns, types, rows } = result;
  if (preference === "none" || rows.length < 1 || columns.length < 2) return null;
  const numeric = columns.map((_, c) => isNumericColumn(types[c], rows, c));
  const firstText = numeric.findIndex((isNumber) => !isNumber);
  const labelIndex = firstText >= 0 ? firstText : 0;
  const valueColumn = numeric.findIndex((isNumber, c) => isNumber && c !== labelIndex);
  if (valueColumn < 0) return null;
  const labels = rows.map((row) => String(row[labelIndex] ?? "NULL"));
  const values = rows.map((row) => Number(row[valueColumn]) || 0);
  const timeLike = labels.every((l) => /^\d{4}-\d{2}(-\d{2})?([ T]\d{2}(:\d{2}){0,2})?/.test(l) || /^\d{8}(\d{2})?$/.test(l));
  const kind = preference === "bar" || preference === "line" ? preference : timeLike && rows.length > 1 ? "line" : "bar";
  const title = `${columns[valueColumn]} by ${columns[labelIndex]}`;
  if (kind === "line") {
    const order = labels.map((_, i) => i);
    if (timeLike) order.sort((a, b) => (labels[a] < labels[b] ? -1 : labels[a] > labels[b] ? 1 : 0));
    return {
      kind,
      title,
      element: lineChart({ labels: order.map((i) => labels[i]), values: order.map((i) => values[i]), title, name: columns[valueColumn] }),
    };
  }
  const shown = Math.min(rows.length, 40);
  return {
    kind,
    title: rows.length > shown ? `${title} (first ${shown} rows)` : title,
    element: barChart({ labels: labels.slice(0, shown), series: [{ name: columns[valueColumn], values: values.slice(0, shown) }], title }),
  };
}

const NUMERIC_TYPES = /^(TINYINT|SMALLINT|INT|INTEGER|BIGINT|HUGEINT|UBIGINT|UINTEGER|FLOAT|DOUBLE|REAL|DECIMAL.*|NUMERIC.*|LONG|SHORT|BYTE)$/i;

function isNumericColumn(type, rows, column) {
  if (type && NUMERIC_TYPES.test(type)) return true;
  if (type && type !== "VARCHAR" && type !== "STRING") return false;
  return rows.length > 0 && rows.every((row) => typeof row[column] === "number");
}
