// Test runner configuration: real sockets and files, so generous timeouts and process isolation.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests bind ports and write files; two cores, so keep parallelism modest.
    maxWorkers: 2,
    allowOnly: false,
  },
});
