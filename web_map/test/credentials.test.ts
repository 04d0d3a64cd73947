import { describe, expect, it } from "vitest";
import {
  CredentialStore,
  KEY_STORAGE,
  activeCredential,
  authHeaders,
  expiryHours,
  sameOrigin,
  shareLinkUrl,
  signUrl,
  tokenFromSearch,
  withCredential,
} from "../src/auth/credentials";
import { HttpError } from "../src/api/http";
import { accessError } from "../src/api/admin";

const ORIGIN = "http://127.0.0.1:8000";
const KEY = { kind: "key" as const, value: "swk_abc" };
const TOKEN = { kind: "token" as const, value: "sws_x/y+z" };

function memory(): Storage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => void data.set(k, v),
    removeItem: (k: string) => void data.delete(k),
    clear: () => data.clear(),
    key: () => null,
    get length() {
      return data.size;
    },
  };
}

describe("credentials in URLs", () => {
  it("adds key= to a tile template, keeping {z}/{x}/{y} and other parameters", () => {
    const t = `${ORIGIN}/tiles/collections/c/tiles/WebMercatorQuad/{z}/{x}/{y}.png?render=true-color`;
    expect(withCredential(t, KEY)).toBe(`${t}&key=swk_abc`);
    expect(withCredential(`${ORIGIN}/tiles/WMTSCapabilities.xml`, KEY)).toBe(`${ORIGIN}/tiles/WMTSCapabilities.xml?key=swk_abc`);
  });

  it("replaces an existing credential instead of adding a second one, and encodes it", () => {
    const url = `${ORIGIN}/tiles/x.png?key=old&assets=red&token=older#frag`;
    expect(withCredential(url, TOKEN)).toBe(`${ORIGIN}/tiles/x.png?assets=red&token=sws_x%2Fy%2Bz#frag`);
    expect(withCredential(url, null)).toBe(`${ORIGIN}/tiles/x.png?assets=red#frag`);
    expect(withCredential(`${ORIGIN}/a?access_token=t`, null)).toBe(`${ORIGIN}/a`);
  });

  it("signs only URLs of this platform (never leaks a key to another host)", () => {
    expect(signUrl(`${ORIGIN}/tiles/a.png`, KEY, ORIGIN)).toBe(`${ORIGIN}/tiles/a.png?key=swk_abc`);
    expect(signUrl("https://tile.openstreetmap.org/{z}/{x}/{y}.png", KEY, ORIGIN)).toBe("https://tile.openstreetmap.org/{z}/{x}/{y}.png");
    expect(signUrl(`${ORIGIN}/tiles/a.png`, null, ORIGIN)).toBe(`${ORIGIN}/tiles/a.png`);
    expect(sameOrigin("/stac/collections", ORIGIN)).toBe(true);
    expect(sameOrigin("http://127.0.0.1:9000/stac", ORIGIN)).toBe(false);
    expect(sameOrigin("::not a url", "also not")).toBe(false);
  });

  it("sends Bearer to this platform only", () => {
    expect(authHeaders(KEY, `${ORIGIN}/admin/whoami`, ORIGIN)).toEqual({ Authorization: "Bearer swk_abc" });
    expect(authHeaders(TOKEN, `${ORIGIN}/stac/`, ORIGIN)).toEqual({ Authorization: "Bearer sws_x/y+z" });
    expect(authHeaders(KEY, "https://earth-search.aws.element84.com/v1/", ORIGIN)).toEqual({});
    expect(authHeaders(null, `${ORIGIN}/stac/`, ORIGIN)).toEqual({});
  });
});

describe("which credential", () => {
  it("prefers the signed-in key over the page's share token", () => {
    expect(activeCredential("swk_1", "sws_2")).toEqual({ kind: "key", value: "swk_1" });
    expect(activeCredential(null, "sws_2")).toEqual({ kind: "token", value: "sws_2" });
    expect(activeCredential(" ", "")).toBeNull();
  });

  it("reads the share token from the page address", () => {
    expect(tokenFromSearch("?c=1,2&token=sws_abc&z=3")).toBe("sws_abc");
    expect(tokenFromSearch("c=1,2")).toBeNull();
    expect(tokenFromSearch("?token=")).toBeNull();
  });
});

describe("CredentialStore", () => {
  it("keeps the key in storage until sign-out and tells listeners", () => {
    const storage = memory();
    const store = new CredentialStore(storage, "sws_tok", ORIGIN);
    let calls = 0;
    store.subscribe(() => calls++);
    expect(store.current()).toEqual({ kind: "token", value: "sws_tok" });
    store.signIn("  swk_k  ");
    expect(storage.data.get(KEY_STORAGE)).toBe("swk_k");
    expect(store.signedIn).toBe(true);
    expect(store.sign(`${ORIGIN}/tiles/t.png`)).toBe(`${ORIGIN}/tiles/t.png?key=swk_k`);
    expect(store.headers(`${ORIGIN}/stac/`)).toEqual({ Authorization: "Bearer swk_k" });
    // A new page finds the key again.
    expect(new CredentialStore(storage, null, ORIGIN).current()).toEqual({ kind: "key", value: "swk_k" });
    store.signOut();
    expect(storage.data.has(KEY_STORAGE)).toBe(false);
    expect(store.sign(`${ORIGIN}/tiles/t.png`)).toBe(`${ORIGIN}/tiles/t.png?token=sws_tok`);
    expect(calls).toBe(2);
  });
});

describe("share links", () => {
  it("points at the web map with the token, the layers and the view", () => {
    const url = shareLinkUrl(`${ORIGIN}/?c=1,2&z=3&key=swk_secret#x`, "sws_t", ["collection:webmap-s2"], {
      center: [-9.1234567, 28.1],
      zoom: 7.456,
    });
    expect(url).toBe(`${ORIGIN}/?c=-9.12346,28.1&z=7.46&layers=collection:webmap-s2&token=sws_t`);
    expect(url).not.toContain("swk_secret");
    expect(shareLinkUrl(`${ORIGIN}/map/`, "sws_t", [])).toBe(`${ORIGIN}/map/?token=sws_t`);
  });

  it("turns an expiry in days into hours", () => {
    expect(expiryHours("7")).toBe(168);
    expect(expiryHours(0.5)).toBe(12);
    expect(expiryHours("0")).toBeNull();
    expect(expiryHours("-1")).toBeNull();
    expect(expiryHours("soon")).toBeNull();
  });

  it("explains refusals politely", () => {
    expect(accessError(new HttpError(401, "authentication required"), "make c public")).toBe("Sign in with an API key to make c public.");
    expect(accessError(new HttpError(403, "no write access to this collection"), "make c public")).toBe(
      "Your key may not make c public: no write access to this collection.",
    );
    expect(accessError(new HttpError(404, "x"), "create a share link")).toMatch(/not visible to you/);
  });
});
