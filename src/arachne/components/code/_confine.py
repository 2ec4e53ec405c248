"""Confinement of an isolate worker: namespaces, resource limits and a seccomp filter.

Imported by ``_worker.py`` from its own directory, so it uses only the standard library. The
worker calls :func:`enter_namespaces` first, while it has one thread; then imports what it
needs; then :func:`confine`, after which it can open no file, start no process, make no
socket and grow past its address space; and :func:`cpu_budget` before each batch of work.
This is defence in depth under the engines' own limits: a bug in QuickJS or wasmtime that
runs code of the guest's choosing still cannot reach the host.

Each step reports what it did as short text and never raises because a platform lacks it:
outside Linux (or on a machine other than x86_64 and aarch64, for the filter) the step says
it is not available and the others still run.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import math
import os
import platform
import signal
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

if sys.platform != "win32":  # Windows has no POSIX resource limits
    import resource

__all__ = ["confine", "cpu_budget", "enter_namespaces"]

_LINUX = sys.platform.startswith("linux")
_POSIX = os.name == "posix"

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 2, 4, 8, 0x4000, 0x40000

_OWN_MOUNTS = False
"""Whether :func:`enter_namespaces` gave this process a mount namespace of its own: only then
may it mount anything (as root elsewhere, a mount would change the host's view)."""
_CLONE_THREAD = 0x00010000
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: a thread may not carry one.
_CLONE_NAMESPACES = 0x7E020000

_PR_SET_PDEATHSIG = 1
_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

# Classic BPF opcodes used by the filter, and offsets into struct seccomp_data.
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_NR_AT = 0
_ARCH_AT = 4
_ARG0_AT = 16  # low 32 bits of args[0] on a little-endian machine
_X32_BIT = 0x40000000


@dataclass(frozen=True, slots=True)
class _Arch:
    """Syscall numbers of one architecture, as its seccomp filter needs them."""

    name: str
    audit: int  # AUDIT_ARCH_* that seccomp_data.arch carries
    seccomp: int
    clone: int
    clone3: int
    denied: dict[str, int]  # answered with EPERM
    x32: bool  # x86_64 also accepts x32 numbers (bit 30) under the same audit arch
    kill: int  # allowed for this process alone (its pid, or 0: its group, which is itself)
    prlimit64: int  # allowed for this process alone (pid 0 or its own)
    prctl: int  # allowed but for PR_SET_PDEATHSIG (it would stop dying with the runtime)
    own: tuple[int, ...]  # tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo: to its own pid only


# New syscalls share numbers across architectures (asm-generic, 424 and up).
_COMMON = {
    "io_uring_setup": 425,  # its rings run socket and connect without passing the filter
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_getfd": 438,
    "openat2": 437,
    "pidfd_send_signal": 424,
    "pidfd_open": 434,
    "process_madvise": 440,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "fchmodat2": 452,
}

_X86_64 = _Arch(
    name="x86_64",
    audit=0xC000003E,
    seccomp=317,
    clone=56,
    clone3=435,
    kill=62,
    prlimit64=302,
    prctl=157,
    own=(234, 129, 297),
    denied={
        "open": 2,
        "openat": 257,
        "creat": 85,
        "open_by_handle_at": 304,
        # Files changed by path (what an empty root leaves them is nothing; this, in case).
        "truncate": 76,
        "rename": 82,
        "mkdir": 83,
        "rmdir": 84,
        "link": 86,
        "unlink": 87,
        "symlink": 88,
        "chmod": 90,
        "chown": 92,
        "lchown": 94,
        "utime": 132,
        "mknod": 133,
        "utimes": 235,
        "mkdirat": 258,
        "mknodat": 259,
        "fchownat": 260,
        "futimesat": 261,
        "unlinkat": 263,
        "renameat": 264,
        "linkat": 265,
        "symlinkat": 266,
        "fchmodat": 268,
        "utimensat": 280,
        "renameat2": 316,
        "setxattr": 188,
        "lsetxattr": 189,
        "removexattr": 197,
        "lremovexattr": 198,
        "name_to_handle_at": 303,
        # Other processes, the machine and the kernel.
        "tkill": 200,
        "setpriority": 141,
        "sched_setaffinity": 203,
        "ioprio_set": 251,
        "migrate_pages": 256,
        "move_pages": 279,
        "kcmp": 312,
        "capset": 126,
        "syslog": 103,
        "personality": 135,
        "uselib": 134,
        "vhangup": 153,
        "adjtimex": 159,
        "settimeofday": 164,
        "clock_settime": 227,
        "clock_adjtime": 305,
        "acct": 163,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "sethostname": 170,
        "setdomainname": 171,
        "iopl": 172,
        "ioperm": 173,
        "init_module": 175,
        "delete_module": 176,
        "finit_module": 313,
        "quotactl": 179,
        "lookup_dcookie": 212,
        "kexec_load": 246,
        "kexec_file_load": 320,
        "fanotify_init": 300,
        "memfd_create": 319,
        "fork": 57,
        "vfork": 58,
        "execve": 59,
        "execveat": 322,
        "socket": 41,
        "socketpair": 53,
        "connect": 42,
        "bind": 49,
        "listen": 50,
        "accept": 43,
        "accept4": 288,
        "ptrace": 101,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "unshare": 272,
        "setns": 308,
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "chroot": 161,
        "bpf": 321,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "add_key": 248,
        "request_key": 249,
        "keyctl": 250,
        **_COMMON,
    },
    x32=True,
)

_AARCH64 = _Arch(
    name="aarch64",
    audit=0xC00000B7,
    seccomp=277,
    clone=220,
    clone3=435,
    kill=129,
    prlimit64=261,
    prctl=167,
    own=(131, 138, 240),
    denied={  # no fork or vfork: glibc makes processes with clone here
        "openat": 56,
        "open_by_handle_at": 265,
        "truncate": 45,
        "renameat": 38,
        "renameat2": 276,
        "mkdirat": 34,
        "unlinkat": 35,
        "symlinkat": 36,
        "linkat": 37,
        "fchmodat": 53,
        "fchownat": 54,
        "mknodat": 33,
        "utimensat": 88,
        "setxattr": 5,
        "lsetxattr": 6,
        "removexattr": 14,
        "lremovexattr": 15,
        "name_to_handle_at": 264,
        "tkill": 130,
        "setpriority": 140,
        "sched_setaffinity": 122,
        "ioprio_set": 30,
        "migrate_pages": 238,
        "move_pages": 239,
        "kcmp": 272,
        "capset": 91,
        "syslog": 116,
        "personality": 92,
        "vhangup": 58,
        "adjtimex": 171,
        "settimeofday": 170,
        "clock_settime": 112,
        "clock_adjtime": 266,
        "acct": 89,
        "swapon": 224,
        "swapoff": 225,
        "reboot": 142,
        "sethostname": 161,
        "setdomainname": 162,
        "init_module": 105,
        "delete_module": 106,
        "finit_module": 273,
        "quotactl": 60,
        "lookup_dcookie": 18,
        "kexec_load": 104,
        "kexec_file_load": 294,
        "fanotify_init": 262,
        "memfd_create": 279,
        "execve": 221,
        "execveat": 281,
        "socket": 198,
        "socketpair": 199,
        "connect": 203,
        "bind": 200,
        "listen": 201,
        "accept": 202,
        "accept4": 242,
        "ptrace": 117,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "unshare": 97,
        "setns": 268,
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "chroot": 51,
        "bpf": 280,
        "perf_event_open": 241,
        "userfaultfd": 282,
        "add_key": 217,
        "request_key": 218,
        "keyctl": 219,
        **_COMMON,
    },
    x32=False,
)

_ARCHES = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}


