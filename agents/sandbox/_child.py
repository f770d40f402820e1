"""The sandbox launcher: the first process of every sandboxed execution.

relay runs this file as ``python -I -S -B _child.py '<json config>'``. It imports only
the standard library (it must not import relay: it runs before any isolation is in force and
must stay small enough to audit). Three processes come out of it:

- the launcher (L) creates the namespaces the OS allows, sets up the child's view of the
  file system, forks the supervisor and exits with it;
- the supervisor (S) is pid 1 of the new pid namespace when there is one: it forks the
  target, reaps every orphan, reports the target's exit and exits, which makes the kernel
  kill whatever the target left behind;
- the target (T) applies the resource limits, drops to the unprivileged run uid, sets
  no_new_privs, resets signal dispositions and execs the code.

Facts (which isolation succeeded, the target's exit status, any setup failure) are written
as JSON lines to ``status_fd``, a pipe relay reads. The pipe is close-on-exec, so untrusted
code never holds it and cannot forge a report.

Run with ``{"sweep_uid": N}`` instead, it kills every process of uid N (used when there is
no pid namespace to take the whole tree down at once).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import stat
import sys
import time
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = {
    "mount": CLONE_NEWNS,
    "net": CLONE_NEWNET,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "pid": CLONE_NEWPID,
}

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

# Directories every user may write to; in a mount namespace they all become one private,
# size-limited tmpfs, so "write to /tmp" cannot fill the host's disk either.
SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
# What the new root holds of the host, read-only: where programs and libraries live.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}
# Mounted over in the launcher's own mount namespace only, so the host's /tmp is untouched.
NEW_ROOT = "/tmp"
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

RLIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "core": resource.RLIMIT_CORE,
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.syscall.argtypes = [ctypes.c_long, ctypes.c_char_p, ctypes.c_char_p]
MNT_DETACH = 2
# All five arguments, always: some options (no_new_privs) insist the unused ones are zero.
_libc.prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]


class SetupError(Exception):
    """Isolation the run requires could not be put in place; the run must not start."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, value, 0, 0, 0), f"prctl {option}")


class Reporter:
    """Writes JSON lines to the status pipe relay reads."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_inheritable(fd, False)

    def send(self, **message: Any) -> None:
        data = (json.dumps(message) + "\n").encode()
        with contextlib.suppress(OSError):
            os.write(self.fd, data)


# -- seccomp --------------------------------------------------------------------------------

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7
EPERM, ENOSYS = 1, 38
# What model-written code has no business calling: namespaces, mounts, tracing, the kernel's
# keyring, BPF, perf, kernel modules and the like. Denied with EPERM.
DENIED_SYSCALLS = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "open_by_handle_at",
    "name_to_handle_at",
    "userfaultfd",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "quotactl",
)
CLONE_NAMESPACE_BITS = (
    CLONE_NEWNS,
    CLONE_NEWUTS,
    CLONE_NEWIPC,
    CLONE_NEWUSER,
    CLONE_NEWPID,
    CLONE_NEWNET,
    0x02000000,  # CLONE_NEWCGROUP
    0x00000080,  # CLONE_NEWTIME
)


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _errno_action(errno: int) -> int:
    return 0x00050000 | (errno & 0xFFFF)


def seccomp_available(config: dict[str, Any]) -> str:
    """ "ok" when the filter can be loaded; else why not, which fails the run unless it is
    unconfined. The filter itself is loaded by the target, the last step before exec."""
    try:
        ctypes.CDLL("libseccomp.so.2")
    except OSError as exc:
        if not config.get("unconfined"):
            raise SetupError(f"no seccomp filter: libseccomp is not installed ({exc})") from None
        config["seccomp"] = False
        return f"libseccomp is not installed ({exc})"
    return "ok"


def load_seccomp() -> None:
    """Install the deny-list filter through libseccomp (the C library, by ctypes: the
    launcher may import only the standard library). The filter survives exec."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        raise SetupError(f"libseccomp is not installed ({exc})") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SetupError("seccomp_init failed")
    try:

        def rule(name: str, action: int, *cmps: _ArgCmp) -> None:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                return  # not a system call on this architecture
            array = (_ArgCmp * max(len(cmps), 1))(*cmps)
            result = lib.seccomp_rule_add_array(ctx, action, number, len(cmps), array)
            if result != 0:
                raise SetupError(f"seccomp rule for {name}: {os.strerror(-result)}")

        for name in DENIED_SYSCALLS:
            rule(name, _errno_action(EPERM))
        for bit in CLONE_NAMESPACE_BITS:
            rule("clone", _errno_action(EPERM), _ArgCmp(0, SCMP_CMP_MASKED_EQ, bit, bit))
        # clone3 passes its flags in memory a filter cannot read: say it does not exist, and
        # the C library falls back to clone, whose flags are checked above.
        rule("clone3", _errno_action(ENOSYS))
        result = lib.seccomp_load(ctx)
        if result != 0:
            raise SetupError(f"seccomp_load: {os.strerror(-result)}")
    finally:
        lib.seccomp_release(ctx)


