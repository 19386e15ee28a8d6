import { createNetworkIdentity, issueNodeCertificate, type KeyPair } from '../../src/trust/identity.js';

let made: Promise<{ authority: KeyPair; node: KeyPair }> | undefined;

/** One network identity and node certificate per test process, for servers a test builds by hand. */
export function testIdentity(): Promise<{ authority: KeyPair; node: KeyPair }> {
  made ??= (async () => {
    const authority = await createNetworkIdentity('test');
    return { authority, node: await issueNodeCertificate(authority, '00000000000000aa') };
  })();
  return made;
}

/** TLS options for a client in a test that speaks to a node directly (raw WebSocket, HTTPS): any certificate. */
export const insecure = { rejectUnauthorized: false } as const;
