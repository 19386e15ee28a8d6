import type { Schedule } from './simulation.js';

/**
 * The anomalies issue #11's fault trial found, each as a schedule the
 * simulator runs in every `npm test` (and `npm run sim`).
 */
export const NAMED: Schedule[] = [
  {
    // 1. A healed partition: far more than the 200-message window on each side; all of it must reach everyone.
    name: 'healed partition, 600 broadcasts a side',
    seed: 101,
    nodes: 3,
    clients: 6,
    duration: 30_000,
    sendEveryMs: [40, 60],
    broadcastShare: 0.9,
    faults: [
      { at: 4_000, kind: 'split', groups: [['n0', 'c0', 'c1', 'c2'], ['n1', 'n2', 'c3', 'c4', 'c5']] },
      { at: 24_000, kind: 'heal' },
    ],
  },
  {
    // 1b. The same in locked-down mode: the first node knows only its own standbys, the other side knows it.
    name: 'healed partition, locked down',
    seed: 111,
    nodes: 4,
    clients: 6,
    locked: true,
    duration: 30_000,
    sendEveryMs: [80, 120],
    broadcastShare: 0.9,
    faults: [
      { at: 4_000, kind: 'split', groups: [['n0', 'n1', 'c0', 'c1', 'c2'], ['n2', 'n3', 'c3', 'c4', 'c5']] },
      { at: 24_000, kind: 'heal' },
    ],
  },
  {
    // 2. A standby killed for 8 s: no permanent holes.
    name: 'standby killed for 8 s',
    seed: 102,
    nodes: 3,
    clients: 4,
    duration: 20_000,
    sendEveryMs: [50, 150],
    faults: [
      { at: 5_000, kind: 'crash', node: 1 },
      { at: 13_000, kind: 'restart', node: 1 },
    ],
  },
  {
    // 3. Snapshots every 20 records and restarts: an entry after a higher one of its origin, an offline user's
    // queued direct message, survive the reload.
    name: 'snapshot reload keeps everything',
    seed: 103,
    nodes: 2,
    clients: 4,
    duration: 20_000,
    segmentRecords: 20,
    broadcastShare: 0.3,
    faults: [
      { at: 5_000, kind: 'cut', host: 'c3' },
      { at: 9_000, kind: 'restart-all' },
      { at: 12_000, kind: 'crash', node: 0 },
      { at: 14_000, kind: 'restart', node: 0 },
      { at: 16_000, kind: 'uncut', host: 'c3' },
    ],
  },
  {
    // 4. One name registered on both sides of a partition: the later account loses it and its sessions.
    name: 'name conflict across a partition',
    seed: 104,
    nodes: 2,
    clients: 4,
    lateClients: [2, 3],
    duration: 16_000,
    faults: [
      { at: 3_000, kind: 'split', groups: [['n0', 'c0', 'c2'], ['n1', 'c1', 'c3']] },
      { at: 5_000, kind: 'client', client: 3, user: 'carol', node: 1 },
      { at: 5_500, kind: 'client', client: 2, user: 'carol', node: 0 },
      { at: 10_000, kind: 'heal' },
    ],
  },
  {
    // 5a. SIGTERM of the coordinator under load: nothing acknowledged by it alone once its standbys go.
    name: 'clean hand-off under load',
    seed: 105,
    nodes: 3,
    clients: 4,
    duration: 16_000,
    sendEveryMs: [30, 80],
    faults: [
      { at: 6_000, kind: 'stop', node: 0 },
      { at: 9_000, kind: 'restart', node: 0 },
      { at: 11_000, kind: 'stop', node: 1 },
    ],
  },
  {
    // 5b. A coordinator frozen (SIGSTOP) past the failover, then thawed: clients that come back to it are not
    // acknowledged by it alone.
    name: 'frozen coordinator thaws',
    seed: 106,
    nodes: 3,
    clients: 4,
    duration: 16_000,
    sendEveryMs: [50, 150],
    faults: [
      { at: 5_000, kind: 'freeze', node: 0 },
      { at: 8_000, kind: 'thaw', node: 0 },
    ],
  },
  {
    // 6. Every node restarted at once, answering /status slowly: one coordinator, terms never back.
    name: 'restart storm with slow status answers',
    seed: 107,
    nodes: 4,
    clients: 3,
    duration: 20_000,
    faults: [
      { at: 4_000, kind: 'slow-status', node: 0, ms: 2_500 },
      { at: 4_000, kind: 'slow-status', node: 1, ms: 1_800 },
      { at: 4_000, kind: 'slow-status', node: 2, ms: 900 },
      { at: 5_000, kind: 'restart-all' },
      { at: 12_000, kind: 'restart-all' },
    ],
  },
  {
    // 7. Clients that connect while every node is still deciding its role wait for it.
    name: 'clients during a restart of every node',
    seed: 108,
    nodes: 3,
    clients: 4,
    duration: 14_000,
    faults: [
      { at: 4_000, kind: 'restart-all' },
      { at: 4_100, kind: 'restart-all' },
    ],
  },
  {
    // 8a. The top-ranked standby answers pings but never acknowledges: sends go on after the bound.
    name: 'standby that never acknowledges',
    seed: 109,
    nodes: 3,
    clients: 3,
    duration: 18_000,
    faults: [
      { at: 2_500, kind: 'mute', node: 1 },
      { at: 2_500, kind: 'mute', node: 2 },
      { at: 6_000, kind: 'unmute', node: 2 },
    ],
  },
  {
    // 8b. A full disk on the coordinator: it hands off; alone, it says storage_full and recovers when space returns.
    name: 'full disk on the coordinator',
    seed: 110,
    nodes: 2,
    clients: 3,
    duration: 20_000,
    faults: [
      { at: 4_000, kind: 'disk-full', node: 0 },
      { at: 6_000, kind: 'disk-full', node: 1 },
      { at: 9_000, kind: 'disk-ok', node: 0 },
      { at: 12_000, kind: 'disk-ok', node: 1 },
    ],
  },
  {
    // 9. A stale coordinator, cut off, hears a standby of its old term and saves the next term while the answers
    //    naming that term's holder are already in but its round still waits on an unreachable address: it must
    //    not take that term (found by seed 31930 of the random schedules, shrunk).
    name: 'stale coordinator bumps while its round waits',
    seed: 31930,
    nodes: 4,
    clients: 3,
    duration: 18_281,
    historySize: 11,
    faults: [
      { at: 6_134, kind: 'split', groups: [['n0', 'n3', 'c1', 'n1', 'c0', 'c2'], ['n2']] },
      { at: 6_548, kind: 'slow-status', node: 3, ms: 1_876 },
      { at: 6_768, kind: 'crash', node: 0 },
      { at: 8_374, kind: 'freeze', node: 1 },
      { at: 9_153, kind: 'restart', node: 0 },
      { at: 10_368, kind: 'thaw', node: 1 },
      { at: 10_500, kind: 'cut', host: 'n1' },
      { at: 12_398, kind: 'heal' },
      { at: 12_780, kind: 'split', groups: [['c0', 'c2', 'c1', 'n3'], ['n0', 'n1', 'n2']] },
      { at: 13_218, kind: 'uncut', host: 'n1' },
    ],
  },
  {
    // 10. A coordinator thaws after another node led a later term and left; the only node it can reach had
    //     stood by in that term but not yet saved it, and `/status` told only its saved term: the thawed one
    //     served a client that had seen the later term with its older one. `/status` now tells the highest term
    //     heard of as well (found by seed 70084 of the random schedules, shrunk).
    name: 'a thawed coordinator learns the later term from a node that has not saved it',
    seed: 70084,
    nodes: 3,
    clients: 2,
    duration: 12_666,
    faults: [
      { at: 6_282, kind: 'slow-disk', node: 2, ms: 763 },
      { at: 6_664, kind: 'crash', node: 1 },
      { at: 7_679, kind: 'stop', node: 2 },
      { at: 7_952, kind: 'restart', node: 1 },
      { at: 8_126, kind: 'cut', host: 'c0' },
      { at: 8_475, kind: 'freeze', node: 0 },
      { at: 9_975, kind: 'restart', node: 2 },
      { at: 10_160, kind: 'stop', node: 1 },
      { at: 10_919, kind: 'thaw', node: 0 },
    ],
  },
  {
    // 11. A standby's link times out just as a cut of the coordinator heals: the other standbys still follow
    //     it, and the one that lost it waited 3 s for each of them to take over before leading a new term
    //     (found by seed 91454 of the random schedules, shrunk). It now asks the coordinator too, and rejoins it.
    name: 'a standby alone in losing its coordinator goes back to it',
    seed: 91454,
    nodes: 4,
    clients: 3,
    duration: 15_413,
    sendEveryMs: [60, 250],
    faults: [
      { at: 5_375, kind: 'crash', node: 0 },
      { at: 9_043, kind: 'restart', node: 0 },
      { at: 12_040, kind: 'restart-all' },
      { at: 14_415, kind: 'cut', host: 'n0' },
    ],
  },
  {
    // 12. A coordinator cut off while its successor crashed and came back: the successor's new link replaced
    //     the hung one, and what waited on it was acknowledged alone, with no check, while another node led a
    //     later term (found by seed 82735, shrunk). A returning standby now changes the list like one that
    //     left: with no successor the coordinator is fenced until a probe finds nobody who took over.
    name: 'a successor that comes back does not leave its coordinator acknowledging alone',
    seed: 82735,
    nodes: 4,
    clients: 4,
    duration: 15_027,
    faults: [
      { at: 8_195, kind: 'slow-status', node: 1, ms: 1_985 },
      { at: 13_197, kind: 'cut', host: 'n2' },
      { at: 13_929, kind: 'crash', node: 1 },
      { at: 14_038, kind: 'crash', node: 0, power: true },
      { at: 15_026, kind: 'restart', node: 0 },
      { at: 15_026, kind: 'uncut', host: 'n2' },
    ],
  },
  {
    // 13. A coordinator on a slow disk, frozen with its clients' resends waiting in its sockets: thawed, it
    //     stores them (the senders had them acknowledged by the successor meanwhile), steps down, and leads
    //     again before those writes are durable. Durable then, with no pipeline left to release them, they
    //     reached nobody, and the successor's copies were taken for delivered: a client that resumed in
    //     between never got 15 acknowledged broadcasts (found by seed 601408, shrunk). Ours of an earlier
    //     term are now delivered when durable, like entries merged in.
    name: 'own entries of an earlier term, durable only after a step-down, still reach who is online',
    seed: 601408,
    nodes: 3,
    clients: 4,
    duration: 12_478,
    resumeWindow: 119,
    sendEveryMs: [60, 250],
    faults: [
      { at: 5_215, kind: 'slow-disk', node: 2, ms: 994 },
      { at: 7_099, kind: 'cut', host: 'c0' },
      { at: 7_239, kind: 'freeze', node: 2 },
      { at: 11_085, kind: 'thaw', node: 2 },
      { at: 11_195, kind: 'stop', node: 1 },
      { at: 11_475, kind: 'stop', node: 0 },
    ],
  },
];
