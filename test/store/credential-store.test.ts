import t from 'tap';
import bcrypt from 'bcryptjs';
import { dummyHash } from '../../src/store/credential-store.js';

// Unknown users are checked against a constant hash of the node's cost, so that their failure takes as long as
// a wrong password: bcrypt must read it as a hash of that cost, and it must never match.
t.test('the dummy hash is a well-formed bcrypt hash of the cost asked, that matches no password', async (t) => {
  for (const cost of [4, 9, 12, 31]) {
    const h = dummyHash(cost);
    t.equal(h.length, 60, `cost ${cost}: 60 characters, as bcrypt writes them`);
    t.equal(bcrypt.getRounds(h), cost, `cost ${cost}: bcrypt reads its cost`);
  }
  for (const password of ['', 'lanchat-dummy-password', 'lanchat.dummy.hash.of.nobody.s.password', 'x'.repeat(72)]) {
    t.equal(await bcrypt.compare(password, dummyHash(4)), false, `no match for ${JSON.stringify(password.slice(0, 20))}`);
  }
});
