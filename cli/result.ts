/** What a command produced; the top-level handler prints it and exits with its code. */
export interface CommandResult {
  stdout: string;
  stderr?: string;
  /** 0 ok, 2 invalid input (the user's to fix), 1 any other failure. */
  exitCode: 0 | 1 | 2;
}

/** Bad input from the user: exit code 2 and the message, no stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Something other than the user's input stopped the command (Temporal unreachable, no worker): exit code 1 and the message, no stack trace. */
export class CommandFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandFailure';
  }
}
