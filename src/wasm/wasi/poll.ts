// poll_oneoff: clock subscriptions sleep (or advance a virtual clock); stdin and stdout/stderr are always ready.
import { ERRNO, EVENTTYPE, SUBCLOCKFLAGS_ABSTIME } from './abi.js';
import type { WasiClock } from './clock.js';
import { GuestMemory } from './memory.js';
import type { Address } from './memory.js';

const SUBSCRIPTION_SIZE = 48;
const EVENT_SIZE = 32;

/** How a descriptor stands for an fd_read or fd_write subscription. */
export type FdReadiness = { errno: number } | { readable: number } | { writable: true };

export interface PollArguments {
  subscriptions: Address;
  events: Address;
  count: Address;
  eventCount: Address;
}

interface Event {
  userdata: bigint;
  errno: number;
  type: number;
  nbytes: bigint;
}

/**
 * Answers every descriptor subscription at once. When none is ready, it waits for the earliest clock
 * subscription and reports every clock whose time has then come. An unknown clock is an EINVAL event.
 */
export function pollOneoff(mem: GuestMemory, clock: WasiClock, args: PollArguments, fd: (fd: number) => FdReadiness): number {
  const n = GuestMemory.address(args.count);
  if (n === 0) return ERRNO.INVAL;
  const base = mem.check(args.subscriptions, n * SUBSCRIPTION_SIZE);
  mem.check(args.events, n * EVENT_SIZE);

  const ready: Event[] = [];
  const clocks: { userdata: bigint; wait: bigint }[] = [];
  for (let i = 0; i < n; i++) {
    const at = base + i * SUBSCRIPTION_SIZE;
    const userdata = mem.readU64(at);
    const type = mem.bytes[at + 8] ?? -1;
    if (type === EVENTTYPE.CLOCK) {
      const id = mem.readU32(at + 16);
      const timeout = mem.readU64(at + 24);
      const absolute = (mem.readU16(at + 40) & SUBCLOCKFLAGS_ABSTIME) !== 0;
      const now = clock.now(id);
      if (now === undefined) ready.push({ userdata, errno: ERRNO.INVAL, type, nbytes: 0n });
      else clocks.push({ userdata, wait: absolute ? timeout - now : timeout });
    } else if (type === EVENTTYPE.FD_READ || type === EVENTTYPE.FD_WRITE) {
      const state = fd(mem.readU32(at + 16));
      if ('errno' in state) ready.push({ userdata, errno: state.errno, type, nbytes: 0n });
      else if (type === EVENTTYPE.FD_READ && 'readable' in state) ready.push({ userdata, errno: ERRNO.SUCCESS, type, nbytes: BigInt(state.readable) });
      else if (type === EVENTTYPE.FD_WRITE && 'writable' in state) ready.push({ userdata, errno: ERRNO.SUCCESS, type, nbytes: 0n });
      else ready.push({ userdata, errno: ERRNO.BADF, type, nbytes: 0n });
    } else {
      ready.push({ userdata, errno: ERRNO.INVAL, type, nbytes: 0n });
    }
  }

  let waited = 0n;
  if (ready.length === 0 && clocks.length > 0) {
    waited = clocks.reduce((min, c) => (c.wait < min ? c.wait : min), clocks[0]?.wait ?? 0n);
    if (waited > 0n) clock.sleep(waited);
  }
  for (const c of clocks) if (c.wait <= waited) ready.push({ userdata: c.userdata, errno: ERRNO.SUCCESS, type: EVENTTYPE.CLOCK, nbytes: 0n });

  const out = GuestMemory.address(args.events);
  ready.forEach((event, i) => {
    const at = out + i * EVENT_SIZE;
    mem.bytes.fill(0, at, at + EVENT_SIZE);
    mem.u64(at, event.userdata);
    mem.u16(at + 8, event.errno);
    mem.u8(at + 10, event.type);
    mem.u64(at + 16, event.nbytes);
  });
  mem.size(args.eventCount, ready.length);
  return ERRNO.SUCCESS;
}
