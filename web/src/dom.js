// Tiny DOM helpers. Text always goes in as text nodes, never as HTML, so run and tag
// names such as "<script>" are shown as written.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k in el && typeof v !== "string") el[k] = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Whether `obj` has its own key `k`: data keys such as "constructor" or "__proto__" are plain
// keys, never the prototype's members (`k in obj` would find Object's constructor).
export function own(obj, k) {
  return obj !== null && typeof obj === "object" && Object.prototype.hasOwnProperty.call(obj, k);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function fmt(v, digits = 6) {
  if (v === null || v === undefined) return "NaN";
  if (typeof v !== "number") return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(Math.max(0, digits - 2));
  return String(Number(v.toPrecision(digits)));
}

export function fmtTime(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function download(filename, blobOrUrl) {
  const url = typeof blobOrUrl === "string" ? blobOrUrl : URL.createObjectURL(blobOrUrl);
  const a = h("a", { href: url, download: filename, style: { display: "none" } });
  document.body.appendChild(a);
  a.click();
  a.remove();
  if (typeof blobOrUrl !== "string") setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Run `fn` at most once every `ms` milliseconds (trailing call kept).
export function throttle(fn, ms) {
  let timer = null, pending = false;
  return (...args) => {
    if (timer) { pending = args; return; }
    fn(...args);
    timer = setTimeout(function tick() {
      timer = null;
      if (pending) { const a = pending; pending = false; fn(...a); timer = setTimeout(tick, ms); }
    }, ms);
  };
}

// Group names by the part before the first "/" (TensorBoard's tag groups).
export function groupByPrefix(names) {
  const groups = new Map();
  for (const n of names) {
    const i = n.indexOf("/");
    const g = i > 0 ? n.slice(0, i) : "";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(n);
  }
  return [...groups.entries()].sort((a, b) => (a[0] === "" ? -1 : b[0] === "" ? 1 : a[0].localeCompare(b[0])));
}

// Calls fn(el) once el scrolls into view (or immediately without IntersectionObserver).
const observed = new WeakMap();
let observer = null;
export function whenVisible(el, fn) {
  if (!("IntersectionObserver" in window)) { fn(el); return; }
  if (!observer) {
    observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting && observed.has(e.target)) {
          const f = observed.get(e.target);
          observed.delete(e.target);
          observer.unobserve(e.target);
          f(e.target);
        }
      }
    }, { rootMargin: "200px" });
  }
  observed.set(el, fn);
  observer.observe(el);
}
