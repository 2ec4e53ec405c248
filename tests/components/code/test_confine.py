"""Worker confinement: each test confines a child Python and has it try what is forbidden.

A confined process cannot be undone, so every confinement happens in a child started here
(``python -I``, empty environment, like the worker); the child prints one JSON line of what
it saw. Only the seccomp program itself is checked in this process, by running it on a
small BPF interpreter for both architectures.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from arachne.components.code import _confine

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="confinement is built on Linux interfaces"
)

BOUND = 30.0  # seconds: a bound on a hang, not a timing claim
MIB = 1 << 20
HERE = os.path.dirname(_confine.__file__)

PRELUDE = f"""
import ctypes, errno, json, os, resource, signal, socket, subprocess, sys, threading
sys.path.insert(0, {HERE!r})
import _confine

def attempt(action):
    try:
        action()
    except BaseException as exc:  # what the child saw, reported as data
        return [type(exc).__name__, getattr(exc, "errno", None)]
    return "ok"
"""


def run_child(body: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    code = PRELUDE + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        env={},
        timeout=BOUND,
        check=False,
        **kwargs,
    )


def outcome(body: str, **kwargs: Any) -> dict[str, Any]:
    done = run_child(body, **kwargs)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_unshare_works_on_this_machine() -> None:
    """The probe the network test leans on: if this fails, the network test says why."""
    seen = outcome('print(json.dumps({"network": _confine.enter_namespaces()}))')
    assert seen["network"] == "isolated (no network)"


def test_the_report_names_what_each_step_did() -> None:
    seen = outcome("""
        network = _confine.enter_namespaces()
        print(json.dumps(_confine.confine(512 << 20, network=network)))
    """)
    assert seen == {
        "network": "isolated (no network)",
        "parent": "dies with the runtime",
        "core": "no core dumps",
        "writes": "no writes to files (RLIMIT_FSIZE 0)",
        "files": "no new files (RLIMIT_NOFILE 3)",
        "memory": "address space 512 MiB",
        "root": "an empty root (no host file in sight)",
        "processes": "blocked (seccomp)",
        "sockets": "blocked (seccomp)",
    }


def test_the_host_files_are_out_of_sight_and_without_a_namespace_nothing_is_mounted(
    tmp_path: Any,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host data")
    seen = outcome(f"""
        network = _confine.enter_namespaces()
        report = _confine.confine(None, network=network)
        print(json.dumps(dict(
            root=report["root"],
            etc=attempt(lambda: os.stat("/etc")),
            seen=os.path.exists({str(secret)!r}),
            unlinked=attempt(lambda: os.unlink({str(secret)!r})),
        )))
    """)
    assert seen == {
        "root": "an empty root (no host file in sight)",
        "etc": ["FileNotFoundError", errno.ENOENT],
        "seen": False,
        "unlinked": ["PermissionError", errno.EPERM],
    }
    assert secret.read_text() == "host data"
    # Without a mount namespace of its own it must not mount: here that would be the host's.
    alone = outcome('print(json.dumps({"root": _confine.confine(None)["root"]}))')["root"]
    assert alone == "host files in view: no mount namespace of its own (see network)"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        assert "components/code" not in mounts.read()


def test_a_listening_socket_on_the_host_cannot_be_reached() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        seen = outcome(f"""
            address = ("127.0.0.1", {port})
            def connect(sock):
                with sock:
                    sock.connect(address)
            before = attempt(lambda: connect(socket.socket()))  # control: it does listen
            kept = socket.socket()  # made in the host's namespace, kept as fd 2
            os.dup2(kept.fileno(), 2)
            kept.close()
            network = _confine.enter_namespaces()
            isolated = attempt(lambda: connect(socket.socket()))
            _confine.confine(None)
            confined = attempt(lambda: connect(socket.socket(fileno=2)))
            print(json.dumps(dict(
                before=before, network=network, isolated=isolated, confined=confined
            )))
        """)
        listener.setblocking(False)
        listener.accept()[0].close()  # the control's connection
        with pytest.raises(BlockingIOError):
            listener.accept()  # and no other
    assert seen["before"] == "ok"
    if seen["network"] == "isolated (no network)":
        assert seen["isolated"] == ["OSError", errno.ENETUNREACH]
    else:  # unshare refused: the report must say so, and the network is then reachable
        assert seen["network"].startswith("not isolated: ")
        assert seen["isolated"] == "ok"
    assert seen["confined"] == ["PermissionError", errno.EPERM]  # seccomp, namespace or not


def test_no_socket_can_be_made() -> None:
    seen = outcome("""
        _confine.confine(None, network=_confine.enter_namespaces())
        print(json.dumps(dict(
            tcp=attempt(socket.socket),
            unix=attempt(lambda: socket.socket(socket.AF_UNIX)),
            pair=attempt(socket.socketpair),
        )))
    """)
    assert seen == {name: ["PermissionError", errno.EPERM] for name in ("tcp", "unix", "pair")}


def test_no_process_can_start() -> None:
    seen = outcome("""
        _confine.confine(None, network=_confine.enter_namespaces())
        print(json.dumps(dict(
            fork=attempt(os.fork),
            spawn=attempt(lambda: os.posix_spawn("/bin/true", ["true"], {})),
            exec=attempt(lambda: os.execv("/bin/true", ["true"])),
            subprocess=attempt(lambda: subprocess.run(["/bin/true"], check=False)),
        )))
    """)
    refused = ["PermissionError", errno.EPERM]
    assert seen["fork"] == seen["spawn"] == seen["exec"] == refused
    # subprocess needs a pipe before it forks, and there is no descriptor left for one
    assert seen["subprocess"] in (refused, ["OSError", errno.EMFILE])


def test_no_file_opens_and_none_is_written(tmp_path: Any) -> None:
    existing = tmp_path / "existing"
    existing.write_text("secret")
    target = tmp_path / "target"
    seen = outcome(f"""
        early = os.open({str(existing)!r}, os.O_RDONLY)  # opened before: closed by confine
        out = os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)
        os.dup2(out, 2)  # a regular file that stays open, as stderr
        _confine.confine(None, network=_confine.enter_namespaces())
        print(json.dumps(dict(
            read=attempt(lambda: open({str(existing)!r}).read()),
            system=attempt(lambda: open("/etc/hostname").read()),
            create=attempt(lambda: open({str(tmp_path / "new")!r}, "w")),
            early=attempt(lambda: os.fstat(early)),
            write=attempt(lambda: os.write(2, b"leak")),
            freed=attempt(lambda: (os.close(0), open("/etc/hostname").read())),
        )))
    """)
    assert seen == {
        "read": ["PermissionError", errno.EPERM],
        "system": ["PermissionError", errno.EPERM],
        "create": ["PermissionError", errno.EPERM],
        "freed": ["PermissionError", errno.EPERM],  # a closed stream frees no way in
        "early": ["OSError", errno.EBADF],
        "write": ["OSError", errno.EFBIG],
    }
    assert target.read_bytes() == b""
    assert not (tmp_path / "new").exists()


def test_threads_still_start_and_join() -> None:
    seen = outcome("""
        _confine.confine(256 << 20, network=_confine.enter_namespaces())
        done = []
        workers = [threading.Thread(target=done.append, args=(n,)) for n in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        print(json.dumps({"done": sorted(done)}))
    """)
    assert seen == {"done": [0, 1, 2, 3]}


def test_raw_syscalls_get_the_filters_answer() -> None:
    # Each call would get a different answer (success, EFAULT, EINVAL, EBADF) without the filter.
    seen = outcome("""
        arch = _confine._ARCHES[_confine._machine()]
        libc = ctypes.CDLL(None, use_errno=True)
        def call(number, *args):
            if libc.syscall(ctypes.c_long(number), *map(ctypes.c_long, args)) == -1:
                return errno.errorcode[ctypes.get_errno()]
            return "ok"
        _confine.confine(None, network=_confine.enter_namespaces())
        thread_in_new_netns = 0x100 | 0x800 | 0x10000 | 0x40000000  # VM SIGHAND THREAD NEWNET
        print(json.dumps(dict(
            clone3=call(arch.clone3, 0, 0),
            fork_by_clone=call(arch.clone, int(signal.SIGCHLD), 0, 0, 0, 0),
            thread_in_new_netns=call(arch.clone, thread_in_new_netns, 0, 0, 0, 0),
            unshare=call(arch.denied["unshare"], 0x40000000),
            setns=call(arch.denied["setns"], -1, 0),
            mount=call(arch.denied["mount"], 0, 0, 0, 0, 0),
            ptrace=call(arch.denied["ptrace"], 0, 0, 0, 0),
            io_uring_setup=call(arch.denied["io_uring_setup"], 1, 0),
            getpid=call(39 if arch.name == "x86_64" else 172),
        )))
    """)
    assert seen == {
        "clone3": "ENOSYS",
        "fork_by_clone": "EPERM",
        "thread_in_new_netns": "EPERM",
        "unshare": "EPERM",
        "setns": "EPERM",
        "mount": "EPERM",
        "ptrace": "EPERM",
        "io_uring_setup": "EPERM",
        "getpid": "ok",
    }


def test_a_memory_bomb_raises_memory_error() -> None:
    seen = outcome("""
        report = _confine.confine(256 << 20, network=_confine.enter_namespaces())
        print(json.dumps(dict(
            memory=report["memory"],
            bomb=attempt(lambda: b"x" * (2 << 30)),
            small=attempt(lambda: b"x" * (1 << 20)),
        )))
    """)
    assert seen == {
        "memory": "address space 256 MiB",
        "bomb": ["MemoryError", None],
        "small": "ok",
    }


def test_an_address_space_below_what_is_mapped_is_added_to_it() -> None:
    seen = outcome("""
        report = _confine.confine(1 << 20, network=_confine.enter_namespaces())
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        print(json.dumps(dict(memory=report["memory"], soft=soft, hard=hard)))
    """)
    assert seen["soft"] == seen["hard"] > 1 * MIB
    assert seen["memory"].startswith(
        f"address space {seen['soft'] / MIB:,.0f} MiB (asked 1 MiB, below the "
    )


def test_a_cpu_budget_ends_a_busy_worker_with_sigxcpu() -> None:
    done = run_child("""
        _confine.confine(None, network=_confine.enter_namespaces())
        _confine.cpu_budget(1)
        print("spinning", flush=True)
        while True:
            pass
    """)
    assert done.stdout == "spinning\n"
    assert done.returncode == -signal.SIGXCPU


def test_a_cpu_budget_moves_the_soft_limit_and_keeps_the_hard_one() -> None:
    seen = outcome("""
        resource.setrlimit(resource.RLIMIT_CPU, (1000, 1000))
        def used():
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime
        _confine.cpu_budget(5)
        first, first_used = resource.getrlimit(resource.RLIMIT_CPU), used()
        _confine.cpu_budget(100.5)
        second, second_used = resource.getrlimit(resource.RLIMIT_CPU), used()
        _confine.cpu_budget(5000)
        capped = resource.getrlimit(resource.RLIMIT_CPU)
        print(json.dumps(dict(
            first=first, first_used=first_used, second=second, second_used=second_used,
            capped=capped,
        )))
    """)
    assert seen["first"][1] == seen["second"][1] == seen["capped"][1] == 1000
    assert seen["first_used"] + 5 <= seen["first"][0] <= seen["first_used"] + 6
    assert seen["second_used"] + 100.5 <= seen["second"][0] <= seen["second_used"] + 101.5
    assert seen["capped"][0] == 1000


def test_inconsistent_arguments_raise_before_anything_changes() -> None:
    seen = outcome("""
        before = resource.getrlimit(resource.RLIMIT_CPU)
        print(json.dumps(dict(
            memory=attempt(lambda: _confine.confine(0)),
            zero=attempt(lambda: _confine.cpu_budget(0)),
            nan=attempt(lambda: _confine.cpu_budget(float("nan"))),
            forever=attempt(lambda: _confine.cpu_budget(float("inf"))),
            files=attempt(lambda: open("/etc/hostname").close()),
            unchanged=resource.getrlimit(resource.RLIMIT_CPU) == before,
        )))
    """)
    assert seen["memory"] == seen["zero"] == seen["nan"] == seen["forever"] == ["ValueError", None]
    assert seen["files"] == "ok"
    assert seen["unchanged"]


def test_namespaces_need_a_single_thread() -> None:
    seen = outcome("""
        gate = threading.Event()
        other = threading.Thread(target=gate.wait)
        other.start()
        network = _confine.enter_namespaces()
        gate.set()
        other.join()
        print(json.dumps({"network": network}))
    """)
    assert seen == {"network": "not isolated: 2 threads are running and unshare needs one"}


def test_a_failed_unshare_names_its_errno() -> None:
    seen = outcome("""
        _confine.confine(None)  # its filter refuses unshare
        print(json.dumps({"network": _confine.enter_namespaces()}))
    """)
    assert seen == {"network": "not isolated: unshare failed (EPERM: Operation not permitted)"}


def test_on_another_system_each_step_says_it_is_not_available() -> None:
    seen = outcome("""
        sys.modules.pop("_confine")
        sys.platform = "darwin"
        import _confine
        print(json.dumps(_confine.confine(256 << 20, network=_confine.enter_namespaces())))
    """)
    assert seen == {
        "network": "not isolated: namespaces are not available on darwin",
        "parent": "not available on darwin",
        "core": "no core dumps",
        "writes": "no writes to files (RLIMIT_FSIZE 0)",
        "files": "no new files (RLIMIT_NOFILE 3)",
        "memory": "address space 256 MiB",
        "root": "host files in view: not available on darwin",
        "processes": "not blocked: seccomp filter not available on darwin",
        "sockets": "not blocked: seccomp filter not available on darwin",
    }


def test_on_another_machine_the_filter_is_not_available_and_the_rest_runs() -> None:
    seen = outcome("""
        import platform
        platform.machine = lambda: "riscv64"
        report = _confine.confine(None, network=_confine.enter_namespaces())
        os.close(2)  # a free descriptor for the socket
        print(json.dumps(dict(report=report, socket=attempt(socket.socket))))
    """)
    assert seen["report"]["processes"] == "not blocked: seccomp filter not available on riscv64"
    assert seen["report"]["parent"] == "dies with the runtime"
    assert seen["report"]["files"] == "no new files (RLIMIT_NOFILE 3)"
    assert seen["socket"] == "ok"  # nothing filters it: the report told the truth


def test_the_worker_dies_with_its_parent() -> None:
    """A child starts a grandchild, waits until it is confined, and exits; the grandchild dies.

    The grandchild's stdout is a pipe read here and its stdin a pipe held open here, so it
    would block for ever; the end of its stdout shows it died.
    """
    grandchild = PRELUDE + textwrap.dedent("""
        _confine.confine(None, network=_confine.enter_namespaces())
        os.write(2, b"ready\\n")
        os.read(0, 1)
    """)
    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    try:
        parent = run_child(
            f"""
            child = subprocess.Popen(
                [sys.executable, "-I", "-c", {grandchild!r}],
                stdin={stdin_read}, stdout={stdout_write}, stderr=subprocess.PIPE,
                pass_fds=({stdin_read}, {stdout_write}), env={{}},
            )
            print(child.pid, child.stderr.readline().decode().strip(), flush=True)
            """,
            pass_fds=(stdin_read, stdout_write),
        )
        os.close(stdout_write)
        os.close(stdin_read)
        pid, ready = parent.stdout.split()
        assert ready == "ready", parent.stderr
        readable, _, _ = select.select([stdout_read], [], [], BOUND)
        if not readable:
            os.kill(int(pid), signal.SIGKILL)
        assert readable, "the grandchild outlived its parent"
        assert os.read(stdout_read, 1) == b""
    finally:
        for fd in (stdin_write, stdout_read):
            os.close(fd)


# --- the seccomp program, run here on a BPF interpreter for both architectures ---


def run_filter(program: bytes, arch: int, number: int, arg0: int = 0) -> int:
    """Return the action of ``program`` for one syscall (the five opcodes the filter uses)."""
    data = struct.pack("=iIQ6Q", number, arch, 0, arg0, 0, 0, 0, 0, 0)
    code = list(struct.iter_unpack("=HBBI", program))
    accumulator, at = 0, 0
    while True:
        op, if_true, if_false, k = code[at]
        at += 1
        if op == 0x20:
            (accumulator,) = struct.unpack_from("=I", data, k)
        elif op == 0x06:
            return k
        else:
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: accumulator & k}[op]
            at += if_true if taken else if_false


ARCHES = [_confine._X86_64, _confine._AARCH64]
PID = 4242  # the process the program is built for
EPERM = 0x00050000 | errno.EPERM
ENOSYS = 0x00050000 | errno.ENOSYS
ALLOW = 0x7FFF0000
KILL = 0x80000000
THREAD = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000


@pytest.mark.parametrize("arch", ARCHES, ids=lambda arch: arch.name)
def test_the_filter_denies_each_listed_syscall(arch: _confine._Arch) -> None:
    program = _confine._filter(arch, PID)
    for name, number in arch.denied.items():
        assert run_filter(program, arch.audit, number) == EPERM, name
    getpid = {"x86_64": 39, "aarch64": 172}[arch.name]
    assert run_filter(program, arch.audit, getpid) == ALLOW
    assert run_filter(program, arch.audit, arch.seccomp) == ALLOW


@pytest.mark.parametrize("arch", ARCHES, ids=lambda arch: arch.name)
def test_the_filter_lets_clone_make_threads_only(arch: _confine._Arch) -> None:
    program = _confine._filter(arch, PID)
    assert run_filter(program, arch.audit, arch.clone, THREAD) == ALLOW
    assert run_filter(program, arch.audit, arch.clone, int(signal.SIGCHLD)) == EPERM  # fork
    assert run_filter(program, arch.audit, arch.clone, 0x100 | 0x4000 | 17) == EPERM  # vfork
    for namespace in (0x20000, 0x02000000, 0x04000000, 0x08000000, 0x20000000, 0x40000000):
        assert run_filter(program, arch.audit, arch.clone, THREAD | namespace) == EPERM
    assert run_filter(program, arch.audit, arch.clone3, 0) == ENOSYS


@pytest.mark.parametrize("arch", ARCHES, ids=lambda arch: arch.name)
def test_the_filter_kills_on_a_foreign_abi(arch: _confine._Arch) -> None:
    program = _confine._filter(arch, PID)
    for foreign in (0x40000003, 0x40000028, 0xC00000B7, 0xC000003E):  # i386, ARM, the other
        if foreign != arch.audit:
            assert run_filter(program, foreign, 39) == KILL
    x32_getpid = 0x40000000 | 39
    expected = ENOSYS if arch.name == "x86_64" else ALLOW  # aarch64 has no such numbers
    assert run_filter(program, arch.audit, x32_getpid) == expected


@pytest.mark.parametrize("arch", ARCHES, ids=lambda arch: arch.name)
def test_the_filter_lets_signals_and_limits_reach_this_process_only(arch: _confine._Arch) -> None:
    program = _confine._filter(arch, PID)
    for number in (arch.kill, arch.prlimit64):
        assert run_filter(program, arch.audit, number, PID) == ALLOW
        assert run_filter(program, arch.audit, number, 0) == ALLOW  # its group: itself
        for other in (1, PID + 1, 0xFFFFFFFF):  # init, a neighbour, -1 (every process)
            assert run_filter(program, arch.audit, number, other) == EPERM
    for number in arch.own:  # tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo
        assert run_filter(program, arch.audit, number, PID) == ALLOW
        assert run_filter(program, arch.audit, number, 1) == EPERM
    assert run_filter(program, arch.audit, arch.prctl, 1) == EPERM  # PR_SET_PDEATHSIG
    assert run_filter(program, arch.audit, arch.prctl, 15) == ALLOW  # PR_SET_NAME


def test_no_syscall_number_is_listed_twice() -> None:
    for arch in ARCHES:
        numbers = list(arch.denied.values())
        assert len(numbers) == len(set(numbers)), arch.name
        special = {arch.kill, arch.prlimit64, arch.prctl, arch.clone, arch.clone3, *arch.own}
        assert special.isdisjoint(numbers), arch.name


def test_aarch64_has_no_fork_or_vfork_syscall() -> None:
    assert {"fork", "vfork"}.isdisjoint(_confine._AARCH64.denied)
    assert {"fork", "vfork"} <= set(_confine._X86_64.denied)
