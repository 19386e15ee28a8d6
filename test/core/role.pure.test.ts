import t from 'tap';
import { RoleMachine, type Answer, type RoleAction, type Succession } from '../../src/core/role.js';
import type { Status } from '../../src/protocol/status.js';

const self = { id: 'aaaaaaaaaaaaaaa1', network: 'default', priority: 0, eligible: true };
const status = (id: string, role: Status['role'], term: number, coordinator: string | null = null, position = 0): Status => ({ id, network: 'default', role, term, coordinator, priority: 0, eligible: true, position, protocol: 1 });
const types = (acts: RoleAction[]) => acts.map((a) => a.type).filter((x) => x !== 'log');
const find = <K extends RoleAction['type']>(acts: RoleAction[], type: K) => acts.find((a): a is Extract<RoleAction, { type: K }> => a.type === type);

/** A machine and a clock; `answer` replies to the probes it asked. */
function machine(persisted: { term: number; succession?: Succession } = { term: 0 }, position = 0) {
  let now = 0;
  const m = new RoleMachine(self, persisted, now, { position: () => position });
  const probes: Extract<RoleAction, { type: 'probe' }>[] = [];
  const step = (ev: Parameters<RoleMachine['step']>[0]) => {
    const out = m.step(ev);
    for (const a of out) if (a.type === 'probe') probes.push(a);
    return out;
  };
  return {
    m,
    probes,
    tick: (ms = 50) => step({ type: 'tick', now: (now += ms) }),
    step,
    at: () => now,
    answer: (answers: Answer[] | ((address: string) => Status | undefined)) => {
      const out: RoleAction[] = [];
      for (const p of probes.splice(0)) {
        const list = typeof answers === 'function' ? p.addresses.map((address) => ({ address, status: answers(address) })) : answers.filter((a) => p.addresses.includes(a.address));
        out.push(...step({ type: 'probed', probe: p.probe, answers: list, now }));
      }
      return out;
    },
  };
}

t.test('a lone node leads after the browse window, saving the term first', async (t) => {
  const x = machine();
  x.step({ type: 'candidates', addresses: ['n2:7777'] });
  x.tick();
  x.answer(() => undefined);
  for (let i = 0; i < 18; i++) t.same(types(x.tick()).filter((a) => a === 'save-term'), [], 'not within the second');
  let acts: RoleAction[] = [];
  for (let i = 0; i < 5 && !find(acts, 'save-term'); i++) acts = [...x.tick(), ...x.answer(() => undefined)];
  t.same(find(acts, 'save-term'), { type: 'save-term', term: 1 });
  t.equal(x.m.info.role, 'starting', 'not the coordinator before the term is saved');
  const led = x.step({ type: 'term-saved', term: 1, now: x.at() });
  t.match(find(led, 'lead'), { term: 1 });
  t.same(find(led, 'role')?.info, { role: 'coordinator', term: 1, coordinator: undefined, priority: 0, eligible: true });
});

t.test('a running coordinator is joined, whatever the rank (sticky)', async (t) => {
  const x = machine({ term: 0 }, 1_000);
  x.step({ type: 'candidates', addresses: ['n2:7777'] });
  x.tick();
  const acts = x.answer(() => status('bbbbbbbbbbbbbbb2', 'coordinator', 4));
  t.same(find(acts, 'join'), { type: 'join', address: 'n2:7777' });
  t.same(find(acts, 'save-term'), { type: 'save-term', term: 4 }, 'a term heard of is saved (after a crash it still elects above it)');
  t.match(x.m.info, { role: 'standby', coordinator: 'n2:7777', joining: true });
  x.step({ type: 'link-up', term: 4, now: x.at() });
  t.equal(x.m.info.joining, true, 'a standby of term 4 only once term 4 is saved');
  x.step({ type: 'term-saved', term: 4, now: x.at() });
  t.same(x.m.info, { role: 'standby', term: 4, coordinator: 'n2:7777', priority: 0, eligible: true });
});

