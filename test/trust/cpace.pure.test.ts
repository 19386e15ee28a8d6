import t from 'tap';
import { randomBytes } from 'node:crypto';
import { generator, isk, PasswordProof, scalarMultVfy, scalarOf } from '../../src/trust/cpace.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex');
const lv = (...parts: Buffer[]) => Buffer.concat(parts.flatMap((p) => [Buffer.from([p.length]), p]));

t.test("the draft's test vectors (draft-irtf-cfrg-cpace, CPACE-RISTR255-SHA512)", async (t) => {
  const prs = Buffer.from('Password');
  const ci = unhex('0a41696e69746961746f720a42726573706f6e646572');
  const sid = unhex('7e4b4791d6a8ef019b936c79fb7f2c57');
  const g = generator(prs, ci, sid);
  t.equal(hex(g.toRawBytes()), '5e25411ca1ad7c9debfd0b33ad987a95cefef2d3f15dcc8bd26415a5dfe2e15a', 'generator g');
  const ya = scalarOf(unhex('da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08'));
  const yb = scalarOf(unhex('d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d'));
  const Ya = g.multiply(ya).toRawBytes();
  const Yb = g.multiply(yb).toRawBytes();
  t.equal(hex(Ya), '383a85dd236978f17f8c8545b50dabc52a39fcdab2cf8bc531ce040ff77ca82d', 'Ya');
  t.equal(hex(Yb), 'a6206309c0e8e5f579295e35997ac4300ab3fecec3c17f7b604f3e698fa1383c', 'Yb');
  const K = scalarMultVfy(ya, Yb)!;
  t.equal(hex(K), 'fa1d0318864e2cacb26875f1b791c9ae83204fe8359addb53e95a2e98893853f', 'K');
  t.equal(hex(scalarMultVfy(yb, Ya)!), hex(K), 'the same K on both sides');
  const ISK = isk(sid, K, lv(Buffer.from(Ya), Buffer.from('ADa')), lv(Buffer.from(Yb), Buffer.from('ADb')));
  t.equal(hex(ISK), 'e91ccb2c0f5e0d0993a33956e3be59754f3f2b07db57631f5394452ea2e7b4354674eb1f5686c078462bf83bec72e8743df440108e638f3526d9b90e85be096f', 'ISK_IR');
  const s = scalarOf(unhex('7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05'));
  t.equal(hex(scalarMultVfy(s, unhex('2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c'))!), '7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e', 'a valid share');
  t.equal(scalarMultVfy(s, unhex('2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c')), undefined, 'an invalid encoding is refused');
  t.equal(scalarMultVfy(s, Buffer.alloc(32)), undefined, 'the identity is refused');
});

/** A whole exchange; what each side concluded. */
function exchange(pa: string, pb: string, sidA = randomBytes(32), sidB = sidA, context = 'lanchat/1 network lab') {
  const a = new PasswordProof(pa, context, sidA);
  const b = new PasswordProof(pb, context, sidB);
  const tb = b.answer(a.share);
  const ta = tb === undefined ? undefined : a.check(b.share, tb);
  return { aTrustsB: ta !== undefined, bTrustsA: ta !== undefined && b.verify(ta) };
}

t.test('both sides learn whether the other knows the password, and nothing else', async (t) => {
  t.same(exchange('correct horse', 'correct horse'), { aTrustsB: true, bTrustsA: true }, 'the same password');
  t.same(exchange('correct horse', 'wrong horse'), { aTrustsB: false, bTrustsA: false }, 'different passwords: the initiator stops before confirming');
  t.same(exchange('é', 'e\u0301'), { aTrustsB: true, bTrustsA: true }, 'one password however it is composed (NFC)');
  t.same(exchange('pw', 'pw', randomBytes(32), randomBytes(32)), { aTrustsB: false, bTrustsA: false }, 'two TLS sessions (a man in the middle): no proof carries over');
  const sid = randomBytes(32);
  const a = new PasswordProof('pw', 'lanchat/1 node lab', sid);
  const other = new PasswordProof('pw', 'lanchat/1 network lab', sid);
  const b = new PasswordProof('pw', 'lanchat/1 node lab', sid);
  // b answers a share made for the network password with its node-password proof: a sees it fail.
  const tb = b.answer(other.share)!;
  t.notOk(other.check(b.share, tb), 'a proof for another purpose is no proof (one TLS session, one password)');
  t.ok(a.check(b.share, b.answer(a.share)!), 'while one for the same purpose is');
});

t.test('garbage from the other side is refused, never thrown', async (t) => {
  const b = new PasswordProof('pw', 'ctx', randomBytes(32));
  t.equal(b.answer(Buffer.alloc(32)), undefined, 'the identity as a share');
  t.equal(b.answer(Buffer.alloc(5)), undefined, 'a short share');
  t.equal(b.answer(Buffer.alloc(32, 0xff)), undefined, 'no valid encoding');
  t.notOk(b.verify(Buffer.alloc(64)), 'no confirmation before an answer');
  const sid = randomBytes(32);
  const a = new PasswordProof('pw', 'ctx', sid);
  const c = new PasswordProof('pw', 'ctx', sid);
  const tc = c.answer(a.share)!;
  t.equal(a.check(c.share, tc.subarray(0, 10)), undefined, 'a short confirmation');
  t.notOk(c.verify(Buffer.alloc(64)), 'a wrong confirmation');
});
