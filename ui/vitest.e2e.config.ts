import { defineConfig } from 'vitest/config';

// Chromium end-to-end tests: the built UI (dist/) served by `vite preview`
// with the app's CSP, driven by playwright-core on /usr/bin/chromium with the
// Tauri shell mocked. Run with `npm run test:e2e` (it builds first).
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.test.ts'],
    environment: 'node',
    globalSetup: ['e2e/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
