import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { preview } from 'vite';
import type { TestProject } from 'vitest/node';

const root = fileURLToPath(new URL('..', import.meta.url));

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

/** Serves the built UI (dist/) for the whole run, with the app's CSP header. */
export default async function setup(project: TestProject) {
  if (!existsSync(`${root}/dist/index.html`)) {
    throw new Error('ui/dist is missing: run `npm run build` first (npm run test:e2e does)');
  }
  const server = await preview({ root, logLevel: 'warn', preview: { port: 4173, strictPort: false, host: '127.0.0.1' } });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview did not report a URL');
  project.provide('baseUrl', url);
  return async () => {
    await server.close();
  };
}
