import { describe, expect, it } from 'vitest';
import { sandboxFilter } from '../../src/proxy/seccomp.js';

/**
 * The sandbox's seccomp filter, run by a small interpreter of the classic BPF instructions it
 * uses (load a word of seccomp_data, jump if equal, jump if bits set, return), for every
 * architecture it knows: CI runs the real filter on x86_64 only (test/proxy/sandbox.test.ts), so
 * the other blocks and every jump offset are checked here.
 */
function run(program: Buffer, data: { arch: number; nr: number; arg0?: number }): number {
  let a = 0;
  for (let pc = 0; pc * 8 < program.length; ) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    if (code === 0x20) {
      a = k === 0 ? data.nr >>> 0 : k === 4 ? data.arch >>> 0 : k === 16 ? (data.arg0 ?? 0) >>> 0 : NaN;
      pc++;
    } else if (code === 0x15) {
      pc += 1 + (a === k ? jt : jf);
    } else if (code === 0x45) {
      pc += 1 + ((a & k) !== 0 ? jt : jf);
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
const ENOSYS = 0x00050026;
const CLONE_NEWUSER = 0x10000000;
/** What fork, threads and other namespaces pass to clone/unshare: never refused. */
const OTHER_FLAGS = [0x01200011 /* fork: CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD */, 0x003d0f00 /* a thread */, 0x20000 /* CLONE_NEWNS */, 0x40000000 /* CLONE_NEWNET */];

describe('sandbox seccomp filter', () => {
  const x32 = 0x40000000;
  const cases = {
    x64: [
      { arch: 0xc000003e, keyring: [248, 249, 250, x32 | 250], tracing: [101, 310, 311, 438, x32 | 521, x32 | 539, x32 | 540, x32 | 438], namespaces: [56, 272, x32 | 56, x32 | 272], enosys: [425, 426, 427, 435, x32 | 425, x32 | 427, x32 | 435], other: [0, 1, 57, 58, 59, 247, 251, 424, 428, 434, 436, x32 | 59] },
      { arch: 0x40000003, keyring: [286, 287, 288], tracing: [26, 347, 348, 438], namespaces: [120, 310], enosys: [425, 426, 427, 435], other: [1, 2, 11, 190, 250, 289] },
    ],
    arm64: [
      { arch: 0xc00000b7, keyring: [217, 218, 219], tracing: [117, 270, 271, 438], namespaces: [220, 97], enosys: [425, 426, 427, 435], other: [63, 64, 221, 250] },
      { arch: 0x40000028, keyring: [309, 310, 311], tracing: [26, 376, 377, 438], namespaces: [120, 337], enosys: [425, 426, 427, 435], other: [2, 3, 4, 190, 250] },
    ],
  };
  for (const [machine, blocks] of Object.entries(cases)) {
    it(`${machine}: in every mode it can run, refuses the key calls, reaching into another process and new user namespaces (EPERM) and clone3 and io_uring (ENOSYS); allows the rest, other namespaces and forks included`, () => {
      const program = sandboxFilter(machine)!;
      expect(program.length % 8).toBe(0);
      for (const { arch, keyring, tracing, namespaces, enosys, other } of blocks) {
        const at = (nr: number) => `${arch.toString(16)} ${nr}`;
        for (const nr of [...keyring, ...tracing]) expect(run(program, { arch, nr }), at(nr)).toBe(EPERM);
        for (const nr of enosys) expect(run(program, { arch, nr }), at(nr)).toBe(ENOSYS);
        for (const nr of namespaces) {
          expect(run(program, { arch, nr, arg0: CLONE_NEWUSER }), at(nr)).toBe(EPERM);
          expect(run(program, { arch, nr, arg0: CLONE_NEWUSER | 0x20000 | 0x40000000 }), at(nr)).toBe(EPERM);
          for (const flags of OTHER_FLAGS) expect(run(program, { arch, nr, arg0: flags }), `${at(nr)} flags ${flags.toString(16)}`).toBe(ALLOW);
        }
        for (const nr of other) expect(run(program, { arch, nr, arg0: CLONE_NEWUSER }), at(nr)).toBe(ALLOW);
      }
      // Another architecture's numbers mean other calls: allowed.
      expect(run(program, { arch: 0xdeadbeef, nr: 250 })).toBe(ALLOW);
      expect(run(program, { arch: 0xdeadbeef, nr: 56, arg0: CLONE_NEWUSER })).toBe(ALLOW);
    });
  }

  it('has no filter for an architecture it does not know', () => {
    expect(sandboxFilter('riscv64')).toBeNull();
  });
});