def _machine() -> str:
    """Name this process's architecture; a 32-bit Python on a 64-bit kernel is not the kernel's."""
    machine = platform.machine().lower()
    return machine if struct.calcsize("P") == 8 else f"{machine} (32-bit process)"


def enter_namespaces() -> str:
    """Move this process into new user, network, mount and IPC namespaces; say how it went.

    Call it while the process has one thread (the kernel refuses otherwise). Afterwards the
    only network is a loopback that is down, so a connection even to 127.0.0.1 fails, and the
    process holds no capability in the host's namespaces (root included), so it cannot raise
    a hard limit that :func:`confine` lowers. Returns ``"isolated (no network)"`` or
    ``"not isolated: <reason>"``; it never raises.
    """
    if not _LINUX:
        return f"not isolated: namespaces are not available on {sys.platform}"
    threads = _thread_count()
    if threads != 1:
        return f"not isolated: {threads} threads are running and unshare needs one"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        flags = _CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWNS | _CLONE_NEWIPC
        done = libc.unshare(ctypes.c_int(flags)) == 0
    except (OSError, AttributeError) as exc:
        return f"not isolated: {exc}"
    if not done:
        return f"not isolated: unshare failed ({_errno_text(ctypes.get_errno())})"
    global _OWN_MOUNTS
    _OWN_MOUNTS = True
    return "isolated (no network)"


