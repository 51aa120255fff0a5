/** Errors the CLI prints as one line with exit code 2 (a bad option or argument). */
export class UsageError extends Error {}
