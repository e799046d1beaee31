// Runs the built CLI (dist/cli/main.js) as a child process, the way a user's shell does.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

export const CLI = 'dist/cli/main.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  /** Resolves when the process exits, with everything it printed. */
  done: Promise<CliResult>;
}

/**
 * Starts the CLI with stdout and stderr piped (so neither is a TTY) and no JOB_DISPATCHER_URL or _TOKEN unless given;
 * its stdin is `input` when given, else closed.
 */
export function spawnCli(args: string[], env: Record<string, string> = {}, input?: string | Buffer): CliProcess {
  const inherited = { ...process.env };
  delete inherited.JOB_DISPATCHER_URL;
  delete inherited.JOB_DISPATCHER_TOKEN;
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...inherited, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) child.stdin?.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function runCli(args: string[], env: Record<string, string> = {}, input?: string | Buffer): Promise<CliResult> {
  return spawnCli(args, env, input).done;
}
