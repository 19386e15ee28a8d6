import t from 'tap';
import { explain } from '../../src/ui/explain.js';
import { ERROR_CODES } from '../../src/protocol/errors.js';

t.test('errors in words: socket errors name the address and what to check', async (t) => {
  const at = { address: '10.77.4.1:7778' };
  t.equal(explain('connection_failed', 'connect ECONNREFUSED 10.77.4.1:7778', at), 'nothing answers at 10.77.4.1:7778 — is lanchat running there?');
  t.equal(explain('connection_failed', 'connect EHOSTUNREACH 10.77.4.1:7778', at), '10.77.4.1:7778 cannot be reached from this machine — is it on this network?');
  t.equal(explain('connection_failed', 'x', at, 'ETIMEDOUT'), '10.77.4.1:7778 did not answer in time — is it on this network, and is lanchat running there?');
  t.equal(explain('connection_failed', 'getaddrinfo ENOTFOUND pi.local', { address: 'pi.local:7777' }), 'no machine is called pi.local on this network — try its IP address');
  t.equal(explain('connection_failed', 'something odd', at), 'cannot reach 10.77.4.1:7778: something odd');
});

t.test('errors in words: no jargon for any code of the catalogue', async (t) => {
  t.equal(explain('invalid_username', 'message does not match the protocol schema (user: …)'), 'names are 1–32 letters, digits, . _ -');
  t.equal(explain('network_password', 'network password missing or wrong'), 'wrong network password (ask whoever runs this network)');
  t.equal(explain('unknown_recipient', 'no such user: zed'), 'no such user: zed');
  t.equal(explain('file_failed', 'carol disconnected'), 'carol disconnected', 'a file failure says why');
  t.equal(explain('username_taken', 'username taken'), 'that name is taken: pick another');
  t.match(explain('username_taken', '"aIice" looks too much like "alice" (…): choose another'), /looks too much like "alice"/, 'a look-alike says which name');
  for (const code of Object.keys(ERROR_CODES)) {
    const said = explain(code, ERROR_CODES[code as keyof typeof ERROR_CODES]);
    t.notMatch(said, /schema|frame|ECONN|EHOST/, `${code}: ${said}`);
  }
});

t.test('a code from the other side is only looked up, never trusted: __proto__ and toString are plain text', async (t) => {
  t.equal(explain('__proto__', 'odd'), 'odd');
  t.equal(explain('toString', 'odder'), 'odder');
  t.equal(explain('constructor', 'oddest'), 'oddest');
  t.equal(explain('bad_input', 'enter a password'), 'enter a password', "this UI's own check keeps its words");
});
