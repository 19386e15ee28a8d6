import t from 'tap';
import { conflicts, coversOurQuery, goodbyes, hostLabel, HOST_TTL, MAX_INSTANCES, namesFor, OTHER_TTL, parseTxt, QuerySchedule, recordsFor, respond, SERVICE, SERVICES, ServiceCache, type Rr } from '../../src/discovery/dns-sd.js';

const ad = { id: '9f2c1a3b00000001', network: 'lab', port: 7777 };
const mine = recordsFor(ad, 'raspberrypi', ['10.0.0.5', 'fd00::5']);
const byType = (rs: readonly Rr[], type: string) => rs.filter((r) => r.type === type);

t.test('names: unique per node, a valid host label whatever the host name', async (t) => {
  t.same(namesFor(ad, 'raspberrypi'), { instance: `raspberrypi-9f2c1a3b.${SERVICE}`, target: 'raspberrypi-9f2c1a3b.local' });
  t.not(namesFor({ id: 'aaaaaaaa00000000' }, 'raspberrypi').target, namesFor(ad, 'raspberrypi').target, 'two machines of one host name: two SRV targets');
  t.equal(hostLabel('lab-pc.example.com'), 'lab-pc', 'the first label of a qualified name');
  t.equal(hostLabel('Ökonomie_PC 2'), 'Okonomie-PC-2', 'letters, digits and hyphens only');
  t.equal(hostLabel('---'), 'lanchat', 'never empty');
  t.equal(hostLabel('x'.repeat(80)).length, 40, 'bounded');
});

t.test('records: TTLs of RFC 6762 §10, txtvers first, the link’s addresses as A and AAAA', async (t) => {
  t.same(byType(mine, 'PTR').map((r) => [r.name, r.ttl]), [[SERVICE, OTHER_TTL], [SERVICES, OTHER_TTL]]);
  t.same(byType(mine, 'SRV').map((r) => [r.ttl, r.flush, r.data]), [[HOST_TTL, true, { priority: 0, weight: 0, port: 7777, target: 'raspberrypi-9f2c1a3b.local' }]]);
  const txt = byType(mine, 'TXT')[0]!;
  t.equal(txt.ttl, OTHER_TTL);
  t.same(Object.keys(parseTxt(txt)), ['txtvers', 'id', 'net', 'v'], 'txtvers=1 first');
  t.same(byType(mine, 'A').map((r) => [r.data, r.ttl]), [['10.0.0.5', HOST_TTL]]);
  t.same(byType(mine, 'AAAA').map((r) => [r.data, r.ttl]), [['fd00::5', HOST_TTL]]);
  t.ok(goodbyes(mine).every((r) => r.ttl === 0), 'a goodbye says every record with TTL 0');
});

t.test('answers: what was asked, less what the querier knows with half its life left, and what it will want next', async (t) => {
  const ptr = { name: SERVICE, type: 'PTR' as const };
  const full = respond(mine, [ptr], [])!;
  t.same(full.answers.map((r) => r.type), ['PTR']);
  t.same(full.additionals.map((r) => r.type).sort(), ['A', 'AAAA', 'SRV', 'TXT'], 'SRV, TXT and addresses come along');
  const known = (ttl: number): Rr[] => [{ name: SERVICE, type: 'PTR', ttl, data: namesFor(ad, 'raspberrypi').instance.toUpperCase() }];
  t.equal(respond(mine, [ptr], known(OTHER_TTL / 2)), undefined, 'known with half its life left: not answered (§7.1)');
  t.ok(respond(mine, [ptr], known(OTHER_TTL / 2 - 1)), 'known with less: answered');
  t.equal(respond(mine, [{ name: '_other._tcp.local', type: 'PTR' }], []), undefined, 'another service: silence');
  t.same(respond(mine, [{ name: 'RASPBERRYPI-9F2C1A3B.local', type: 'ANY' as 'A' }], [])!.answers.map((r) => r.type), ['A', 'AAAA'], 'names without case; ANY');
  t.same(respond(mine, [{ name: SERVICES, type: 'PTR' }], [])!.answers.map((r) => r.data), [SERVICE], 'service type enumeration (RFC 6763 §9)');
  t.equal(respond(mine, [{ name: SERVICE, type: 'PTR', class: 'CH' }], []), undefined, 'another class: silence');
});

t.test('conflicts: someone else with our unique name and other data', async (t) => {
  const other = recordsFor({ ...ad, port: 9999 }, 'raspberrypi', ['10.0.0.6']);
  t.same(conflicts(mine, mine), [], 'our own echo is no conflict');
  t.same(conflicts(mine, other).map((r) => r.type), ['SRV'], 'the same name on another port');
  t.same(conflicts(mine, goodbyes(other)), [], 'a goodbye is no claim');
});

