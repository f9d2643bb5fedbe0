/**
 * The seccomp filter the sandbox runs under (bubblewrap `--seccomp FD`). It refuses:
 * - the kernel's key management calls (add_key, request_key, keyctl) with EPERM: a process
 *   inherits its caller's session keyring across every namespace bubblewrap makes (a user
 *   namespace separates the user keyrings only), so a sandboxed command could search, read and
 *   change the keys of whoever ran avfs;
 * - new user namespaces (unshare or clone with CLONE_NEWUSER) with EPERM: in one, a command holds
 *   every capability again (over its own namespaces only, but with the kernel surface that opens),
 *   and each one it keeps open counts against the host's user.max_user_namespaces, shared with
 *   every sandbox of the machine: at the limit, bubblewrap cannot start (ARCHITECTURE.md, "The
 *   sandbox");
 * - clone3 with ENOSYS: its flags are behind a pointer a filter cannot read, and ENOSYS makes the C
 *   library fall back to clone, whose flags it can;
 * - io_uring (io_uring_setup, _enter, _register) with ENOSYS, as on a kernel built without it: a
 *   large kernel surface of its own, behind many of the kernel's recent privilege escalations
 *   (Docker's default profile and ChromeOS turn it off too), and the sandbox's root is the host's
 *   uid 0, so an escalation there is the host. Its users (libuv in Node, liburing) fall back to
 *   ordinary calls on ENOSYS.
 * - reaching into another process (ptrace, process_vm_readv and _writev, pidfd_getfd) with EPERM:
 *   every process inside runs as one user, bubblewrap's own init (pid 1) included, and that init
 *   holds the descriptor through which it tells the bubblewrap outside the command's exit status.
 *   A process that took it (pidfd_getfd, or ptrace) could end the run early with any status it
 *   chose, and avfs would report that as the command's. Debuggers and strace inside get EPERM,
 *   as in Flatpak's sandbox without --devel.
 * No other command a sandbox runs needs these. Everything else is allowed.
 *
 * The program is classic BPF over `struct seccomp_data` (nr at offset 0, arch at offset 4, the
 * first argument's low word at offset 16 on these little-endian machines), one block per
 * architecture the machine can execute: its own and its 32-bit compatibility mode (a static
 * 32-bit binary in the vault runs with the other numbers). On an architecture not listed here
 * (avfs supports x86_64 and arm64 Linux) there is no filter (null).
 */

interface ArchCalls {
  /** AUDIT_ARCH_* value. */
  arch: number;
  /** add_key, request_key, keyctl. */
  keyring: number[];
  /** ptrace, process_vm_readv, process_vm_writev and pidfd_getfd. */
  tracing: number[];
  /** clone and unshare: refused when their flags (first argument) ask for a user namespace. */
  namespaces: number[];
  /** clone3 and the io_uring calls: answered ENOSYS, as a kernel without them would. */
  unavailable: number[];
}

/** x86_64's x32 ABI: the same numbers with bit 30 set, under x86_64's arch value. */
const X32 = 0x40000000;

/** io_uring_setup, io_uring_enter, io_uring_register and clone3: calls added since Linux 5.1 have one number on every architecture. */
const NEWER = [425, 426, 427, 435];

/** pidfd_getfd (Linux 5.6): one number on every architecture. */
const PIDFD_GETFD = 438;

const CALLS: Record<string, ArchCalls[]> = {
  x64: [
    {
      arch: 0xc000003e,
      keyring: [248, 249, 250, X32 | 248, X32 | 249, X32 | 250],
      // x32 has its own numbers for ptrace and process_vm_* (521, 539, 540); 64-bit's are refused there too.
      tracing: [101, 310, 311, PIDFD_GETFD, ...[101, 310, 311, 521, 539, 540, PIDFD_GETFD].map((nr) => X32 | nr)],
      namespaces: [56, 272, X32 | 56, X32 | 272],
      unavailable: [...NEWER, ...NEWER.map((nr) => X32 | nr)],
    },
    { arch: 0x40000003, keyring: [286, 287, 288], tracing: [26, 347, 348, PIDFD_GETFD], namespaces: [120, 310], unavailable: NEWER }, // i386
  ],
  arm64: [
    { arch: 0xc00000b7, keyring: [217, 218, 219], tracing: [117, 270, 271, PIDFD_GETFD], namespaces: [220, 97], unavailable: NEWER }, // aarch64
    { arch: 0x40000028, keyring: [309, 310, 311], tracing: [26, 376, 377, PIDFD_GETFD], namespaces: [120, 337], unavailable: NEWER }, // arm (32-bit)
  ],
};

const LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0 = 16;

/** An instruction whose jumps name labels (resolved to forward offsets by assemble), or a label. */
type Line = { code: number; k: number; jt?: string; jf?: string } | { label: string };

/** The filter for this machine's architecture, as bubblewrap reads it (struct sock_filter[]), or null. */
export function sandboxFilter(arch: string = process.arch): Buffer | null {
  const blocks = CALLS[arch];
  if (!blocks) return null;
  const lines: Line[] = [{ code: LD_W_ABS, k: OFFSET_ARCH }];
  blocks.forEach((b, i) => lines.push({ code: JEQ_K, k: b.arch, jt: `arch${i}` }));
  lines.push({ code: RET_K, k: SECCOMP_RET_ALLOW }); // an architecture not listed: its numbers mean other calls
  blocks.forEach((b, i) => {
    lines.push({ label: `arch${i}` }, { code: LD_W_ABS, k: OFFSET_NR });
    for (const nr of [...b.keyring, ...b.tracing]) lines.push({ code: JEQ_K, k: nr, jt: 'eperm' });
    for (const nr of b.unavailable) lines.push({ code: JEQ_K, k: nr, jt: 'enosys' });
    for (const nr of b.namespaces) lines.push({ code: JEQ_K, k: nr, jt: 'flags' });
    lines.push({ code: RET_K, k: SECCOMP_RET_ALLOW });
  });
  lines.push(
    { label: 'flags' },
    { code: LD_W_ABS, k: OFFSET_ARG0 },
    { code: JSET_K, k: CLONE_NEWUSER, jt: 'eperm' },
    { code: RET_K, k: SECCOMP_RET_ALLOW },
    { label: 'enosys' },
    { code: RET_K, k: SECCOMP_RET_ERRNO | ENOSYS },
    { label: 'eperm' },
    { code: RET_K, k: SECCOMP_RET_ERRNO | EPERM },
  );
  return assemble(lines);
}

/** struct sock_filter[]: each label becomes the offset from the instruction after the jump (BPF jumps only forward). */
function assemble(lines: Line[]): Buffer {
  const at = new Map<string, number>();
  const insns: Array<{ code: number; k: number; jt?: string; jf?: string }> = [];
  for (const line of lines) {
    if ('label' in line) at.set(line.label, insns.length);
    else insns.push(line);
  }
  const out = Buffer.alloc(insns.length * 8);
  insns.forEach((insn, i) => {
    const offset = (label: string | undefined) => {
      if (label === undefined) return 0;
      const d = at.get(label)! - (i + 1);
      if (!(d >= 0 && d <= 255)) throw new Error(`seccomp filter jump to ${label} out of range`);
      return d;
    };
    out.writeUInt16LE(insn.code, i * 8);
    out.writeUInt8(offset(insn.jt), i * 8 + 2);
    out.writeUInt8(offset(insn.jf), i * 8 + 3);
    out.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return out;
}
