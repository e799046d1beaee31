// The command's exit codes, one per kind of outcome, so that scripts can branch on them.

export const EXIT = {
  /** The command did what it was asked; a waited-on job completed. */
  success: 0,
  /** The job failed or was cancelled, or the service could not take it (queue full, shutting down, internal error). */
  failed: 1,
  /** The command line was wrong, or the service refused the request as invalid (a 4xx other than 429). */
  usage: 2,
  /** No job-dispatcher service answered at the server URL. */
  unreachable: 3,
  /** Ctrl-C: the conventional 128 + SIGINT. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the command reports on stderr and exits with; `message` is the whole line to print. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

/** A refused request is the caller's mistake (2) unless the service was busy or broken (1). */
export function exitCodeForStatus(status: number): ExitCode {
  return status >= 400 && status < 500 && status !== 429 ? EXIT.usage : EXIT.failed;
}