t.test('an address given or found whose first probe is still out holds the election, up to the longer window', async (t) => {
  // Under load a first TLS answer can take longer than the browse window: leading then would put a fresh node
  // beside a running coordinator (and a term above it, once it heard of it).
  const slow = machine();
  slow.step({ type: 'candidates', addresses: ['n2:7777'] });
  slow.tick();
  t.equal(slow.probes.length, 1, 'n2 asked');
  let acts: RoleAction[] = [];
  while (slow.at() < 1_400) acts.push(...slow.tick());
  t.notOk(find(acts, 'save-term'), 'no election past the browse window while the answer is out');
  acts = slow.answer(() => status('bbbbbbbbbbbbbbb2', 'coordinator', 1));
  t.same(find(acts, 'join'), { type: 'join', address: 'n2:7777' }, 'its late answer: joined');

  const gone = machine();
  gone.step({ type: 'candidates', addresses: ['n2:7777'] });
  acts = gone.tick();
  const first = gone.probes[0]!;
  t.equal(first.timeoutMs, 3_000 - gone.at(), 'its first probe may take to the end of the longer window');
  while (gone.at() < first.timeoutMs) acts.push(...gone.tick());
  t.notOk(find(acts, 'save-term'), 'still waiting within the longer window');
  acts.push(...gone.answer(() => undefined)); // the first probe times out: nothing answered at all
  while (gone.at() < 3_200) acts.push(...gone.tick(), ...gone.answer(() => undefined));
  t.match(find(acts, 'save-term'), { term: 1 }, 'led once the longer window is over, answer or none');

  const refused = machine();
  refused.step({ type: 'candidates', addresses: ['n2:7777'] });
  refused.tick();
  refused.answer(() => undefined); // a refusal, or a timeout: it came back
  acts = [];
  while (refused.at() < 1_200) acts.push(...refused.tick(), ...refused.answer(() => undefined));
  t.match(find(acts, 'save-term'), { term: 1 }, 'one that came back empty does not hold it');
});

t.test("a coordinator's answer that comes while the start-up term is being saved: joined, not led a term above it", async (t) => {
  const x = machine();
  x.step({ type: 'candidates', addresses: ['n2:7777'] });
  x.tick();
  x.answer(() => undefined); // its first probe came back empty (a slow answer timed out)…
  let acts: RoleAction[] = [];
  while (!find(acts, 'save-term') && x.at() < 2_000) acts = x.tick(); // …the next one is still out
  t.match(find(acts, 'save-term'), { term: 1 });
  t.ok(x.probes.length > 0, 'a probe still out');
  acts = x.answer(() => status('bbbbbbbbbbbbbbb2', 'coordinator', 1));
  t.same(find(acts, 'join'), { type: 'join', address: 'n2:7777' }, 'joined');
  acts = x.step({ type: 'term-saved', term: 1, now: x.at() });
  t.notOk(find(acts, 'lead'), 'the saved term is not led');
  t.match(x.m.info, { role: 'standby', coordinator: 'n2:7777', joining: true });
});

t.test('a node that follows another coordinator points to it: it is asked before anyone is elected', async (t) => {
  const x = machine();
  x.step({ type: 'candidates', addresses: ['n2:7777'] });
  x.tick();
  x.answer((a) => (a === 'n2:7777' ? status('bbbbbbbbbbbbbbb2', 'standby', 3, 'n3:7777') : undefined));
  t.ok(x.probes.some((p) => p.addresses.includes('n3:7777')), 'n3 is asked at once');
  const acts = x.answer((a) => (a === 'n3:7777' ? status('ccccccccccccccc3', 'coordinator', 3) : undefined));
  t.same(find(acts, 'join'), { type: 'join', address: 'n3:7777' });
});

