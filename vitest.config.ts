import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "bench/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One wasm thread per test file: vitest already runs files in parallel on the cores.
    env: { TINYFOUNDRY_THREADS: "1" },
    pool: "forks",
  },
});
