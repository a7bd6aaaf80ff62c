import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fixture trees hold the kernel's symlinks, cycles included: never crawl them for tests.
    exclude: ['**/node_modules/**', 'test/fixtures/sysfs/**', 'test/e2e/kernel/.cache/**', 'dist/**'],
    testTimeout: 20_000,
  },
});
