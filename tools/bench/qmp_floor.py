#!/usr/bin/python3
"""The physical floor of a domain start: bare qemu-system-x86_64 with the argv rvirt plans
for the bench domain, `-S`, a `-qmp unix:` socket instead of the monitor fd, until QMP
answers `qmp_capabilities`, then `quit` and reap.

  qmp_floor.py --prepare NATIVE.txt OUT.json   # shell-quoted `domxml-to-native` line -> argv
  qmp_floor.py OUT.json                        # one floor run (what hyperfine times)
  qmp_floor.py --imports-only OUT.json         # interpreter + imports + argv load, no QEMU

The QMP socket and QEMU's stderr go next to OUT.json; HOME points there too, so a
leftover QEMU can be told apart (by its environ) from other instances' guests.
"""
import json
import os
import shlex
import socket
import subprocess
import sys
import time


def prepare(native_path, out_path):
    words = shlex.split(open(native_path).read())
    # Drop the leading VAR=value environment words.
    while words and "=" in words[0] and not words[0].startswith("/"):
        words.pop(0)
    if not words or "qemu-system" not in os.path.basename(words[0]):
        sys.exit(f"qmp_floor: no qemu-system binary in {native_path}: {words[:3]}")
    argv = [words[0]]
    i = 1
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        # The monitor is an inherited fd in rvirt's plan: replace it by a QMP unix socket.
        if w == "-chardev" and "id=charmonitor" in nxt:
            i += 2
            continue
        if w == "-mon" and "chardev=charmonitor" in nxt:
            i += 2
            continue
        if w == "-name" and nxt.startswith("guest="):
            # Keep the shape, but make it recognisable as the bench's floor QEMU.
            rest = nxt.split(",", 1)
            argv += [w, "guest=bench-floor" + ("," + rest[1] if len(rest) > 1 else "")]
            i += 2
            continue
        argv.append(w)
        i += 1
    if "-S" not in argv:
        argv.insert(1, "-S")
    argv += ["-qmp", "unix:@QMP@,server=on,wait=off"]
    with open(out_path, "w") as f:
        json.dump(argv, f)
    print(" ".join(shlex.quote(a) for a in argv))


def readline(f):
    line = f.readline()
    if not line:
        raise RuntimeError("QMP connection closed")
    return json.loads(line)


def floor(argv_path):
    argv = json.load(open(argv_path))
    d = os.path.dirname(os.path.abspath(argv_path))
    path = f"{d}/floor-{os.getpid()}.qmp"
    argv = [a.replace("@QMP@", path) for a in argv]
    env = {"LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": d}
    with open(f"{d}/floor-qemu.log", "ab") as log:
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=log)
    s = None
    try:
        deadline = time.monotonic() + 20
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if p.poll() is not None:
                    raise RuntimeError(f"QEMU exited ({p.returncode}), see {d}/floor-qemu.log")
                if time.monotonic() > deadline:
                    raise RuntimeError("QMP socket did not appear")
                time.sleep(0.0005)
        f = s.makefile("rb")
        greeting = readline(f)
        assert "QMP" in greeting, greeting
        s.sendall(b'{"execute":"qmp_capabilities"}\n')
        while "return" not in readline(f):
            pass
        s.sendall(b'{"execute":"quit"}\n')
        p.wait(timeout=20)
    finally:
        if s is not None:
            s.close()
        if p.poll() is None:
            p.kill()
            p.wait()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "--prepare":
        prepare(a[1], a[2])
    elif len(a) == 2 and a[0] == "--imports-only":
        json.load(open(a[1]))
    elif len(a) == 1:
        floor(a[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
