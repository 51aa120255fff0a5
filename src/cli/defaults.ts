/** Defaults shared by commands that must agree: `serve` listens where `eval --policy openai` looks. */
export const DEFAULT_SERVE_PORT = 8089;
export const DEFAULT_BASE_URL = `http://127.0.0.1:${DEFAULT_SERVE_PORT}/v1`;
