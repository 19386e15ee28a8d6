import t from 'tap';
import { randomBytes } from 'node:crypto';
import { issueToken, TOKEN_TTL_MS, verifyToken } from '../../src/store/session-token.js';

const secret = randomBytes(32).toString('base64');
const lab = 'authority-of-lab';

t.test('a token resumes its own account on its own network, and nothing else', async (t) => {
  const now = 1_000_000;
  const token = issueToken(secret, lab, 'Alice', 'acct-1', now);
  t.equal(verifyToken(secret, lab, 'alice', token, now + 1), 'acct-1', 'the account it names (names are case-insensitive)');
  t.equal(verifyToken(secret, 'authority-of-another-network', 'alice', token, now), undefined, "another network's identity: refused");
  t.equal(verifyToken(randomBytes(32).toString('base64'), lab, 'alice', token, now), undefined, 'another secret: refused');
  t.equal(verifyToken(secret, lab, 'bob', token, now), undefined, 'for another user: refused');
  t.equal(verifyToken(secret, lab, 'alice', token, now + TOKEN_TTL_MS + 1), undefined, 'expired');
  const [name, account, expiry] = token.split('.');
  t.equal(verifyToken(secret, lab, 'alice', `${name}.acct-2.${expiry}.${token.split('.').pop()}`, now), undefined, 'another account, same tag: forged');
  t.equal(verifyToken(secret, lab, 'alice', `${name}.${account}.${Number(expiry) + 1e9}.${token.split('.').pop()}`, now), undefined, 'a later expiry: forged');
  t.equal(verifyToken(secret, lab, 'alice', 'garbage', now), undefined);
});