def confine(address_space: int | None, *, network: str | None = None) -> dict[str, str]:
    """Confine this process for good; return what each step did, keyed by what it guards.

    Call it once, after the worker has imported everything it will use: from here on the
    process cannot open a file (an import that was not made already fails). In order:

    - ``parent``: SIGKILL when the parent thread that started this process ends
      (``PR_SET_PDEATHSIG``);
    - ``core``, ``writes``: ``RLIMIT_CORE`` and ``RLIMIT_FSIZE`` 0 (Python ignores SIGXFSZ,
      so a write to a regular file fails with EFBIG; pipes and devices are not files);
    - ``RLIMIT_NPROC`` 0, a backstop that Linux does not apply to uid 0;
    - ``files``: every descriptor above 2 closed, then ``RLIMIT_NOFILE`` 3;
    - ``memory``: ``RLIMIT_AS`` to ``address_space`` bytes, the total. A total below what is
      already mapped (``VmSize``, read before the descriptors close) would leave no room to
      run, so then the limit is what is mapped plus ``address_space``, and the text says so;
    - ``processes``, ``sockets``: a seccomp filter, on every thread, that kills the process
      on a foreign syscall ABI, answers EPERM to opening files (so closing a standard stream
      frees no slot for one), process creation, exec, sockets, ptrace and
      cross-process memory, namespaces and mounts, io_uring, bpf, perf, userfaultfd and
      keys, allows ``clone`` only for a thread without new namespaces, and answers ENOSYS to
      ``clone3`` so that glibc falls back to ``clone``.

    Limits are set soft and hard alike, so nothing in the process can raise them again.
    ``network``, if given (the text :func:`enter_namespaces` returned), is put first in the
    report. Raises ``ValueError`` for an ``address_space`` that is not positive.
    """
    if address_space is not None and address_space <= 0:
        raise ValueError(f"address_space must be a positive number of bytes, got {address_space}")
    report: dict[str, str] = {}
    if network is not None:
        report["network"] = network
    if not _POSIX:
        gone = f"not available on {sys.platform}"
        return report | dict.fromkeys(
            ("parent", "core", "writes", "files", "memory", "processes", "sockets"), gone
        )
    mapped = _mapped_bytes()
    report["parent"] = _die_with_parent()
    report["core"] = _limit("RLIMIT_CORE", 0) or "no core dumps"
    report["writes"] = _limit("RLIMIT_FSIZE", 0) or "no writes to files (RLIMIT_FSIZE 0)"
    nproc = _limit("RLIMIT_NPROC", 0)
    _close_descriptors()
    report["files"] = _limit("RLIMIT_NOFILE", 3) or "no new files (RLIMIT_NOFILE 3)"
    report["memory"] = _limit_memory(address_space, mapped)
    report["root"] = _empty_root()
    filtered = _install_filter()
    if filtered is None:
        report["processes"] = report["sockets"] = "blocked (seccomp)"
    else:
        extra = f"; RLIMIT_NPROC: {nproc}" if nproc else ""
        report["processes"] = f"not blocked: {filtered}{extra}"
        report["sockets"] = f"not blocked: {filtered}"
    return report


