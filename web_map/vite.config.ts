import { defineConfig } from "vitest/config";

// `npm run dev` proxies the platform's services to a running `stacworks serve`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const env = (globalThis as any).process?.env ?? {};
const platform: string = env.STACWORKS_URL ?? "http://127.0.0.1:8000";
const proxy = Object.fromEntries(
  ["/stac", "/tiles", "/ingest", "/processes", "/jobs", "/workflows", "/algorithms", "/triggers"].map((p) => [p, platform]),
);

export default defineConfig({
  base: "./", // relative asset URLs: the app works under any mount path or proxy prefix
  // Built files under static/, not Vite's default assets/: /assets is the platform's asset service.
  build: { outDir: "dist", assetsDir: "static", emptyOutDir: true, chunkSizeWarningLimit: 1500, sourcemap: true },
  server: { proxy },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
});
