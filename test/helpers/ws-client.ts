import WebSocket from 'ws';
import type { TLSSocket } from 'node:tls';
import { waitFor } from './wait.js';
import { proofOver } from '../../src/trust/tls.js';
import { issueNodeCertificate } from '../../src/trust/identity.js';
import type { Node } from '../../src/node/node.js';

/** One frame received by a test client, parsed. */
export type Frame = Record<string, unknown> & { type: string };

/**
 * A raw protocol client for relay tests: records every frame it receives so
 * tests can wait for one, and can send anything (including garbage).
 */
export class TestSocket {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  readonly ws: WebSocket;
  /** The TLS socket under it, once upgraded. */
  tls: TLSSocket | undefined;
  /** Called with each binary frame (file data) as it comes. */
  onBinary: ((buf: Buffer) => void) | undefined;
  #seen = 0;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, rejectUnauthorized: false, ...options }); // a node's certificate is checked by the client library, not here
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) return void this.frames.push(JSON.parse(data.toString()) as Frame);
      // File data: recorded by stream and size (the bytes go to `onBinary`, when a test wants them).
      const buf = data as Buffer;
      this.onBinary?.(buf);
      this.frames.push({ type: 'binary', stream: buf.readUInt32BE(0), bytes: buf.length - 4 });
    });
    this.ws.on('upgrade', (res) => (this.tls = res.socket as TLSSocket));
    this.ws.on('close', (code) => (this.closeCode = code));
    this.ws.on('error', () => undefined);
  }

  /** Sends an object as JSON, or a raw string/buffer as is. */
  send(frame: object | string | Buffer): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Waits for the next frame (after those already consumed) matching `pred`, and consumes up to it. */
  async next(pred: (f: Frame) => boolean = () => true, what = 'a frame', timeoutMs = 10_000): Promise<Frame> {
    return waitFor(
      () => {
        for (let i = this.#seen; i < this.frames.length; i++) {
          if (pred(this.frames[i]!)) {
            this.#seen = i + 1;
            return this.frames[i];
          }
        }
        return undefined;
      },
      what,
      timeoutMs,
    );
  }

  /** Waits for the next frame of a type. */
  nextOf(type: string, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.type === type, `a ${type} frame`, timeoutMs);
  }

  /** Frames of a type received so far. */
  all(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** The online list as this client knows it: the last full `presence` plus the deltas since. */
  get online(): string[] {
    const set = new Set<string>();
    for (const f of this.frames) {
      if (f.type === 'presence') {
        set.clear();
        for (const u of f.online as string[]) set.add(u);
      } else if (f.type === 'presence:joined') set.add(f.user as string);
      else if (f.type === 'presence:left') set.delete(f.user as string);
    }
    return [...set].sort((a, b) => a.localeCompare(b));
  }

  /** Waits until the online list is exactly `users`. */
  onlineIs(users: string[], timeoutMs = 10_000): Promise<true> {
    const want = JSON.stringify(users);
    return waitFor(() => JSON.stringify(this.online) === want, `online = ${want} (have ${JSON.stringify(this.online)})`, timeoutMs);
  }

  closed(timeoutMs = 10_000): Promise<number> {
    return waitFor(() => this.closeCode, 'the socket to close', timeoutMs);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Connects, registers (or logs in) and waits for the replay to end. */
export async function loggedIn(url: string, user: string, opts: { register?: boolean; password?: string; localAddress?: string } = {}): Promise<TestSocket> {
  const s = new TestSocket(url, opts.localAddress === undefined ? {} : { localAddress: opts.localAddress });
  await s.nextOf('welcome');
  s.send({ type: opts.register === false ? 'auth:login' : 'auth:register', user, password: opts.password ?? `pw-${user}` });
  await s.nextOf('auth:ok');
  await s.nextOf('history:end');
  return s;
}

/**
 * Proves `password` as the network password on `s` (after its welcome), as a client does: true when the
 * coordinator proved it too and the client confirmed (then `network:ok` follows, if the coordinator agrees).
 */
export async function proveNetworkPassword(s: TestSocket, password: string, network = 'default'): Promise<boolean> {
  const proof = proofOver(s.tls!, password, 'network password', network);
  s.send({ type: 'network:auth', share: proof.share.toString('base64') });
  const answer = await s.next((f) => f.type === 'network:proof' || f.type === 'error', 'the coordinator\'s proof');
  if (answer.type !== 'network:proof') return false;
  const confirm = proof.check(Buffer.from(answer.share as string, 'base64'), Buffer.from(answer.confirm as string, 'base64'));
  if (confirm === undefined) return false;
  s.send({ type: 'network:confirm', confirm: confirm.toString('base64') });
  return true;
}

/** A raw socket presenting a certificate for node `id` from `coordinator`'s network authority: a member node. */
export async function memberSocket(url: string, coordinator: Node, id: string): Promise<TestSocket> {
  const { authorityPem, authorityKeyPem } = coordinator.identity;
  const cert = await issueNodeCertificate({ certPem: authorityPem, keyPem: authorityKeyPem }, id);
  return new TestSocket(url, { key: cert.keyPem, cert: cert.certPem });
}

/** A binary file-data frame: the 4-byte stream number, then the bytes. */
export function fileChunk(stream: number, data: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(stream, 0);
  return Buffer.concat([header, data]);
}

/** Offers a file on a raw socket and returns its stream number; throws if the offer is refused. */
export async function offerFile(s: TestSocket, name: string, size: number, to: string[]): Promise<number> {
  const id = `raw-${Math.random().toString(36).slice(2)}`;
  s.send({ type: 'file:offer', id, name, size, to });
  const accepted = await s.next((f) => (f.type === 'file:accepted' && f.id === id) || (f.type === 'error' && f.ref === id), 'the answer to the offer');
  if (accepted.type !== 'file:accepted') throw new Error(`offer refused: ${JSON.stringify(accepted)}`);
  return accepted.stream as number;
}
