/** The access API (/admin): who am I, collection visibility, share links. */

import { HttpError, getJson, postJson, request } from "./http";

const enc = encodeURIComponent;

export interface WhoAmI {
  principal: string;
  role: string | null;
  anonymous: boolean;
  share: string | null;
  auth_enabled: boolean;
}

export interface Share {
  id: string;
  kind: string;
  target: string;
  token: string;
  expires_at: string;
}

export type Visibility = "public" | "private";

/** Words for a refusal of the access API (the server's own message kept when it has one). */
export function accessError(e: unknown, doing: string): string {
  if (e instanceof HttpError) {
    if (e.status === 401) return `Sign in with an API key to ${doing}.`;
    if (e.status === 403) return `Your key may not ${doing}: ${e.message}.`;
    if (e.status === 404) return `You cannot ${doing}: the collection is not visible to you (or access control is not available).`;
    if (e.status === 0) return `Could not ${doing}: ${e.message}.`;
    return `Could not ${doing}: ${e.message}`;
  }
  return `Could not ${doing}: ${(e as Error).message}`;
}

export class AdminApi {
  constructor(public readonly base: string) {}

  /** Who the current credential is; ``key`` checks a key before it is kept. */
  whoami(key?: string): Promise<WhoAmI> {
    return getJson<WhoAmI>(`${this.base}/whoami`, key ? { headers: { Authorization: `Bearer ${key}` } } : undefined);
  }

  async visibility(collection: string): Promise<Visibility> {
    const doc = await getJson<{ visibility: Visibility }>(`${this.base}/collections/${enc(collection)}/visibility`);
    return doc.visibility;
  }

  async setVisibility(collection: string, visibility: Visibility): Promise<Visibility> {
    const res = await request(`${this.base}/collections/${enc(collection)}/visibility`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ visibility }),
    });
    return ((await res.json()) as { visibility: Visibility }).visibility;
  }

  async createShare(collection: string, expiresInHours: number): Promise<Share> {
    const { data } = await postJson<Share>(`${this.base}/shares`, { collection, expires_in_hours: expiresInHours });
    if (!data?.token) throw new Error("the server did not return a share token");
    return data;
  }

  async revokeShare(id: string): Promise<void> {
    await request(`${this.base}/shares/${enc(id)}`, { method: "DELETE" });
  }
}
