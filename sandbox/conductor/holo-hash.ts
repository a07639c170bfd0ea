// HoloHash byte layout as the conductor uses it: a 3-byte type prefix, the 32-byte core, and a
// 4-byte DHT location. The stand-in derives the location from blake2b-512 of the core (the real
// conductor folds a 16-byte blake2b; clients only carry the bytes).
import { createHash, randomBytes } from 'node:crypto';

export const HashPrefix = {
  dna: [0x84, 0x2d, 0x24],
  agent: [0x84, 0x20, 0x24],
  action: [0x84, 0x29, 0x24],
  entry: [0x84, 0x21, 0x24],
} as const;

export function holoHash(kind: keyof typeof HashPrefix, core: Uint8Array): Uint8Array {
  if (core.length !== 32) throw new Error(`a HoloHash core is 32 bytes, got ${core.length}`);
  const digest = createHash('blake2b512').update(core).digest();
  const loc = Buffer.alloc(4);
  for (let i = 0; i < 16; i++) loc[i % 4] = loc[i % 4]! ^ digest[i]!;
  return new Uint8Array(Buffer.concat([Buffer.from(HashPrefix[kind]), Buffer.from(core), loc]));
}

export function hashOf(kind: keyof typeof HashPrefix, content: Uint8Array | string): Uint8Array {
  return holoHash(kind, createHash('sha256').update(content).digest());
}

export function randomAgentKey(): Uint8Array {
  return holoHash('agent', randomBytes(32));
}

export function core(hash: Uint8Array): Uint8Array {
  return hash.subarray(3, 35);
}

/** The form @holochain/client uses (encodeHashToBase64): "u" + base64url. */
export function hashToB64(hash: Uint8Array): string {
  return 'u' + Buffer.from(hash).toString('base64url');
}

export function b64ToHash(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.slice(1), 'base64url'));
}

export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return !!a && !!b && a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
}
