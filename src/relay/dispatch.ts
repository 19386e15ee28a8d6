import type { ClientMessage } from '../protocol/messages.js';
import type { Handler } from './context.js';
import { login, networkAuth, networkConfirm, register, resume } from './handlers/auth.js';
import { presence, send, status } from './handlers/chat.js';
import { fileAck, fileCancel, fileDone, fileEnd, fileFail, fileOffer } from './handlers/files.js';
import { peerAck, peerEntries, peerHello, peerJoin, peerJoinConfirm } from './handlers/peers.js';
import { room } from './handlers/rooms.js';

/**
 * The handler table: every client message type, what the session must have
 * done first, and the function that handles it. A message type without a
 * handler fails to compile (STYLE: protocol).
 */
export const HANDLERS: { [K in ClientMessage['type']]: Handler<K> } = {
  'network:auth': { needs: 'nothing', run: networkAuth },
  'network:confirm': { needs: 'nothing', run: networkConfirm },
  'auth:register': { needs: 'network', run: register },
  'auth:login': { needs: 'network', run: login },
  'auth:resume': { needs: 'network', run: resume },
  'chat:send': { needs: 'login', run: send },
  'presence:get': { needs: 'login', run: presence },
  'status:set': { needs: 'login', run: status },
  'room:join': { needs: 'login', run: room },
  'room:create': { needs: 'login', run: room },
  'room:invite': { needs: 'login', run: room },
  'room:leave': { needs: 'login', run: room },
  'room:remove': { needs: 'login', run: room },
  'room:op': { needs: 'login', run: room },
  'room:topic': { needs: 'login', run: room },
  'peer:hello': { needs: 'network', run: peerHello },
  'peer:join': { needs: 'network', run: peerJoin },
  'peer:join-confirm': { needs: 'network', run: peerJoinConfirm },
  'peer:entries': { needs: 'peer', run: peerEntries },
  'peer:ack': { needs: 'peer', run: peerAck },
  'file:offer': { needs: 'login', run: fileOffer },
  'file:end': { needs: 'login', run: fileEnd },
  'file:cancel': { needs: 'login', run: fileCancel },
  'file:ack': { needs: 'login', run: fileAck },
  'file:done': { needs: 'login', run: fileDone },
  'file:fail': { needs: 'login', run: fileFail },
};
