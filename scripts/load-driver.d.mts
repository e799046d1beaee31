// Types of scripts/load-driver.mjs for the TypeScript tests that use it.
export interface ExpectedOutcome {
  status: 'completed' | 'failed';
  code?: string;
  result?: number;
}

export interface LoadSummary {
  attempts: number;
  accepted: number;
  refused: number;
  completed: number;
  failed: Record<string, number>;
  cancelled: number;
  errors: { status: number; body: string; during: string; retryAfter?: string | null }[];
  wrong: { n: number; body: unknown; expect: ExpectedOutcome; got: unknown }[];
  unfinished: number[];
  latenciesMs: number[];
  durationMs: number;
}

export interface LoadOptions {
  url: string;
  clients: number;
  jobs?: number;
  deadline?: number;
  backoffMs?: number;
  waitSeconds?: number;
}

export function jobFor(n: number): { body: Record<string, unknown>; expect: ExpectedOutcome };
export function quantile(sorted: number[], q: number): number | null;
export function driveLoad(options: LoadOptions): Promise<LoadSummary>;
export function readMemory(url: string): Promise<{ rss: number | null; heapUsed: number | null }>;
export function storedJobs(url: string): Promise<number>;
