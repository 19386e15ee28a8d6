import { createRequire } from 'node:module';
import type * as Ws from 'ws';

/**
 * `ws`, loaded with `require`. It is CommonJS: an `import` of it makes Node 20 scan the source of each of its
 * modules for their exports first, 0.08 s of CPU at every start of a node, client or UI (measured: 0.25 s
 * against 0.17 s for a process that loads only `ws`).
 */
const ws = createRequire(import.meta.url)('ws') as typeof Ws;

export const WebSocket = ws.WebSocket;
export type WebSocket = Ws.WebSocket;
export const WebSocketServer = ws.WebSocketServer;
export type WebSocketServer = Ws.WebSocketServer;
export type { RawData } from 'ws';
