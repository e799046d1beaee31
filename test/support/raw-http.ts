// Sends bytes to a server over a plain TCP socket and reads the one answer, for requests fetch refuses to send.
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `bytes` to `url`'s host and port, then reads until the server closes the connection. */
export async function sendRaw(url: string, bytes: string | Buffer): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.end(bytes);
  });
  return parseAnswer(text);
}

/**
 * POSTs a body of `total` spaces to `url` that the server should refuse before reading it all, and reads its
 * answer the way a careful client must: a write that meets the connection the server closed after answering
 * fails with EPIPE and takes the unread answer with it (fetch then reports the failed upload, not the answer).
 * - `length`: only the headers go, declaring `Content-Length: total`; a server that refuses by the declared
 *   length answers without reading the body.
 * - `chunked`: 64 KiB chunks, one per turn of the event loop, stopping at the first byte of the answer.
 */
export async function postUntilAnswered(url: string, total: number, framing: 'length' | 'chunked'): Promise<RawAnswer> {
  const { hostname, port, pathname, search } = new URL(url);
  const head = `POST ${pathname}${search} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${
    framing === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`
  }\r\n\r\n`;
  const chunk = Buffer.concat([Buffer.from(`${(64 * 1024).toString(16)}\r\n`), Buffer.alloc(64 * 1024, 0x20), Buffer.from('\r\n')]);
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let sent = 0;
    const finish = (): void => resolve(Buffer.concat(chunks).toString('utf8'));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (d: Buffer) => chunks.push(d));
    // Once part of the answer is in, a reset or a failed write only ends the reading.
    socket.on('error', (err) => (chunks.length > 0 ? finish() : reject(err)));
    socket.on('close', finish);
    const pump = (): void => {
      if (framing === 'length' || chunks.length > 0 || socket.destroyed) return;
      if (sent >= total) return void socket.write('0\r\n\r\n');
      sent += 64 * 1024;
      if (socket.write(chunk)) setImmediate(pump);
      else socket.once('drain', pump);
    };
    socket.write(head, pump);
  });
  return parseAnswer(text);
}

function parseAnswer(text: string): RawAnswer {
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) };
}
