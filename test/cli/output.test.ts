// The CLI's printed forms: the one-line job summary, and the spinner's terminal-only drawing.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatJob, formatJobList, problemMessage, programOutput, statusCommand } from '../../src/cli/output.js';
import { startSpinner } from '../../src/cli/spinner.js';
import type { JobView } from '../../src/schemas/job.js';

const base: JobView = { id: 'j1', status: 'queued', module_id: 'sha256:00', function: 'add', parameters: [2, 3], timeout_ms: 30000, created_at: '2026-01-01T00:00:00.000Z' };

describe('formatJob', () => {
  it('prints the status and every result, as the original mock printed {completed, 5}', () => {
    expect(formatJob({ ...base, status: 'completed', result: 5, results: [5] })).toBe('completed 5');
    expect(formatJob({ ...base, status: 'completed', result: 3, results: [3, 1] })).toBe('completed 3 1');
    expect(formatJob({ ...base, status: 'completed', result: '9007199254740994', results: ['9007199254740994'] })).toBe('completed 9007199254740994');
    expect(formatJob({ ...base, status: 'completed', result: null, results: [] })).toBe('completed');
  });

  it('prints the error code and message of a failed or cancelled job', () => {
    expect(formatJob({ ...base, status: 'failed', error: { code: 'WASM64_TRAP', message: 'divide by zero' } })).toBe('failed WASM64_TRAP: divide by zero');
    expect(formatJob({ ...base, status: 'cancelled', error: { code: 'WASM64_CANCELLED', message: 'cancelled' } })).toBe('cancelled WASM64_CANCELLED: cancelled');
  });

  it("prints a WASI program's exit code, and says when its output was cut", () => {
    expect(formatJob({ ...base, status: 'completed', function: '_start', results: [], exit_code: 3 })).toBe('completed exit 3');
    expect(formatJob({ ...base, status: 'completed', function: '_start', results: [], exit_code: 0, truncated: true })).toBe('completed exit 0 (output truncated)');
  });

  it('prints a job in progress as its status alone', () => {
    expect(formatJob(base)).toBe('queued');
    expect(formatJob({ ...base, status: 'running' })).toBe('running');
  });
});

describe('formatJobList', () => {
  it('aligns the calls so that the job lines start in one column', () => {
    const jobs: JobView[] = [
      { ...base, id: 'j2', function: 'fib_rec', parameters: [60], status: 'running' },
      { ...base, id: 'j1', status: 'completed', result: 5, results: [5] },
    ];
    expect(formatJobList(jobs)).toBe(
      'j2  2026-01-01T00:00:00.000Z  fib_rec(60)  running\n' + 'j1  2026-01-01T00:00:00.000Z  add(2,3)     completed 5\n',
    );
    expect(formatJobList([])).toBe('');
  });
});

describe('problemMessage', () => {
  it('is CODE: detail, with a hint where the CLI knows the fix', () => {
    expect(problemMessage('WASM64_CALL_SYNTAX', 'expected ")"')).toBe('WASM64_CALL_SYNTAX: expected ")"');
    expect(problemMessage('WASM64_UNAUTHORIZED', 'no token').split('\n')[1]).toContain('JOB_DISPATCHER_TOKEN');
  });
});

describe('statusCommand', () => {
  it('names the server only when it is not the default', () => {
    expect(statusCommand('j1', 'http://127.0.0.1:8080', 'http://127.0.0.1:8080')).toBe('job-dispatcher wasm64@1.0 status j1');
    expect(statusCommand('j1', 'http://h:9', 'http://127.0.0.1:8080')).toBe('job-dispatcher wasm64@1.0 status j1 --server http://h:9');
  });
});

describe('startSpinner', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('draws nothing on a stream that is not a TTY', () => {
    const write = vi.fn();
    const spinner = startSpinner({ isTTY: false, write }, 'job j1');
    spinner.update('job j1 running');
    spinner.stop();
    expect(write).not.toHaveBeenCalled();
  });

  it('redraws the frame, the text and the elapsed time on a TTY, and erases its line when stopped', () => {
    vi.useFakeTimers();
    const writes: string[] = [];
    let clock = 1000;
    const spinner = startSpinner({ isTTY: true, write: (s: string) => writes.push(s) > 0 }, 'job j1', () => clock);
    expect(writes).toEqual(['\r\x1b[2K⠋ job j1 0.0s']);
    clock += 1500;
    spinner.update('job j1 running');
    vi.advanceTimersByTime(100);
    expect(writes.at(-1)).toBe('\r\x1b[2K⠙ job j1 running 1.5s');
    spinner.stop();
    spinner.stop();
    expect(writes.at(-1)).toBe('\r\x1b[2K');
    const count = writes.length;
    vi.advanceTimersByTime(1000);
    expect(writes.length).toBe(count);
  });
});

describe('programOutput', () => {
  it("gives a WASI job's stdout and stderr as bytes, decoding base64 output, and nothing for a plain call", () => {
    expect(programOutput({ ...base, status: 'completed', result: 5, results: [5] })).toBeUndefined();
    const out = programOutput({ ...base, status: 'completed', stdout: 'hi\n', stdout_base64: false, stderr: '/w==', stderr_base64: true });
    expect(out?.stdout).toEqual(Buffer.from('hi\n'));
    expect(out?.stderr).toEqual(Buffer.from([0xff]));
    expect(programOutput({ ...base, status: 'failed', stderr: 'oops' })?.stdout).toEqual(Buffer.alloc(0));
  });
});