t.test('failover: the first of the succession list leads at once, above the highest term heard of', async (t) => {
  const succession: Succession = { term: 3, coordinator: { id: 'ddddddddddddddd4', address: 'n4:7777' }, standbys: [{ id: self.id, address: 'n1:7777' }], highest: 5 };
  const x = machine({ term: 3 });
  x.step({ type: 'candidates', addresses: ['n4:7777'] });
  x.tick();
  x.answer(() => status('ddddddddddddddd4', 'coordinator', 3));
  x.step({ type: 'term-saved', term: 3, now: x.at() });
  x.step({ type: 'link-up', term: 3, now: x.at() });
  x.step({ type: 'link-succession', succession });
  const acts = x.step({ type: 'link-end', end: { kind: 'lost', succession: undefined, reason: 'closed' }, now: x.at() });
  t.same(find(acts, 'save-term'), { type: 'save-term', term: 6 });
});

/** A standby of n4 (term 2, `succession` saved) whose link to it ends (`lost`: the last list it had). */
function lostCoordinator(succession: Succession, lost: Succession, reason: 'closed' | 'silent') {
  const x = machine({ term: 2, succession });
  x.step({ type: 'candidates', addresses: [] });
  x.tick();
  x.answer(() => status('ddddddddddddddd4', 'coordinator', 2));
  x.step({ type: 'term-saved', term: 2, now: x.at() });
  x.step({ type: 'link-up', term: 2, now: x.at() });
  x.step({ type: 'link-end', end: { kind: 'lost', succession: lost, reason }, now: x.at() });
  return x;
}

t.test('failover: a successor ahead that is alive is waited for; one that never takes over is skipped', async (t) => {
  const ahead = { id: 'eeeeeeeeeeeeeee5', address: 'n5:7777' };
  const succession: Succession = { term: 2, coordinator: { id: 'ddddddddddddddd4', address: 'n4:7777' }, standbys: [ahead, { id: self.id, address: 'n1:7777' }] };
  const x = lostCoordinator(succession, succession, 'closed');
  t.same(x.probes.map((p) => p.addresses), [['n5:7777']], 'only the one ahead is asked');
  let acts = x.answer(() => status(ahead.id, 'starting', 2));
  t.notOk(find(acts, 'save-term'), 'it is alive: wait');
  for (let i = 0; i < 80 && !find(acts, 'save-term'); i++) acts = [...x.tick(), ...x.answer(() => status(ahead.id, 'standby', 2))];
  t.same(find(acts, 'save-term'), { type: 'save-term', term: 3 }, 'after 3 s without taking over, it is skipped');
});

t.test('failover: when the successor ahead still follows the coordinator we lost, it is asked too, and rejoined if it coordinates', async (t) => {
  const ahead = { id: 'eeeeeeeeeeeeeee5', address: 'n5:7777' };
  const succession: Succession = { term: 2, coordinator: { id: 'ddddddddddddddd4', address: 'n4:7777' }, standbys: [ahead, { id: self.id, address: 'n1:7777' }] };
  for (const alive of [true, false]) {
    const x = lostCoordinator(succession, succession, 'silent');
    const answers = (address: string) => (address === 'n5:7777' ? status(ahead.id, 'standby', 2, 'n4:7777') : alive ? status('ddddddddddddddd4', 'coordinator', 2) : undefined);
    let acts = x.answer(answers);
    t.same(x.probes.map((p) => p.addresses), [['n4:7777']], 'the coordinator is asked');
    acts = x.answer(answers);
    if (alive) {
      t.same(find(acts, 'join'), { type: 'join', address: 'n4:7777' }, 'it coordinates: joined again, no new term');
      t.notOk(find(acts, 'save-term'));
    } else {
      for (let i = 0; i < 80 && !find(acts, 'save-term'); i++) acts = [...x.tick(), ...x.answer(answers)];
      t.same(find(acts, 'save-term'), { type: 'save-term', term: 3 }, 'gone: the failover goes on as before');
    }
  }
  // Not when the coordinator said it was leaving, nor for an answer that is not the lost coordinator's.
  for (const [label, list, lostAnswer] of [
    ['leaving', { ...succession, leaving: true }, status('ddddddddddddddd4', 'coordinator', 2)],
    ['another node at its address', succession, status('fffffffffffffff6', 'coordinator', 2)],
    ['an older term', succession, status('ddddddddddddddd4', 'coordinator', 1)],
  ] as const) {
    const x = lostCoordinator(succession, list, 'silent');
    const answers = (address: string) => (address === 'n5:7777' ? status(ahead.id, 'standby', 2, 'n4:7777') : lostAnswer);
    x.answer(answers);
    const asked = x.probes.some((p) => p.addresses.includes('n4:7777'));
    const acts = x.answer(answers);
    if (label === 'leaving') t.notOk(asked, 'leaving: not asked');
    t.notOk(find(acts, 'join'), `${label}: not joined`);
  }
});

