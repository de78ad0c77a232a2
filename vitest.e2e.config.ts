import { defineConfig } from 'vitest/config';

// `npm run test:e2e`: QEMU machines boot through our server in network namespaces (root, Linux).
// One file, cases in order; see docs/e2e.md. The default config (vitest.config.ts) never picks these up.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/e2e/**/*.e2e.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 180_000,
    reporters: ['verbose'],
  },
});
