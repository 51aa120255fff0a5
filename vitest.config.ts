import { defineConfig } from "vitest/config";

export default defineConfig({
  // Tests import the package by name from its TypeScript sources (the "source" export condition);
  // the README example test exercises the built dist/ in a scratch project.
  resolve: { conditions: ["source"] },
  test: {
    include: ["src/**/*.test.ts", "bench/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One wasm thread per test file: vitest already runs files in parallel on the cores.
    env: { TINYFOUNDRY_THREADS: "1" },
    pool: "forks",
  },
});
