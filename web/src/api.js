// JSON API client: same-origin requests (the access token travels in a cookie).

const inflight = [];
let active = 0;
const LIMIT = 6;

function slot() {
  if (active < LIMIT) { active++; return Promise.resolve(); }
  return new Promise((resolve) => inflight.push(resolve));
}
function release() {
  const next = inflight.shift();
  if (next) next(); else active--;
}

export class ApiError extends Error {}

export async function get(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const url = path + (q.toString() ? "?" + q.toString() : "");
  await slot();
  try {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new ApiError(body.error || `${r.status} ${r.statusText}`);
    return body;
  } finally {
    release();
  }
}

export function fileUrl(run, path) {
  return "/api/file?" + new URLSearchParams({ run, path }).toString();
}
