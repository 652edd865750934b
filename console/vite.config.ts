import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

/** Address of the API that the dev server of `npm run dev:console` forwards API calls to. */
const apiUrl = process.env.CONSOLE_API_URL ?? 'http://127.0.0.1:3000'

export default defineConfig({
  root: import.meta.dirname,
  // The API serves the built files under /console/, beside its own routes.
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline scripts or styles, so the API can serve the page under a strict
    // Content-Security-Policy.
    assetsInlineLimit: 0,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    // Everything outside /console goes to the API, so the page calls the same paths as in
    // production.
    proxy: {
      '^/(?!console(/|$))': { target: apiUrl, changeOrigin: false },
    },
  },
})