t.test('dropped by a live coordinator, or silent just after our own freeze: stand by again, no takeover', async (t) => {
  for (const [end, label] of [
    [{ kind: 'lost', succession: undefined, reason: 'dropped' }, 'dropped'],
    [{ kind: 'lost', succession: undefined, reason: 'silent' }, 'silent after a freeze'],
  ] as const) {
    const succession: Succession = { term: 1, coordinator: { id: 'ddddddddddddddd4', address: 'n4:7777' }, standbys: [{ id: self.id, address: 'n1:7777' }] };
    const x = machine({ term: 1, succession });
    x.step({ type: 'candidates', addresses: [] });
    x.tick();
    x.answer(() => status('ddddddddddddddd4', 'coordinator', 1));
    x.step({ type: 'link-up', term: 1, now: x.at() });
    if (label !== 'dropped') x.tick(5_000);
    const acts = x.step({ type: 'link-end', end, now: x.at() });
    t.notOk(find(acts, 'save-term'), `${label}: no new term`);
    t.equal(x.m.kind, 'starting', label);
  }
});

t.test('a coordinator frozen past the failover bound is fenced until a probe finds no one who took over', async (t) => {
  const x = machine();
  x.tick();
  for (let i = 0; i < 21; i++) x.tick();
  x.step({ type: 'term-saved', term: 1, now: x.at() });
  t.equal(x.m.info.role, 'coordinator');
  x.step({ type: 'link-succession', succession: { term: 1, coordinator: { id: self.id, address: 'n1:7777' }, standbys: [] } });
  x.m.published({ term: 1, coordinator: { id: self.id, address: 'n1:7777' }, standbys: [{ id: 'fffffffffffffff6', address: 'n6:7777' }] });
  x.probes.length = 0;
  const frozen = x.tick(4_000);
  t.same(find(frozen, 'fence'), { type: 'fence', on: true });
  t.ok(x.probes.some((p) => p.addresses.includes('n6:7777')), 'the last successor is asked');
  const acts = x.answer((a) => (a === 'n6:7777' ? status('fffffffffffffff6', 'coordinator', 2) : undefined));
  t.same(find(acts, 'step-down'), { type: 'step-down', to: 'n6:7777' }, 'it took over: step down and merge');
});

t.test('frozen again while the check was out: its late answer does not lift the fence; a new check does', async (t) => {
  const x = machine();
  for (let i = 0; i < 22; i++) x.tick();
  x.step({ type: 'term-saved', term: 1, now: x.at() });
  x.m.published({ term: 1, coordinator: { id: self.id, address: 'n1:7777' }, standbys: [{ id: 'fffffffffffffff6', address: 'n6:7777' }] });
  x.probes.length = 0;
  t.same(find(x.tick(4_000), 'fence'), { type: 'fence', on: true });
  const first = x.probes.splice(0);
  t.ok(first.some((p) => p.addresses.includes('n6:7777')), 'the check is out');
  // Frozen for 3 s before its answers (no one heard) are handled: they are older than the freeze.
  const late = first.flatMap((p, i) => x.step({ type: 'probed', probe: p.probe, answers: [], now: x.at() + 3_000 + i }));
  t.notOk(late.some((a) => a.type === 'fence' && !a.on), 'still fenced');
  t.ok(x.probes.some((p) => p.addresses.includes('n6:7777')), 'asked again');
  const acts = x.answer(() => undefined);
  t.same(find(acts, 'fence'), { type: 'fence', on: false }, 'nobody took over since: acknowledging alone again');
});

