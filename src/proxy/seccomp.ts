/**
 * The seccomp filter the sandbox runs under (bubblewrap `--seccomp FD`): it refuses the kernel's
 * key management calls (add_key, request_key, keyctl) with EPERM and allows everything else.
 *
 * Why: a process inherits its caller's session keyring across every namespace bubblewrap makes
 * (a user namespace separates the user keyrings only), so a sandboxed command could search, read
 * and change the keys of whoever ran avfs (ARCHITECTURE.md, "The sandbox"). No command a sandbox
 * runs needs the kernel's keyrings.
 *
 * The program is classic BPF over `struct seccomp_data` (nr at offset 0, arch at offset 4), one
 * block per architecture the machine can execute: its own and its 32-bit compatibility mode (a
 * static 32-bit binary in the vault runs with the other numbers). On an architecture not listed
 * here (avfs supports x86_64 and arm64 Linux) there is no filter (null).
 */

/** Syscall numbers of add_key, request_key and keyctl per AUDIT_ARCH_* value. */
const KEYRING_CALLS: Record<string, Array<{ arch: number; calls: number[] }>> = {
  x64: [
    // x86_64, and its x32 ABI (the same numbers with bit 30 set)
    { arch: 0xc000003e, calls: [248, 249, 250, 0x40000000 | 248, 0x40000000 | 249, 0x40000000 | 250] },
    { arch: 0x40000003, calls: [286, 287, 288] }, // i386
  ],
  arm64: [
    { arch: 0xc00000b7, calls: [217, 218, 219] }, // aarch64
    { arch: 0x40000028, calls: [309, 310, 311] }, // arm (32-bit)
  ],
};

const LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;

type Insn = { code: number; jt: number; jf: number; k: number };

/** The filter for this machine's architecture, as bubblewrap reads it (struct sock_filter[]), or null. */
export function keyringFilter(arch: string = process.arch): Buffer | null {
  const blocks = KEYRING_CALLS[arch];
  if (!blocks) return null;
  // Layout: load arch; one jump per known arch to its block; allow (unknown arch); then per
  // block: load nr, one jump per call to DENY, allow; last, DENY.
  const blockSizes = blocks.map((b) => 1 + b.calls.length + 1);
  const blockStart = (i: number) => 1 + blocks.length + 1 + blockSizes.slice(0, i).reduce((a, n) => a + n, 0);
  const deny = blockStart(blocks.length);
  const prog: Insn[] = [{ code: LD_W_ABS, jt: 0, jf: 0, k: OFFSET_ARCH }];
  blocks.forEach((b, i) => prog.push({ code: JEQ_K, jt: blockStart(i) - (prog.length + 1), jf: 0, k: b.arch }));
  prog.push({ code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW });
  for (const b of blocks) {
    prog.push({ code: LD_W_ABS, jt: 0, jf: 0, k: OFFSET_NR });
    for (const nr of b.calls) prog.push({ code: JEQ_K, jt: deny - (prog.length + 1), jf: 0, k: nr >>> 0 });
    prog.push({ code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW });
  }
  prog.push({ code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | EPERM });
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach((insn, i) => {
    if (insn.jt > 255) throw new Error('seccomp filter jump out of range');
    out.writeUInt16LE(insn.code, i * 8);
    out.writeUInt8(insn.jt, i * 8 + 2);
    out.writeUInt8(insn.jf, i * 8 + 3);
    out.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return out;
}
