#!/usr/bin/env node
// The job-dispatcher command: parses the command line, runs one command against the service (or in process), exits.
import { CommanderError } from 'commander';
import { ServiceError } from '../errors.js';
import { ProblemError, ServerUnreachableError } from './client.js';
import { CliError, EXIT, exitCodeForStatus } from './exit-codes.js';
import type { ExitCode } from './exit-codes.js';
import { problemMessage, unreachableMessage } from './output.js';
import { buildProgram } from './program.js';

/** Prints what went wrong on stderr and answers the exit code. */
function report(err: unknown): ExitCode {
  if (err instanceof CommanderError) {
    // Commander printed its own message (or the help) already.
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.success : EXIT.usage;
  }
  let line: string;
  let code: ExitCode;
  if (err instanceof CliError) [line, code] = [err.message, err.exitCode];
  else if (err instanceof ServerUnreachableError) [line, code] = [unreachableMessage(err.server, err.reason), EXIT.unreachable];
  else if (err instanceof ProblemError) [line, code] = [problemMessage(err.problem.code, err.problem.detail), exitCodeForStatus(err.problem.status)];
  else if (err instanceof ServiceError) [line, code] = [problemMessage(err.code, err.message), exitCodeForStatus(err.status)];
  else [line, code] = [`unexpected error, please report it: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, EXIT.failed];
  process.stderr.write(`job-dispatcher: ${line}\n`);
  return code;
}

// A reader that stops early (`| head -1`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit();
});

try {
  await buildProgram().parseAsync();
} catch (err) {
  process.exitCode = report(err);
}
