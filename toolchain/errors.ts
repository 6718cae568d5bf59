/** Something the project needs is missing from this machine; the message says how to get it. */
export class ToolchainError extends Error {
  constructor(
    message: string,
    /** What to do about it, for people: an install command or a link. */
    readonly remedy: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}\n  → ${remedy}`, options);
    this.name = 'ToolchainError';
  }
}