# -- launcher -------------------------------------------------------------------------------


def enter_user_namespace() -> str:
    """Without root, a user namespace is what lets us create the others."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare user")
    maps = {"setgroups": "deny", "uid_map": f"{uid} {uid} 1", "gid_map": f"{gid} {gid} 1"}
    for name, text in maps.items():
        with open(f"/proc/self/{name}", "w") as file:
            file.write(text)
    return "ok"


def unshare_namespaces(wanted: list[str]) -> dict[str, str]:
    """Create each wanted namespace on its own, so one refusal does not cost the others."""
    facts: dict[str, str] = {}
    if wanted and os.geteuid() != 0:
        try:
            facts["user"] = enter_user_namespace()
        except OSError as exc:
            facts["user"] = str(exc)
    for name in wanted:
        try:
            _check(_libc.unshare(NAMESPACE_FLAGS[name]), f"unshare {name}")
            facts[name] = "ok"
        except OSError as exc:
            facts[name] = str(exc)
    return facts


def searchable(path: str, uid: int, gid: int) -> bool:
    """Whether uid/gid (with no supplementary groups) may traverse the directory ``path``."""
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def first_unsearchable(path: str, uid: int, gid: int) -> str | None:
    current = "/"
    for part in path.strip("/").split("/")[:-1]:
        current = os.path.join(current, part)
        if not searchable(current, uid, gid):
            return current
    return None


def make_scratch(root: str, size_bytes: int, max_files: int) -> list[str]:
    """One private tmpfs, bind-mounted over every scratch directory of the new root."""
    first = SCRATCH_DIRS[0]
    options = f"mode=1777,size={size_bytes},nr_inodes={max_files + 16}"
    _mount("tmpfs", root + first, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for other in SCRATCH_DIRS[1:]:
        _mount(root + first, root + other, None, MS_BIND)
    return list(SCRATCH_DIRS)


def link_read_only(read_only: list[list[str]], facts: dict[str, Any]) -> None:
    """Without a mount namespace: each placeholder becomes a symlink to its input, which
    the run can read but, under its own uid, not change (the input belongs to relay's user)."""
    for source, target in read_only:
        if os.path.isdir(target) and not os.path.islink(target):
            os.rmdir(target)
        else:
            os.unlink(target)
        os.symlink(source, target)
    facts["read_only"] = "link"


def prepare_filesystem(config: dict[str, Any], facts: dict[str, Any]) -> None:
    uid = config["uid"] if config["uid"] is not None else os.getuid()
    gid = config["gid"] if config["gid"] is not None else os.getgid()
    read_only = config.get("read_only", [])
    if facts.get("mount") != "ok":
        if not config.get("unconfined"):
            # Fail closed: without a mount namespace the code would see the host's whole tree.
            raise SetupError(
                "no mount namespace, so the code cannot be given a file system of its own"
                f" ({facts.get('mount', 'not attempted')})"
            )
        for path in config["reveal"]:
            blocker = first_unsearchable(path, uid, gid)
            if blocker is not None:
                raise SetupError(
                    f"the sandbox user cannot reach {path}: {blocker} is not searchable by"
                    " others and no mount namespace is available to work around it"
                )
        if read_only:
            link_read_only(read_only, facts)
        return
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    build_root(config, facts, uid, gid)


def _handle(path: str) -> int:
    return os.open(path, os.O_PATH | os.O_NOFOLLOW)


def _makedirs(path: str) -> None:
    """Inside the new root only; each level 0755 and root's (or the mapped user's)."""
    if not os.path.isdir(path):
        _makedirs(os.path.dirname(path))
        os.mkdir(path, 0o755)


def bind(handle: int, target: str, *, writable: bool = False) -> None:
    """Bind what ``handle`` names onto ``target``, read-only unless ``writable``."""
    _mount(f"/proc/self/fd/{handle}", target, None, MS_BIND | MS_REC)
    if writable:
        return
    error: OSError | None = None
    # In a user namespace the flags the source's mount has are locked and must be kept.
    for extra in (0, MS_NOSUID | MS_NODEV, MS_NOSUID | MS_NODEV | MS_NOEXEC, MS_NOSUID):
        try:
            _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | extra)
            return
        except OSError as exc:
            error = exc
    _libc.umount2(target.encode(), MNT_DETACH)
    raise SetupError(f"cannot make {target} read-only: {error}")


