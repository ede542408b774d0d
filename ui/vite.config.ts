import { defineConfig } from 'vitest/config';

// The CSP the app ships with (tauri.conf.json); `vite preview` serves the
// built UI under it so the Chromium tests catch anything it would block.
export const CSP = "default-src 'self'";

export default defineConfig({
  // Tauri: keep its CLI output readable; a fixed dev port (devUrl in src-tauri/tauri.conf.json).
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  preview: { port: 4173, strictPort: false, headers: { 'Content-Security-Policy': CSP } },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    // WebKitGTK (Linux), WebView2 (Windows), WKWebView (macOS).
    target: ['es2021', 'chrome105', 'safari15'],
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
