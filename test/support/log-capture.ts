// A pino destination that keeps every log line, parsed, for tests that read what the service logged.
import type { DestinationStream } from 'pino';

export interface LogCapture extends DestinationStream {
  lines: Record<string, unknown>[];
  /** Every line as written, for tests that search the raw text. */
  text(): string;
}

export function captureLogs(): LogCapture {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    text: () => raw.join(''),
    write(line: string) {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
}
