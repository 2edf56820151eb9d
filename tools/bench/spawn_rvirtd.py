#!/usr/bin/python3
"""Start `rvirtd --root ROOT` and time exec -> first successful answer of virsh.

  spawn_rvirtd.py BIN ROOT LOG [PREFIX COUNT]

Without PREFIX/COUNT the answer is a successful `virsh list --all`; with them it is a
`virsh list --state-running --name` that shows at least COUNT names starting with PREFIX
(the reconnect measurement). The clock starts just before the exec of rvirtd. Until the
socket accepts a connection it is polled with connect() every 0.5 ms (cheap), from then on
virsh is run until it answers as wanted (each try is a whole virsh process, ~10-15 ms).
Prints "<milliseconds> <pid> <milliseconds until the socket first accepted>". The daemon is started in its own session and left running.
"""
import os
import socket
import subprocess
import sys
import time


def main():
    if len(sys.argv) not in (4, 6):
        sys.exit(__doc__)
    bin_dir, root, log_path = sys.argv[1:4]
    prefix, count = (sys.argv[4], int(sys.argv[5])) if len(sys.argv) == 6 else (None, 0)
    sock = f"{root}/run/rvirt/rvirt-sock"
    uri = f"qemu+unix:///system?socket={sock}"
    if prefix is None:
        cmd = ["virsh", "-q", "-c", uri, "list", "--all"]
    else:
        cmd = ["virsh", "-q", "-c", uri, "list", "--state-running", "--name"]
    log = open(log_path, "ab")
    t0 = time.monotonic()
    p = subprocess.Popen([f"{bin_dir}/rvirtd", "--root", root], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True)
    deadline = t0 + 60
    ok = False
    t_accept = None
    while time.monotonic() < deadline:
        if p.poll() is not None:
            sys.exit(f"spawn_rvirtd: rvirtd exited with {p.returncode}, see {log_path}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sock)
        except OSError:
            time.sleep(0.0005)
            continue
        finally:
            s.close()
        if t_accept is None:
            t_accept = time.monotonic()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            if prefix is None:
                ok = True
            else:
                names = [n for n in r.stdout.decode().split() if n.startswith(prefix)]
                ok = len(names) >= count
        if ok:
            break
        time.sleep(0.001)
    t1 = time.monotonic()
    if not ok:
        sys.exit(f"spawn_rvirtd: no wanted answer within 60 s (pid {p.pid}), see {log_path}")
    print(f"{(t1 - t0) * 1000:.1f} {p.pid} {(t_accept - t0) * 1000:.1f}")


if __name__ == "__main__":
    main()
