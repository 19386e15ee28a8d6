import type { Test } from 'tap';
import type { Discovery, Peer } from '../../src/discovery/discovery.js';
import { waitFor } from './wait.js';

/** One contract, two implementations (STYLE: libp2p's interface test suites). */
export function discoveryContract(t: Test, name: string, make: () => Discovery): void {
  t.test(`${name}: advertise, browse, withdraw`, async (t) => {
    const a = make();
    const b = make();
    const c = make();
    t.teardown(() => Promise.all([a.stop(), b.stop(), c.stop()]));
    const ups: Peer[] = [];
    const downs: Peer[] = [];
    b.on('up', (p) => ups.push(p));
    b.on('down', (p) => downs.push(p));
    b.advertise({ id: 'bbbbbbbbbbbbbbbb', network: 'lab', port: 7002 });
    b.browse();
    b.browse(); // idempotent
    a.advertise({ id: 'aaaaaaaaaaaaaaaa', network: 'lab', port: 7001 });
    a.advertise({ id: 'aaaaaaaaaaaaaaaa', network: 'lab', port: 9999 }); // one advertisement per instance
    c.advertise({ id: 'cccccccccccccccc', network: 'other', port: 7003 });
    await waitFor(() => new Set(ups.map((p) => p.id)).size >= 2, 'two peers up', 5_000); // an update may repeat one
    const byId = new Map(ups.map((p) => [p.id, p]));
    t.match(byId.get('aaaaaaaaaaaaaaaa'), { network: 'lab', port: 7001, version: 1 });
    t.ok(byId.get('aaaaaaaaaaaaaaaa')!.addresses.length > 0, 'an address to dial');
    t.match(byId.get('cccccccccccccccc'), { network: 'other', port: 7003 }, 'other networks are seen (and told apart by TXT)');
    t.notOk(byId.has('bbbbbbbbbbbbbbbb'), 'its own advertisement is not a peer');
    t.equal(b.peers().length, 2);
    await a.stop();
    await waitFor(() => downs.some((p) => p.id === 'aaaaaaaaaaaaaaaa'), 'a goodbye', 5_000);
    t.same(b.peers().map((p) => p.id), ['cccccccccccccccc']);
    await a.stop(); // idempotent
  });

  t.test(`${name}: a browser started later finds what is already advertised`, async (t) => {
    const a = make();
    const late = make();
    t.teardown(() => Promise.all([a.stop(), late.stop()]));
    a.advertise({ id: 'dddddddddddddddd', network: 'lab', port: 7004 });
    await new Promise((r) => setTimeout(r, 50));
    late.browse();
    await waitFor(() => late.peers().some((p) => p.id === 'dddddddddddddddd'), 'the earlier advertisement', 5_000);
    t.pass('found');
  });
}

