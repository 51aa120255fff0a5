// Lint rules: typescript-eslint's recommended set, plus the project's purity rule: library code
// in src/nn and the papers' model files never prints (the CLI owns the terminal).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/.scratch/**", "node_modules/**", "runs/**", "dist/**", "coverage/**", ".gl/**", ".whl/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly", performance: "readonly", TextEncoder: "readonly", TextDecoder: "readonly", structuredClone: "readonly", fetch: "readonly", setTimeout: "readonly", clearTimeout: "readonly", AbortController: "readonly", AbortSignal: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-explicit-any": "warn",
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    files: ["src/nn/**/*.ts", "src/papers/*/model.ts", "src/optim/**/*.ts", "src/engine/index.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-console": "error",
      "no-restricted-properties": ["error", { object: "Math", property: "random", message: "randomness comes in as a seed or key" }],
      "no-restricted-imports": ["error", { paths: ["node:fs", "fs"] }],
    },
  },
);
