// A spinner with elapsed time on a terminal's stderr while a command waits; silent when stderr is not a TTY.
import type { WriteStream } from 'node:tty';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR_LINE = '\r\x1b[2K';

export interface Spinner {
  /** Changes the words after the spinner (e.g. the job's status). */
  update(text: string): void;
  /** Erases the spinner's line; safe to call more than once. */
  stop(): void;
}

/** Draws on `stream` only if it is a TTY, so piped and redirected output never holds control characters. */
export function startSpinner(stream: Pick<WriteStream, 'isTTY' | 'write'>, text: string, now: () => number = Date.now): Spinner {
  if (stream.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const started = now();
  let frame = 0;
  let label = text;
  const draw = (): void => {
    const seconds = ((now() - started) / 1000).toFixed(1);
    stream.write(`${CLEAR_LINE}${FRAMES[frame++ % FRAMES.length] ?? ''} ${label} ${seconds}s`);
  };
  draw();
  const timer = setInterval(draw, 100);
  timer.unref();
  let stopped = false;
  return {
    update: (next) => {
      label = next;
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      stream.write(CLEAR_LINE);
    },
  };
}
