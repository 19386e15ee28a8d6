import t from 'tap';
import { compareRank, successionOrder, shouldLead, resolveCoordinators, nextStep } from '../../src/core/election.js';

const c = (id: string, priority = 0, position = 0) => ({ id, priority, position });

t.test('rank: priority, then replica position, then id', async (t) => {
  t.same(successionOrder([c('b'), c('a'), c('c', 1), c('d', 0, 5)]).map((x) => x.id), ['c', 'd', 'a', 'b']);
  t.equal(compareRank(c('a'), c('a')), 0);
  t.ok(compareRank(c('z', 2), c('a', 1)) < 0);
});

t.test('start-up: the best-ranked node leads, everyone agrees', async (t) => {
  const nodes = [c('n1'), c('n2'), c('n3', 0, 10)];
  const leaders = nodes.filter((n) => shouldLead(n, nodes.filter((o) => o !== n)));
  t.same(leaders.map((n) => n.id), ['n3']);
  t.ok(shouldLead(c('alone'), []), 'alone: lead');
});

t.test('two coordinators: higher term wins, then rank', async (t) => {
  const a = { ...c('a'), term: 3 };
  const b = { ...c('b', 9), term: 4 };
  t.equal(resolveCoordinators(a, b), b);
  t.equal(resolveCoordinators(b, a), b, 'symmetric');
  const x = { ...c('x'), term: 4 };
  t.equal(resolveCoordinators(b, x), b, 'same term: priority');
  t.equal(resolveCoordinators(x, { ...c('y'), term: 4 }), x, 'same everything: id');
});

t.test('failover: first live entry takes over', async (t) => {
  t.same(nextStep([{ kind: 'self' }], 1), { act: 'lead' });
  t.same(nextStep([{ kind: 'unreachable' }, { kind: 'self' }], 1), { act: 'lead' }, 'the first is dead too');
  t.same(nextStep([{ kind: 'standby' }, { kind: 'self' }], 1), { act: 'wait', index: 0 }, 'the first has not noticed yet');
  t.same(nextStep([{ kind: 'coordinator', term: 2 }, { kind: 'self' }], 1), { act: 'join', index: 0 });
  t.same(nextStep([{ kind: 'coordinator', term: 1 }, { kind: 'self' }], 1), { act: 'lead' }, 'a stale coordinator is skipped');
  t.same(nextStep([{ kind: 'unreachable' }], 1), { act: 'lead' }, 'nobody left: lead');
});
