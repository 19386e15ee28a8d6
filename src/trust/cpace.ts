import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { RistrettoPoint } from '@noble/curves/ed25519';

/**
 * Proving a shared password without showing it: CPace (draft-irtf-cfrg-cpace, CPACE-RISTR255-SHA512),
 * a balanced PAKE, on the audited curve library @noble/curves (ristretto255). No npm package offers a
 * maintained balanced PAKE; CPace is a hash, a map to the group and two scalar multiplications, checked
 * here against the draft's test vectors (test/trust/cpace.pure.test.ts).
 *
 * Bound to a TLS session: `sid` is that session's exported keying material, never sent, so a proof made
 * in one session is worthless in another, and a man in the middle (two sessions) fails. A peer that does
 * not know the password gets one guess per exchange and nothing to test guesses against offline.
 *
 * The exchange (initiator A, the TLS client; responder B):
 *   A → B  share Ya
 *   B → A  share Yb, confirmation Tb        (B now knows whether A knew the password: after Ta)
 *   A → B  confirmation Ta                  (A checked Tb first: it shows nothing to a B that does not know it)
 */

const DSI = Buffer.from('CPaceRistretto255');
const DSI_ISK = Buffer.from('CPaceRistretto255_ISK');
const S_IN_BYTES = 128; // SHA-512's block size
const Point = RistrettoPoint;
const ORDER = Point.Fn.ORDER;

function leb128(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}
const prependLen = (b: Uint8Array): Buffer => Buffer.concat([leb128(b.length), b]);
const lvCat = (...parts: Uint8Array[]): Buffer => Buffer.concat(parts.map(prependLen));
const sha512 = (b: Uint8Array): Buffer => createHash('sha512').update(b).digest();

/** The password-derived generator (draft §7.2: generator_string, then the RFC 9496 map of its hash). */
export function generator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): InstanceType<typeof Point> {
  const zpad = Buffer.alloc(Math.max(0, S_IN_BYTES - 1 - prependLen(prs).length - prependLen(DSI).length));
  return Point.hashToCurve(sha512(lvCat(DSI, prs, zpad, ci, sid)));
}

/** A scalar from 64 random bytes, little-endian, reduced (the draft's sample_scalar). */
export function scalarOf(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n % ORDER;
}

/** y·X for a share X from the peer; undefined when X is no valid encoding or the result is the identity (abort). */
export function scalarMultVfy(y: bigint, x: Uint8Array): Uint8Array | undefined {
  let point: InstanceType<typeof Point>;
  try {
    point = Point.fromHex(x);
  } catch {
    return undefined;
  }
  if (y === 0n) return undefined;
  const k = point.multiply(y);
  return k.is0() ? undefined : k.toRawBytes();
}

/** The intermediate session key, initiator-responder ordering (draft §6.2). */
export function isk(sid: Uint8Array, k: Uint8Array, msgA: Uint8Array, msgB: Uint8Array): Buffer {
  return sha512(Buffer.concat([lvCat(DSI_ISK, sid, k), msgA, msgB]));
}

const SHARE_BYTES = 32;
const TAG_BYTES = 64;

/** One side of a CPace exchange. `context` names what is proved (the purpose and the network), `sid` the TLS session. */
export class PasswordProof {
  readonly #y: bigint;
  readonly #share: Buffer;
  readonly #sid: Uint8Array;
  #macKey: Buffer | undefined;
  #msgA: Buffer | undefined;

  constructor(password: string, context: string, sid: Uint8Array, random: (n: number) => Uint8Array = randomBytes) {
    const prs = Buffer.from(password.normalize('NFC'));
    this.#sid = sid;
    this.#y = scalarOf(random(64)) || 1n;
    this.#share = Buffer.from(generator(prs, Buffer.from(context), sid).multiply(this.#y).toRawBytes());
  }

  /** This side's share, to send. */
  get share(): Buffer {
    return this.#share;
  }

  /** Responder: given the initiator's share, the confirmation to send with our share; undefined when the share is invalid. */
  answer(theirs: Uint8Array): Buffer | undefined {
    const msgA = lvCat(theirs, Buffer.alloc(0));
    const msgB = lvCat(this.#share, Buffer.alloc(0));
    if (!this.#derive(theirs, msgA, msgB)) return undefined;
    this.#msgA = msgA;
    return this.#tag(msgB);
  }

  /**
   * Initiator: given the responder's share and confirmation, our confirmation, or undefined when the
   * responder does not know the password (or sent garbage): then nothing more is sent.
   */
  check(theirs: Uint8Array, confirmation: Uint8Array): Buffer | undefined {
    const msgA = lvCat(this.#share, Buffer.alloc(0));
    const msgB = lvCat(theirs, Buffer.alloc(0));
    if (!this.#derive(theirs, msgA, msgB) || !same(confirmation, this.#tag(msgB))) return undefined;
    return this.#tag(msgA);
  }

  /** Responder: whether the initiator's confirmation proves it knows the password. */
  verify(confirmation: Uint8Array): boolean {
    return this.#msgA !== undefined && same(confirmation, this.#tag(this.#msgA));
  }

  #derive(theirs: Uint8Array, msgA: Buffer, msgB: Buffer): boolean {
    if (theirs.length !== SHARE_BYTES) return false;
    const k = scalarMultVfy(this.#y, theirs);
    if (k === undefined) return false;
    this.#macKey = sha512(Buffer.concat([Buffer.from('CPaceMac'), this.#sid, isk(this.#sid, k, msgA, msgB)]));
    return true;
  }

  #tag(msg: Uint8Array): Buffer {
    return createHmac('sha512', this.#macKey!).update(msg).digest();
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === TAG_BYTES && b.length === TAG_BYTES && timingSafeEqual(a, b);
}