def minimal_etc(uid: int, gid: int, workdir: str, network: bool) -> dict[str, bytes]:
    """The few files of /etc programs expect; never the host's whole /etc."""
    files = {
        "passwd": f"root:x:0:0:root:/:/bin/sh\nsandbox:x:{uid}:{gid}:sandbox:{workdir}:/bin/sh\n",
        "group": f"root:x:0:\nsandbox:x:{gid}:\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
    }
    data = {name: text.encode() for name, text in files.items()}
    copied = ["ld.so.cache", "localtime", *(["resolv.conf"] if network else [])]
    for name in copied:
        with contextlib.suppress(OSError), open(f"/etc/{name}", "rb") as file:
            data[name] = file.read(4 * 2**20)
    return data


def build_root(config: dict[str, Any], facts: dict[str, Any], uid: int, gid: int) -> None:
    """A fresh root (tmpfs) holding exactly what the run needs; the supervisor pivots into it.

    Read-only: the system dirs and the interpreter's prefix; read-write: the work dir; the
    task's inputs read-only over their placeholders; a private /tmp; a minimal /etc and /dev.
    Every source is opened before the first mount, because mounting may hide it.
    """
    workdir = config["workdir"]
    system = {d: _handle(d) for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)}
    links = {d: os.readlink(d) for d in SYSTEM_DIRS if os.path.islink(d)}
    extra = sorted({p for p in config["reveal"] if p != workdir and not _covered(p, system)})
    prefixes = {p: _handle(p) for p in extra}
    work = _handle(workdir)
    devices = {n: _handle(f"/dev/{n}") for n in DEVICES if os.path.exists(f"/dev/{n}")}
    sources = {t: _handle(s) for s, t in config.get("read_only", [])}
    network = "net" not in config["namespaces"]
    etc = minimal_etc(uid, gid, workdir, network)
    root = NEW_ROOT
    try:
        _mount("tmpfs", root, "tmpfs", MS_NOSUID, "mode=0755,size=16m,nr_inodes=4096")
        for scratch in SCRATCH_DIRS:
            _makedirs(root + scratch)
        try:
            # First: the work dir or a Python prefix may lie under /tmp (then inside this tmpfs).
            facts["scratch"] = make_scratch(root, config["scratch_bytes"], config["max_files"])
        except OSError as exc:
            facts["scratch_error"] = str(exc)
        for path, handle in [*system.items(), *prefixes.items()]:
            _makedirs(root + path)
            bind(handle, root + path)
        for path, target in links.items():
            os.symlink(target, root + path)
        _makedirs(root + "/etc")
        for name, content in etc.items():
            with open(f"{root}/etc/{name}", "wb") as file:
                file.write(content)
        _makedirs(root + "/dev")
        for name, handle in devices.items():
            open(f"{root}/dev/{name}", "wb").close()
            _mount(f"/proc/self/fd/{handle}", f"{root}/dev/{name}", None, MS_BIND)
        for name, target in DEV_LINKS.items():
            os.symlink(target, f"{root}/dev/{name}")
        _makedirs(root + "/proc")
        _makedirs(root + workdir)
        bind(work, root + workdir, writable=True)
        for target, handle in sources.items():
            bind(handle, root + target)
        facts["read_only"] = "bind"
        facts["root"] = {"system": sorted([*system, *extra]), "devices": sorted(devices)}
    finally:
        for handle in [*system.values(), *prefixes.values(), work, *devices.values()]:
            os.close(handle)
        for handle in sources.values():
            os.close(handle)


def _covered(path: str, system: dict[str, int]) -> bool:
    return any(path == d or path.startswith(d + "/") for d in system)


