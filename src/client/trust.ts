import type { ChatClientOptions } from './chat-client.js';
import { identityPath, pinIdentity, readPins } from '../store/identity-store.js';

/**
 * The network identities a client trusts, from its data directory, where it pins new ones (trust on first
 * use). `pinning: false` for a UI beside its own node: the node's identity file is the node's to write.
 */
export async function trustIn(dataDir: string, pinning = true): Promise<NonNullable<ChatClientOptions['trust']>> {
  const pins = await readPins(dataDir);
  return {
    pins,
    ...(pinning ? { pin: (network: string, pem: string) => pinIdentity(dataDir, network, pem) } : {}),
    forgetHint: (network) => `remove ${identityPath(dataDir, network)}`,
  };
}