t.test('a check of several addresses: each answer counts as it comes, not when the slowest is in', async (t) => {
  for (const rival of ['coordinator', 'standby'] as const) {
    const x = machine();
    for (let i = 0; i < 22; i++) x.tick();
    x.step({ type: 'term-saved', term: 1, now: x.at() });
    x.m.published({ term: 1, coordinator: { id: self.id, address: 'n1:7777' }, standbys: [{ id: 'fffffffffffffff6', address: 'n6:7777' }, { id: 'eeeeeeeeeeeeeee5', address: 'n5:7777' }] });
    x.probes.length = 0;
    t.same(find(x.tick(4_000), 'fence'), { type: 'fence', on: true });
    const check = x.probes.find((p) => p.addresses.includes('n6:7777') && p.addresses.includes('n5:7777'))!;
    t.ok(check, 'one check asks both');
    // A stale standby link says term 2: the coordinator saves term 3 to move past it.
    t.same(find(x.step({ type: 'peer-term', term: 2, now: x.at() }), 'save-term'), { type: 'save-term', term: 3 });
    // n6 answers that term 3 is taken; n5 is cut off and holds up the round.
    const answered = x.step({ type: 'answer', probe: check.probe, answer: { address: 'n6:7777', status: status('fffffffffffffff6', rival, 3, rival === 'coordinator' ? null : 'n9:7777') }, now: x.at() });
    const saved = x.step({ type: 'term-saved', term: 3, now: x.at() });
    t.notOk(find(saved, 'new-term'), `${rival}: term 3 is not taken, though the round is not over`);
    if (rival === 'coordinator') t.same(find(answered, 'step-down'), { type: 'step-down', to: 'n6:7777' }, 'a coordinator that outranks us is followed at once');
    else t.same(find(saved, 'save-term'), { type: 'save-term', term: 4 }, 'past the term heard of instead');
  }
});

t.test('hints (/status?from=) are bounded: a few probes at once, and an address is remembered only once it answers as a node of the network', async (t) => {
  const x = machine();
  for (let i = 0; i < 22; i++) x.tick();
  x.step({ type: 'term-saved', term: 1, now: x.at() });
  x.probes.length = 0;
  for (let i = 0; i < 50; i++) x.step({ type: 'hint', address: `10.0.0.${i}:7777`, now: x.at() });
  t.equal(x.probes.length, 8, '50 hints, 8 probes');
  x.step({ type: 'hint', address: '10.0.0.1:7777', now: x.at() });
  t.equal(x.probes.length, 8, 'one asked already is not asked again');
  // One answers as a standby of this network, the others not at all.
  x.answer((a) => (a === '10.0.0.3:7777' ? status('ccccccccccccccc3', 'standby', 1, 'n1:7777') : undefined));
  x.probes.length = 0;
  for (let i = 0; i < 60 && x.probes.length === 0; i++) x.tick();
  const asked = new Set(x.probes.flatMap((p) => p.addresses));
  t.ok(asked.has('10.0.0.3:7777'), 'the node that answered is in the rival rounds');
  t.notOk(asked.has('10.0.0.4:7777'), 'an address that never answered is not');
});

t.test('a hinted address that answered is asked again only a round later (two coordinators hinting each other do not ping-pong)', async (t) => {
  const x = machine();
  for (let i = 0; i < 22; i++) x.tick();
  x.step({ type: 'term-saved', term: 1, now: x.at() });
  x.probes.length = 0;
  const rival = () => status('bbbbbbbbbbbbbbb2', 'coordinator', 0, null);
  x.step({ type: 'hint', address: 'n2:7777', now: x.at() });
  t.equal(x.probes.length, 1, 'the first hint is asked');
  x.answer(rival);
  x.step({ type: 'hint', address: 'n2:7777', now: x.at() });
  t.equal(x.probes.length, 0, 'answered a moment ago: not asked again');
  x.tick(1_001);
  x.answer(rival); // the round's own probes
  x.step({ type: 'hint', address: 'n2:7777', now: x.at() });
  t.equal(x.probes.length, 1, 'a hint a round after the last: asked');
});