def enter_root(facts: dict[str, Any]) -> None:
    """pivot_root into the new root, detach the host's tree, and make / read-only.

    Run by the supervisor after it mounted /proc (a /proc may only be mounted in a user
    namespace while another full /proc is still in view)."""
    if "root" not in facts:
        return
    os.chdir(NEW_ROOT)
    # pivot_root(".", "."): the old root ends up stacked on "." and is detached at once.
    _check(_libc.syscall(SYS_PIVOT_ROOT[os.uname().machine], b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the host's root")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)


def mount_proc(pid_namespace: bool, facts: dict[str, Any]) -> None:
    """A /proc of our own: only the sandbox's processes (pid ns) or only the run uid's."""
    if facts.get("mount") != "ok":
        return
    target = NEW_ROOT + "/proc" if "root" in facts else "/proc"
    for option in ("hidepid=invisible", "hidepid=2"):
        try:
            _mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, option)
        except OSError as exc:
            facts["proc"] = str(exc)
            continue
        facts["proc"] = "own pid namespace" if pid_namespace else option
        return


def launch(config: dict[str, Any], reporter: Reporter) -> int:
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != config["parent_pid"]:
        return 125  # relay died before we armed the death signal
    facts: dict[str, Any] = {"euid": os.geteuid()}
    try:
        for procs in config.get("cgroup_procs", []):
            # First of all, so that everything the run starts is inside its cgroup.
            try:
                with open(procs, "w") as file:
                    file.write(str(os.getpid()))
            except OSError as exc:
                raise SetupError(f"could not join the run's cgroup: {exc.strerror}") from None
        facts.update(unshare_namespaces(config["namespaces"]))
        if os.geteuid() != 0 and facts.get("user") != "ok":
            # Without root or a user namespace, RLIMIT_NPROC would count all of relay's
            # user's processes, not the run's: leave it out rather than fail at random.
            facts["nproc_skipped"] = config["rlimits"].pop("nproc", None) is not None
        prepare_filesystem(config, facts)
        facts["seccomp"] = seccomp_available(config)
    except (OSError, SetupError) as exc:
        reporter.send(kind="error", message=f"sandbox setup failed: {exc}")
        return 125
    pid = os.fork()
    if pid == 0:
        os._exit(supervise(config, facts, reporter))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 125


# -- supervisor -----------------------------------------------------------------------------


def supervise(config: dict[str, Any], facts: dict[str, Any], reporter: Reporter) -> int:
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        pid_namespace = facts.get("pid") == "ok"
        if not pid_namespace:
            # Orphans come to us instead of the host's init, so we can reap them.
            _prctl(PR_SET_CHILD_SUBREAPER, 1)
        mount_proc(pid_namespace, facts)
        enter_root(facts)
        if facts.get("scratch"):
            config["env"]["TMPDIR"] = "/tmp"
        reporter.send(kind="setup", facts=facts)
        target = os.fork()
    except (OSError, SetupError) as exc:
        reporter.send(kind="error", message=f"sandbox setup failed: {exc}")
        return 125
    if target == 0:
        run_target(config, reporter)
    while True:
        pid, status, usage = os.wait4(-1, 0)
        if pid == target:
            break
    cpu = round(usage.ru_utime + usage.ru_stime, 3)
    if os.WIFSIGNALED(status):
        reporter.send(kind="exit", code=None, signal=os.WTERMSIG(status), cpu_s=cpu)
    else:
        reporter.send(kind="exit", code=os.WEXITSTATUS(status), signal=None, cpu_s=cpu)
    if not pid_namespace and config["uid"] is not None:
        # No namespace to collapse: kill everything the run uid still has, then reap it.
        sweeper = os.fork()
        if sweeper == 0:
            os._exit(sweep(config["uid"]))
        with contextlib.suppress(ChildProcessError):
            while True:
                os.wait()
    return 0


# -- target ---------------------------------------------------------------------------------


def run_target(config: dict[str, Any], reporter: Reporter) -> None:
    """Never returns: execs the code or exits 127 after reporting why it could not."""
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # Python ignores these; ignored dispositions survive exec and would confuse the code.
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        os.chdir(config["workdir"])
        for name, (soft, hard) in config["rlimits"].items():
            resource.setrlimit(RLIMITS[name], (soft, hard))
        if config["uid"] is not None:
            os.setgroups([])
            os.setresgid(config["gid"], config["gid"], config["gid"])
            os.setresuid(config["uid"], config["uid"], config["uid"])
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        if config.get("seccomp", True):  # False only when unconfined and libseccomp is absent
            load_seccomp()
        os.umask(0o022)
        argv = config["argv"]
        os.execve(argv[0], argv, config["env"])
    except SetupError as exc:
        reporter.send(kind="error", message=f"sandbox setup failed: {exc}")
        os._exit(125)
    except OSError as exc:
        # strerror only: the exception's text would name host paths (the work dir).
        reporter.send(
            kind="error", message=f"could not start {config['argv'][0]}: {exc.strerror or exc}"
        )
    os._exit(127)


# -- sweep ----------------------------------------------------------------------------------


def sweep(uid: int) -> int:
    """Kill every process of ``uid``: kill(-1) as that uid reaches exactly those."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    for _ in range(500):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return 0
        # kill() also "finds" zombies, which are dead already; done when only those remain.
        if not live_processes_of(uid):
            return 0
        time.sleep(0.01)
    return 1


def live_processes_of(uid: int) -> list[int]:
    live = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
            with open(f"/proc/{name}/stat", "rb") as file:
                state = file.read().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if state not in (b"Z", b"X"):
            live.append(int(name))
    return live


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    if "sweep_uid" in config:
        return sweep(config["sweep_uid"])
    return launch(config, Reporter(config["status_fd"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