t.test('the cache: instances complete with SRV, TXT and addresses; flushes, goodbyes and expiry', async (t) => {
  const c = new ServiceCache(() => 0);
  t.ok(c.add(byType(mine, 'PTR'), '10.0.0.5', 0));
  t.same(c.instances(), [], 'a PTR alone is not enough');
  t.same(c.questions(0).map((q) => q.type), ['SRV', 'TXT'], 'so SRV and TXT are asked');
  c.add(mine, '10.0.0.5', 10);
  t.same(c.instances(), [{ name: namesFor(ad, 'raspberrypi').instance, host: 'raspberrypi-9f2c1a3b.local', port: 7777, txt: { txtvers: '1', id: ad.id, net: 'lab', v: '1' }, addresses: ['10.0.0.5', 'fd00::5'] }]);
  // The node restarts on another port: the flushed SRV replaces the old one (after a second).
  c.add(recordsFor({ ...ad, port: 8888 }, 'raspberrypi', ['10.0.0.5']), '10.0.0.5', 5_000);
  t.same(c.instances().map((i) => [i.port, i.addresses]), [[8888, ['10.0.0.5', 'fd00::5']]], 'one SRV, the new one; a flush replaces only its own name and type (the AAAA stays)');
  c.add(goodbyes(recordsFor({ ...ad, port: 8888 }, 'raspberrypi', [])), '10.0.0.5', 6_000);
  t.same(c.instances(), [], 'a goodbye removes it');
  c.add(mine, '10.0.0.5', 10_000);
  t.notOk(c.expire(10_000 + HOST_TTL * 1_000 - 1), 'alive within its TTL');
  t.ok(c.expire(10_000 + HOST_TTL * 1_000), 'the SRV dies after 120 s');
  t.same(c.instances(), []);
  // Link-local addresses are not dialled; a stranger's records are not kept.
  const d = new ServiceCache();
  d.add(recordsFor(ad, 'pi', ['fe80::1', '10.1.1.1']), 'fe80::1', 0);
  d.add([{ name: 'printer.local', type: 'A', ttl: 120, data: '10.9.9.9' }, { name: '_ipp._tcp.local', type: 'PTR', ttl: 4500, data: 'x._ipp._tcp.local' }], '10.9.9.9', 0);
  t.same(d.instances().map((i) => i.addresses), [['10.1.1.1']]);
});

t.test('the cache is bounded: a flood of instances from the LAN keeps at most MAX_INSTANCES', async (t) => {
  const c = new ServiceCache();
  for (let i = 0; i < MAX_INSTANCES + 50; i++) c.add(recordsFor({ ...ad, id: i.toString(16).padStart(8, '0').padEnd(16, '0') }, 'h', ['10.0.0.1']), '10.0.0.1', 0);
  t.ok(c.instances().length <= MAX_INSTANCES && c.instances().length > MAX_INSTANCES / 2, `${c.instances().length} instances kept`);
  // SRV and TXT records alone, of names no PTR points at: bounded too.
  for (let i = 0; i < 10_000; i++) c.add([{ name: `x${i}.${SERVICE}`, type: 'TXT', ttl: 4500, data: [Buffer.from('a=b')] }], '10.0.0.1', 0);
  t.ok(c.knownAnswers([{ name: `x9999.${SERVICE}`, type: 'TXT' }], 0).length === 0, 'not kept past the bound');
});

t.test('refreshes at 80, 85, 90 and 95 % of a record’s life, each once; known answers with half their life left', async (t) => {
  const c = new ServiceCache(() => 0);
  c.add(mine, '10.0.0.5', 0);
  t.same(c.questions(HOST_TTL * 1_000 * 0.79), [], 'nothing before 80 %');
  const at80 = c.questions(HOST_TTL * 1_000 * 0.8);
  t.same(at80.map((q) => q.type).sort(), ['A', 'AAAA', 'SRV'], 'the host records (120 s) at 80 %');
  t.same(c.questions(HOST_TTL * 1_000 * 0.81), [], 'once per step');
  t.equal(c.questions(HOST_TTL * 1_000 * 0.85).length, 3, 'again at 85 %');
  const q = [{ name: SERVICE, type: 'PTR' as const }];
  t.equal(c.knownAnswers(q, (OTHER_TTL * 1_000) / 2 - 1_000).length, 1, 'the PTR is listed while more than half its life is left');
  t.equal(c.knownAnswers(q, (OTHER_TTL * 1_000) / 2 + 1_000).length, 0, 'then not (the responder answers it again)');
});

