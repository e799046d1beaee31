// The requests of one job for each way of running it: the ceilings' single POST, and the service's flows.
export const DEVICE = '/~wasm64@1.0';
const JSON_HEADERS = { 'content-type': 'application/json' };
const completed = (status, body) => status === 200 && body.includes('"completed"');

export function callBody(fn = 'add', parameters = [2, 3]) {
  return JSON.stringify({ function: fn, parameters });
}

/** A ceiling server's one request per job (POST /job answers the finished job). */
export const ceilingFlow = (body = callBody()) => [{ method: 'POST', path: '/job', headers: JSON_HEADERS, body, onBody: completed }];

/** The service, one request per job: POST /run with `Prefer: wait` answers 200 with the finished job. */
export const preferWaitFlow = (body = callBody(), waitSeconds = 30) => [
  { method: 'POST', path: `${DEVICE}/run`, headers: { ...JSON_HEADERS, prefer: `wait=${waitSeconds}` }, body, onBody: completed },
];

/** The service, submit only: POST /run answers 202 at once; the job is not awaited (how fast jobs are accepted). */
export const submitOnlyFlow = (body = callBody()) => [
  { method: 'POST', path: `${DEVICE}/run`, headers: JSON_HEADERS, body, onBody: (status) => status === 202 },
];

/**
 * The service, two requests per job: POST /run (202), then GET /status/:id, long-polling with `?wait=`
 * where the service supports it. A status read that finds the job unfinished counts as not completed.
 */
export const submitStatusFlow = (body = callBody(), { longPoll = false } = {}) => [
  {
    method: 'POST',
    path: `${DEVICE}/run`,
    headers: JSON_HEADERS,
    body,
    onBody: (status, text, context) => {
      if (status !== 202 && status !== 200) return false;
      context.id = JSON.parse(text).id;
      return true;
    },
  },
  { method: 'GET', pathOf: (context) => `${DEVICE}/status/${context.id}${longPoll ? '?wait=30' : ''}`, onBody: completed },
];
