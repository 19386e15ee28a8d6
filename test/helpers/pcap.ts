import { readFileSync } from 'node:fs';
import { decode, type Answer, type Question } from 'dns-packet';

/** One mDNS packet of a capture: when (s), from which address, decoded. */
export interface MdnsPacket {
  time: number;
  src: string;
  packet: { type: 'query' | 'response'; questions: Question[]; answers: Answer[]; additionals: Answer[] };
}

/**
 * The UDP port 5353 packets of a pcap file (Ethernet frames, IPv4 or IPv6, as `tcpdump -w` writes on a
 * bridge), decoded as DNS; a truncated last record (the capture still being written) is left out.
 */
export function readMdns(file: string): MdnsPacket[] {
  const buf = readFileSync(file);
  if (buf.length < 24) return [];
  const le = buf.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const out: MdnsPacket[] = [];
  let t0: number | undefined;
  for (let o = 24; o + 16 <= buf.length; ) {
    const time = u32(o) + u32(o + 4) / 1e6;
    const len = u32(o + 8);
    const frame = buf.subarray(o + 16, o + 16 + len);
    o += 16 + len;
    if (frame.length < len) break;
    t0 ??= time;
    let p = 12;
    let etherType = frame.readUInt16BE(p);
    if (etherType === 0x8100) etherType = frame.readUInt16BE((p += 4)); // a VLAN tag
    p += 2;
    let src: string;
    let udp: number;
    if (etherType === 0x0800) {
      if (frame[p + 9] !== 17) continue;
      src = [...frame.subarray(p + 12, p + 16)].join('.');
      udp = p + (frame[p]! & 15) * 4;
    } else if (etherType === 0x86dd) {
      if (frame[p + 6] !== 17) continue;
      const words = [];
      for (let i = 0; i < 16; i += 2) words.push(frame.readUInt16BE(p + 8 + i).toString(16));
      src = words.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
      udp = p + 40;
    } else continue;
    if (frame.readUInt16BE(udp + 2) !== 5353 && frame.readUInt16BE(udp) !== 5353) continue;
    try {
      const d = decode(frame.subarray(udp + 8));
      out.push({ time: time - t0, src, packet: { type: d.type === 'response' ? 'response' : 'query', questions: d.questions ?? [], answers: d.answers ?? [], additionals: d.additionals ?? [] } });
    } catch {
      // not DNS (or malformed): not ours to judge here
    }
  }
  return out;
}
