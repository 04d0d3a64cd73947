/** fetch() with JSON, stable error messages, and "this service is not there" told apart. */

export class HttpError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }

  /** The endpoint does not exist (yet): the UI says "not available" instead of failing. */
  get notAvailable(): boolean {
    return this.status === 404 || this.status === 405 || this.status === 501;
  }
}

async function errorFrom(res: Response): Promise<HttpError> {
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = await res.json();
    const detail = body.description ?? body.detail ?? body.message ?? body.title;
    if (detail) message = typeof detail === "string" ? detail : JSON.stringify(detail);
  } catch {
    // not JSON: keep the status line
  }
  return new HttpError(res.status, message);
}

/** Headers that authenticate a request to ``url`` (set once by the app: the signed-in key). */
let authFor: (url: string) => Record<string, string> = () => ({});

export function setAuthProvider(fn: (url: string) => Record<string, string>): void {
  authFor = fn;
}

export async function request(url: string, init?: RequestInit): Promise<Response> {
  let res: Response;
  const headers = new Headers(init?.headers);
  for (const [k, v] of Object.entries(authFor(url))) if (!headers.has(k)) headers.set(k, v);
  try {
    res = await fetch(url, { ...init, headers });
  } catch {
    throw new HttpError(0, "the server could not be reached");
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await request(url, { ...init, headers: { Accept: "application/json", ...init?.headers } });
  return (await res.json()) as T;
}

/** POST JSON; returns the body (null when empty) and the Location header. */
export async function postJson<T>(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ data: T | null; location: string | null; status: number }> {
  const res = await request(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const location = res.headers.get("Location");
  return {
    data: text ? (JSON.parse(text) as T) : null,
    location: location ? new URL(location, url).href : null,
    status: res.status,
  };
}

/** Text (logs) or JSON, whichever the server answers with. */
export async function getTextOrJson(url: string): Promise<unknown> {
  const res = await request(url, { headers: { Accept: "application/json, text/plain" } });
  const type = res.headers.get("Content-Type") ?? "";
  return type.includes("json") ? res.json() : res.text();
}
