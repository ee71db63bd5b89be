// Vite builds web/dist (index.html + hashed files under dist/assets/), which the sightline
// binary embeds and serves at / and /assets/*. Nothing is fetched from a CDN: the TopoJSON
// is imported and bundled.
//
// `npm run dev` serves the page with /v1 proxied to a running server (SIGHTLINE_URL, default
// http://127.0.0.1:18080). Until the server answers GET /v1/dashboard, the dev server answers
// it from dev/dashboard.json (the default layout); the built page always asks the server.
import { readFileSync } from "node:fs";
import { defineConfig, type Plugin } from "vite";

const backend = process.env.SIGHTLINE_URL ?? "http://127.0.0.1:18080";

function devLayoutFallback(): Plugin {
  return {
    name: "sightline-dev-layout",
    configureServer(server) {
      server.middlewares.use("/v1/dashboard", async (_request, response, next) => {
        try {
          const upstream = await fetch(`${backend}/v1/dashboard`);
          if (upstream.ok) return next();
        } catch {
          // No server: fall through to the file.
        }
        response.setHeader("content-type", "application/json");
        response.end(readFileSync(new URL("./dev/dashboard.json", import.meta.url)));
      });
    },
  };
}

export default defineConfig({
  base: "/",
  plugins: [devLayoutFallback()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: { "/v1": { target: backend, changeOrigin: true } },
  },
});