t.test('/status tells a later term heard of, and a node that reads it moves past it', async (t) => {
  const x = machine();
  for (let i = 0; i < 22; i++) x.tick();
  x.step({ type: 'term-saved', term: 1, now: x.at() });
  t.equal(x.m.highest, undefined, 'nothing later heard of');
  // Asked (here on a hint): a node starting with term 1 saved that stood by in term 3 (not saved yet).
  x.probes.length = 0;
  x.step({ type: 'hint', address: 'n2:7777', now: x.at() });
  x.answer(() => ({ ...status('bbbbbbbbbbbbbbb2', 'starting', 1), highest: 3 }));
  t.match(x.m.info, { role: 'coordinator', term: 1 });
  t.equal(x.m.highest, 3, 'its own /status now tells of term 3 (and its succession list names it)');
  // A node starting after it hears of term 3 the same way, and leads above it.
  const y = machine();
  y.step({ type: 'candidates', addresses: ['n2:7777'] });
  y.tick();
  y.answer(() => ({ ...status('bbbbbbbbbbbbbbb2', 'standby', 1, null), highest: 3, eligible: false }));
  let acts: RoleAction[] = [];
  for (let i = 0; i < 60 && !find(acts, 'save-term'); i++) acts = [...y.tick(), ...y.answer(() => undefined)];
  t.same(find(acts, 'save-term'), { type: 'save-term', term: 4 });
});

t.test('stop: a coordinator with a successor stops accepting, drains, hands off, then stops', async (t) => {
  const x = machine();
  for (let i = 0; i < 22; i++) x.tick();
  x.step({ type: 'term-saved', term: 1, now: x.at() });
  t.same(types(x.step({ type: 'stop', hasSuccessor: true, now: x.at() })), ['accepting']);
  t.same(types(x.step({ type: 'drained', now: x.at() })), ['hand-off']);
  let acts: RoleAction[] = [];
  for (let i = 0; i < 10 && !find(acts, 'stopped'); i++) acts = x.tick();
  t.ok(find(acts, 'stopped'), 'after the grace');
  t.same(types(machine().step({ type: 'stop', hasSuccessor: false, now: 0 })), ['stopped'], 'no successor: at once');
});

t.test('a standby that has seen a later term makes its coordinator move past it (never a term that goes back)', async (t) => {
  const x = machine();
  for (let i = 0; i < 22; i++) x.tick();
  x.step({ type: 'term-saved', term: 1, now: x.at() });
  t.same(find(x.step({ type: 'peer-term', term: 1, now: x.at() }), 'save-term'), undefined, 'its own term: nothing');
  t.same(find(x.step({ type: 'peer-term', term: 5, now: x.at() }), 'save-term'), { type: 'save-term', term: 6 });
  t.equal(x.m.info.term, 1, 'still term 1 until 6 is saved');
  t.same(find(x.step({ type: 'term-saved', term: 6, now: x.at() }), 'new-term'), { type: 'new-term', term: 6 });
  t.equal(x.m.info.term, 6);
});

t.test('a full disk: hand off to a successor, or refuse sends when alone until it can write again', async (t) => {
  const x = machine();
  for (let i = 0; i < 22; i++) x.tick();
  x.step({ type: 'term-saved', term: 1, now: x.at() });
  t.same(find(x.step({ type: 'storage', ok: false, successor: undefined, now: x.at() }), 'accepting'), { type: 'accepting', sends: 'storage_full' });
  t.same(find(x.step({ type: 'storage', ok: true, successor: undefined, now: x.at() }), 'accepting'), { type: 'accepting', sends: 'yes' });
  const acts = x.step({ type: 'storage', ok: false, successor: 'n2:7777', now: x.at() });
  t.same(types(acts), ['hand-off', 'step-down', 'role']);
});
