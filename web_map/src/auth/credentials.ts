/**
 * Credentials: an API key the user signed in with (kept in localStorage until sign-out), or a
 * share token the page was opened with (?token=). One of them is sent with every request to
 * this platform: as `Authorization: Bearer` on API calls, and as `key=` / `token=` on the URLs
 * a map client fetches by itself (XYZ tiles, TileJSON, WMTS). Never to another host.
 */

export type Credential = { kind: "key" | "token"; value: string };

export const KEY_STORAGE = "stacworks.apiKey";
/** Query parameters that carry a credential (the server reads the first one it finds). */
export const CREDENTIAL_PARAMS = ["key", "token", "access_token"] as const;

/** The credential to use: the signed-in key first, else the share token of the page. */
export function activeCredential(key: string | null | undefined, token: string | null | undefined): Credential | null {
  if (key && key.trim()) return { kind: "key", value: key.trim() };
  if (token && token.trim()) return { kind: "token", value: token.trim() };
  return null;
}

/** The share token a page address carries (?token=), if any. */
export function tokenFromSearch(search: string): string | null {
  const t = new URLSearchParams(search.startsWith("?") ? search.slice(1) : search).get("token");
  return t && t.trim() ? t.trim() : null;
}

/**
 * ``url`` with its credential parameters replaced by ``cred`` (or just removed when null).
 * Works on URL templates: `{z}/{x}/{y}` and every other parameter are left as they are.
 */
export function withCredential(url: string, cred: Credential | null): string {
  const hashAt = url.indexOf("#");
  const hash = hashAt >= 0 ? url.slice(hashAt) : "";
  const noHash = hashAt >= 0 ? url.slice(0, hashAt) : url;
  const qAt = noHash.indexOf("?");
  const path = qAt >= 0 ? noHash.slice(0, qAt) : noHash;
  const kept = (qAt >= 0 ? noHash.slice(qAt + 1) : "")
    .split("&")
    .filter((part) => part && !(CREDENTIAL_PARAMS as readonly string[]).includes(decodeURIComponent(part.split("=")[0])));
  if (cred) kept.push(`${cred.kind}=${encodeURIComponent(cred.value)}`);
  return `${path}${kept.length ? `?${kept.join("&")}` : ""}${hash}`;
}

/** Whether ``url`` (absolute, or relative to ``origin``) is served by ``origin``. */
export function sameOrigin(url: string, origin: string): boolean {
  try {
    return new URL(url, origin).origin === new URL(origin).origin;
  } catch {
    return false;
  }
}

/** Headers for an API call to ``url``: Bearer for our own origin only. */
export function authHeaders(cred: Credential | null, url: string, origin: string): Record<string, string> {
  return cred && sameOrigin(url, origin) ? { Authorization: `Bearer ${cred.value}` } : {};
}

/** A URL a map client fetches (tiles, TileJSON, WMTS): with the credential when it is ours. */
export function signUrl(url: string, cred: Credential | null, origin: string): string {
  return cred && sameOrigin(url, origin) ? withCredential(url, cred) : url;
}

/**
 * The web map address that opens a share link: the page (no query) with the token, the layers
 * to show and, when given, the view.
 */
export function shareLinkUrl(
  pageUrl: string,
  token: string,
  layers: string[],
  view?: { center: [number, number]; zoom: number },
): string {
  const base = pageUrl.split(/[?#]/)[0];
  const p = new URLSearchParams();
  if (view) {
    p.set("c", `${Number(view.center[0].toFixed(5))},${Number(view.center[1].toFixed(5))}`);
    p.set("z", String(Number(view.zoom.toFixed(2))));
  }
  if (layers.length) p.set("layers", layers.join(","));
  p.set("token", token);
  return `${base}?${p.toString().replace(/%2C/g, ",").replace(/%3A/g, ":").replace(/%2F/g, "/")}`;
}

/** Expiry in days (from a form field) to the API's hours; null when not a positive number. */
export function expiryHours(days: string | number): number | null {
  const d = typeof days === "number" ? days : Number(String(days).trim());
  return Number.isFinite(d) && d > 0 ? Math.round(d * 24 * 1000) / 1000 : null;
}

interface KeyStorage {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
  removeItem(k: string): void;
}

/** The signed-in key (persisted) and the page's share token; tells listeners when they change. */
export class CredentialStore {
  private listeners = new Set<() => void>();
  private key: string | null;

  constructor(
    private storage: KeyStorage,
    public readonly token: string | null,
    public readonly origin: string,
  ) {
    this.key = storage.getItem(KEY_STORAGE);
  }

  get signedIn(): boolean {
    return Boolean(this.key);
  }

  current(): Credential | null {
    return activeCredential(this.key, this.token);
  }

  signIn(key: string): void {
    this.key = key.trim();
    this.storage.setItem(KEY_STORAGE, this.key);
    this.changed();
  }

  signOut(): void {
    this.key = null;
    this.storage.removeItem(KEY_STORAGE);
    this.changed();
  }

  headers(url: string): Record<string, string> {
    return authHeaders(this.current(), url, this.origin);
  }

  sign(url: string): string {
    return signUrl(url, this.current(), this.origin);
  }

  subscribe(fn: () => void): void {
    this.listeners.add(fn);
  }

  private changed(): void {
    this.listeners.forEach((fn) => fn());
  }
}