def cpu_budget(seconds: float) -> None:
    """Let this process use ``seconds`` more CPU time (at least), then end it with SIGXCPU.

    Sets the soft ``RLIMIT_CPU`` to the CPU time used so far (user and system, all threads)
    plus ``seconds``, rounded up to a whole second; the hard limit stays, so a later call may
    raise the soft one again (and a soft limit above a finite hard one is capped at it). Costs
    a ``getrusage`` and two rlimit calls, so it suits being called before every batch. Raises
    ``ValueError`` unless ``seconds`` is positive and finite, ``NotImplementedError`` where
    there are no resource limits (Windows): running unbounded would hide the missing limit.
    """
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"a CPU budget is a positive number of seconds, got {seconds}")
    if not _POSIX:
        raise NotImplementedError(f"no CPU time limit on {sys.platform}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: the threads Python knows of are the best count there is
        return threading.active_count()


def _errno_text(code: int) -> str:
    return f"{errno.errorcode.get(code, str(code))}: {os.strerror(code)}"


def _prctl(option: int, value: int) -> int | None:
    """Return None if ``prctl(option, value, 0, 0, 0)`` succeeded, else its errno."""
    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    if libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), zero, zero, zero) == 0:
        return None
    return ctypes.get_errno()


def _die_with_parent() -> str:
    if not _LINUX:
        return f"not available on {sys.platform}"
    failed = _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if failed is not None:
        return f"outlives the runtime: prctl failed ({_errno_text(failed)})"
    return "dies with the runtime"


def _limit(name: str, value: int) -> str | None:
    """Set soft and hard limit ``name`` to ``value``; return why not, or None."""
    which = getattr(resource, name, None)
    if which is None:
        return f"{name} not available on {sys.platform}"
    try:
        resource.setrlimit(which, (value, value))
    except (OSError, ValueError) as exc:
        return f"{name} {value} refused: {exc}"
    return None


def _close_descriptors() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = max(soft, 3) if hard == resource.RLIM_INFINITY else max(soft, hard, 3)
    with contextlib.suppress(OSError, ValueError):  # one opened before a lower soft limit
        top = max([top, *(int(fd) + 1 for fd in os.listdir("/proc/self/fd"))])
    os.closerange(3, top)