t.test('queries: 20–120 ms after the start, then 1 s, doubling to an hour', async (t) => {
  const s = new QuerySchedule(0, () => 0.5);
  t.equal(s.next, 70);
  const gaps: number[] = [];
  let now = s.next;
  for (let i = 0; i < 16; i++) {
    s.sent(now);
    gaps.push(s.next - now);
    now = s.next;
  }
  t.same(gaps.slice(0, 4), [1_000, 2_000, 4_000, 8_000]);
  t.equal(Math.max(...gaps), 3_600_000, 'never more than an hour');
  s.restart(now);
  s.sent(s.next);
  t.equal(s.next - now - 70, 1_000, 'a new network: 1 s again');
});

t.test('TXT: keys without case, the first of each, a bare key as empty', async (t) => {
  t.same(parseTxt({ name: 'x', type: 'TXT', data: [Buffer.from('ID=1'), Buffer.from('id=2'), Buffer.from('flag'), Buffer.from('')] }), { id: '1', flag: '' });
});

t.test('what an instance lacks is asked 1, 2, 4 and 8 s apart, then the instance is given up', async (t) => {
  const c = new ServiceCache();
  c.add(byType(mine, 'PTR'), '10.0.0.5', 0);
  const asked: number[] = [];
  for (let now = 0; now <= 30_000; now += 100) if (c.questions(now).length > 0) asked.push(now);
  t.same(asked, [0, 1_000, 3_000, 7_000], 'four tries, the intervals doubling (not a query a tick)');
  t.same(c.knownAnswers([{ name: SERVICE, type: 'PTR' }], 30_000), [], 'then its PTR is dropped');
});

t.test('an instance whose SRV expires goes, PTR and all; TTLs are capped; strays are not kept', async (t) => {
  const c = new ServiceCache();
  c.add(mine.map((r) => ({ ...r, ttl: 0xffffffff }) as Rr), '10.0.0.5', 0);
  t.equal(c.instances().length, 1);
  c.expire(HOST_TTL * 1_000);
  t.same(c.instances(), [], 'the SRV lived 120 s, whatever TTL it came with');
  t.same(c.knownAnswers([{ name: SERVICE, type: 'PTR' }], HOST_TTL * 1_000), [], 'and the PTR went with it');
  const d = new ServiceCache();
  for (let i = 0; i < 5_000; i++) d.add([{ name: `junk${i}.local`, type: 'A', ttl: 0xffffffff, data: '10.9.9.9' }], '10.9.9.9', 0);
  d.add(mine, '10.0.0.5', 1);
  t.equal(d.instances().length, 1, 'addresses of hosts no SRV names do not fill the cache');
  const big = recordsFor(ad, 'raspberrypi', ['10.0.0.5']).map((r) => (r.type === 'TXT' ? ({ ...r, data: [Buffer.alloc(2_000, 97)] } as Rr) : r));
  const e = new ServiceCache();
  e.add(big, '10.0.0.5', 0);
  t.same(e.instances(), [], 'a TXT record over 1,300 bytes is not kept');
});

t.test('a query of thousands of questions and known answers: only the first 64 and 256 are looked at', async (t) => {
  // A 60 KB query like this once held a node's event loop for 37 s (every question against every known answer).
  const questions = Array.from({ length: 5_000 }, (_, i) => ({ name: `q${i}.local`, type: 'A' as const }));
  t.equal(respond(mine, [...questions, { name: SERVICE, type: 'PTR' as 'A' }], []), undefined, 'a question past the first 64 is not looked at');
  const ptr = byType(mine, 'PTR')[0]!;
  const known = Array.from({ length: 300 }, (_, i): Rr => ({ name: SERVICE, type: 'PTR', ttl: 4500, data: `x${i}.${SERVICE}` }));
  t.ok(respond(mine, [{ name: SERVICE, type: 'PTR' }], [...known, ptr]), 'a known answer past the first 256 does not suppress');
  t.equal(respond(mine, [{ name: SERVICE, type: 'PTR' }], [ptr, ...known]), undefined, 'one within them does');
});

t.test('duplicate question suppression: another query counts as ours only if it lists no known answer we lack (§7.3)', async (t) => {
  const ptr = (data: string): Rr => ({ name: SERVICE, type: 'PTR', ttl: OTHER_TTL, data: `${data}.${SERVICE}` });
  t.ok(coversOurQuery([], []), 'neither knows anything: theirs is as good as ours');
  t.ok(coversOurQuery([ptr('a'), ptr('b')], [ptr('a')]), 'they know less: the answers we lack come to them too');
  t.notOk(coversOurQuery([], [ptr('a'), ptr('b')]), 'they know nodes we do not: those stay silent for them, so we ask');
  t.notOk(coversOurQuery([ptr('a')], [ptr('A'), ptr('b')]), 'one more than we know (case ignored)');
  t.ok(coversOurQuery([ptr('a')], [ptr('A'), { name: 'x.local', type: 'A', ttl: 120, data: '10.0.0.1' }]), 'records of other names do not count');
});
