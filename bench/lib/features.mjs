// Asks a running service which features it has, so the suite measures every case that exists on main.
import { DEVICE } from './flows.mjs';

async function post(url, body, headers = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.text() };
}

export async function probeFeatures(baseUrl) {
  const wait = await post(`${baseUrl}${DEVICE}/run`, { function: 'add', parameters: [2, 3] }, { prefer: 'wait=10' });
  // A job slow enough that an immediate status read finds it unfinished unless the read really waits.
  const slow = await post(`${baseUrl}${DEVICE}/run`, { function: 'fib_rec', parameters: [32] });
  const id = slow.status === 202 ? JSON.parse(slow.body).id : undefined;
  const status = id ? await fetch(`${baseUrl}${DEVICE}/status/${id}?wait=10`) : undefined;
  const fuel = await post(`${baseUrl}${DEVICE}/run`, { function: 'add', parameters: [2, 3], fuel: 1_000_000 });
  const modules = await post(`${baseUrl}${DEVICE}/modules`, {});
  return {
    preferWait: wait.status === 200,
    longPoll: status !== undefined && status.status === 200 && (await status.text()).includes('"completed"'),
    fuel: fuel.status === 202 || fuel.status === 200,
    modules: modules.status !== 404,
  };
}