def _mapped_bytes() -> int | None:
    """Bytes of address space mapped now (``VmSize``), or None where /proc cannot tell."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


def _limit_memory(address_space: int | None, mapped: int | None) -> str:
    if address_space is None:
        return "address space not limited"
    size, note = address_space, ""
    if mapped is not None and address_space <= mapped:
        size = mapped + address_space
        note = f" (asked {_mib(address_space)}, below the {_mib(mapped)} already mapped)"
    failed = _limit("RLIMIT_AS", size)
    if failed:
        return f"not limited: {failed}"
    return f"address space {_mib(size)}{note}"


def _empty_root() -> str:
    """Make this process's root an empty, read-only file system of its own (a private tmpfs).

    Needs the mount namespace :func:`enter_namespaces` made; the host's files are then out of
    sight by any path. Returns what held.
    """
    if not _LINUX:
        return f"host files in view: not available on {sys.platform}"
    if not _OWN_MOUNTS:
        return "host files in view: no mount namespace of its own (see network)"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    here = os.path.dirname(os.path.abspath(__file__)).encode()
    steps: list[tuple[str, Callable[[], int]]] = [
        (
            "making mounts private",
            lambda: libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None),
        ),
        (
            "mounting an empty tmpfs",
            lambda: libc.mount(
                b"tmpfs", here, b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, b"size=4k,mode=0555"
            ),
        ),
        ("changing root", lambda: libc.chroot(here)),
    ]
    for what, step in steps:
        if step() != 0:
            return f"host files in view: {what} failed ({_errno_text(ctypes.get_errno())})"
    os.chdir("/")
    return "an empty root (no host file in sight)"


def _filter(arch: _Arch, pid: int) -> bytes:
    """Assemble the seccomp program for ``arch`` (process ``pid``) as ``struct sock_filter``s."""
    deny, nosys, allow = _RET_ERRNO | errno.EPERM, _RET_ERRNO | errno.ENOSYS, _RET_ALLOW
    # A str is a label; in an instruction, "" falls through and a name jumps to its label.
    code: list[str | tuple[int, str, str, int]] = [
        (_LD_ABS, "", "", _ARCH_AT),
        (_JEQ, "native", "", arch.audit),
        (_RET, "", "", _RET_KILL_PROCESS),
        "native",
        (_LD_ABS, "", "", _NR_AT),
    ]
    if arch.x32:
        code.append((_JGE, "nosys", "", _X32_BIT))
    code += [(_JEQ, "deny", "", number) for number in arch.denied.values()]
    code += [(_JEQ, "self_or_group", "", number) for number in (arch.kill, arch.prlimit64)]
    code += [(_JEQ, "self", "", number) for number in arch.own]
    code += [
        (_JEQ, "prctl", "", arch.prctl),
        (_JEQ, "nosys", "", arch.clone3),
        (_JEQ, "", "allow", arch.clone),
        (_LD_ABS, "", "", _ARG0_AT),
        (_JSET, "deny", "", _CLONE_NAMESPACES),
        (_JSET, "allow", "deny", _CLONE_THREAD),
        "self_or_group",  # the first argument: 0 or this pid
        (_LD_ABS, "", "", _ARG0_AT),
        (_JEQ, "allow", "", 0),
        (_JEQ, "allow", "deny", pid),
        "self",  # the first argument: this pid
        (_LD_ABS, "", "", _ARG0_AT),
        (_JEQ, "allow", "deny", pid),
        "prctl",
        (_LD_ABS, "", "", _ARG0_AT),
        (_JEQ, "deny", "allow", _PR_SET_PDEATHSIG),
        "deny",
        (_RET, "", "", deny),
        "nosys",
        (_RET, "", "", nosys),
        "allow",
        (_RET, "", "", allow),
    ]
    labels: dict[str, int] = {}
    program: list[tuple[int, str, str, int]] = []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(program)
        else:
            program.append(item)
    out = bytearray()
    for at, (op, if_true, if_false, k) in enumerate(program):
        jumps = [labels[label] - at - 1 if label else 0 for label in (if_true, if_false)]
        if not all(0 <= jump <= 255 for jump in jumps):
            raise RuntimeError(f"seccomp jump {jumps} from {at} is out of reach")
        out += struct.pack("=HBBI", op, jumps[0], jumps[1], k)
    return bytes(out)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _install_filter() -> str | None:
    """Install the seccomp filter on every thread; return why not, or None."""
    arch = _ARCHES.get(_machine()) if _LINUX else None
    if arch is None:
        where = _machine() if _LINUX else sys.platform
        return f"seccomp filter not available on {where}"
    failed = _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if failed is not None:
        return f"no_new_privs refused ({_errno_text(failed)})"
    program = _filter(arch, os.getpid())
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(
        ctypes.c_long(arch.seccomp),
        ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(_SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(fprog),
    )
    if result == 0:
        return None
    if result > 0:
        return f"seccomp could not reach thread {result}"
    code = ctypes.get_errno()
    if code != errno.ENOSYS:
        return f"seccomp refused ({_errno_text(code)})"
    # A kernel before 3.17 has no seccomp syscall: prctl filters the calling thread only.
    if threading.active_count() > 1:
        return "seccomp needs the seccomp syscall with threads running"
    opts = (ctypes.c_int(_PR_SET_SECCOMP), ctypes.c_ulong(_SECCOMP_MODE_FILTER))
    if libc.prctl(*opts, ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        return f"seccomp refused ({_errno_text(ctypes.get_errno())})"
    return None
