import { describe, expect, it } from 'vitest';
import { keyringFilter } from '../../src/proxy/seccomp.js';

/**
 * The sandbox's seccomp filter, run by a small interpreter of the three classic BPF instructions
 * it uses (load a word of seccomp_data, jump if equal, return), for every architecture it knows:
 * CI runs the real filter on x86_64 only (test/proxy/sandbox.test.ts), so the other blocks and
 * every jump offset are checked here.
 */
function run(program: Buffer, data: { arch: number; nr: number }): number {
  let a = 0;
  for (let pc = 0; pc * 8 < program.length; ) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    if (code === 0x20) {
      a = k === 0 ? data.nr >>> 0 : k === 4 ? data.arch >>> 0 : NaN;
      pc++;
    } else if (code === 0x15) {
      pc += 1 + (a === k ? jt : jf);
    } else if (code === 0x06) {
      return k;
    } else {
      throw new Error(`unexpected instruction ${code} at ${pc}`);
    }
  }
  throw new Error('fell off the end of the program');
}

const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;

describe('sandbox seccomp filter', () => {
  const cases = {
    x64: [
      { arch: 0xc000003e, keyring: [248, 249, 250, 0x40000000 | 250], other: [0, 1, 59, 247, 251, 0x40000000 | 59] },
      { arch: 0x40000003, keyring: [286, 287, 288], other: [1, 11, 250, 289] },
    ],
    arm64: [
      { arch: 0xc00000b7, keyring: [217, 218, 219], other: [63, 64, 221, 250] },
      { arch: 0x40000028, keyring: [309, 310, 311], other: [3, 4, 250] },
    ],
  };
  for (const [machine, blocks] of Object.entries(cases)) {
    it(`${machine}: refuses add_key, request_key and keyctl with EPERM in every mode it can run, allows the rest`, () => {
      const program = keyringFilter(machine)!;
      expect(program.length % 8).toBe(0);
      for (const { arch, keyring, other } of blocks) {
        for (const nr of keyring) expect(run(program, { arch, nr }), `${arch.toString(16)} ${nr}`).toBe(EPERM);
        for (const nr of other) expect(run(program, { arch, nr }), `${arch.toString(16)} ${nr}`).toBe(ALLOW);
      }
      // Another architecture's numbers mean other calls: allowed.
      expect(run(program, { arch: 0xdeadbeef, nr: 250 })).toBe(ALLOW);
    });
  }

  it('has no filter for an architecture it does not know', () => {
    expect(keyringFilter('riscv64')).toBeNull();
  });
});
