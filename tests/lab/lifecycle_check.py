#!/usr/bin/env python3
"""Lifecycle check of the lab (run as root; takes ~8 s):

down -> up (timed, from scratch) -> up (timed, already up) -> status ->
sshd-restart (an SSH session survives) -> sshd-restart --drop-sessions (it drops) -> down

and verifies: exactly one instance of each daemon while up (knotd, dovecot, postfix
master, lab sshd, fail2ban-server, and the system `fail2ban-client status` lists the lab
jails, opendkim, the MTA-STS policy server), no lab process left after down (nor fail2ban's nft table), and no process that
existed before (and is not the lab's) was killed.

Other people's tests share the lab: if it was up when this started, it is brought up
again at the end (also after a failure); `--leave-down` skips that.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lab  # noqa: E402

LAB = [sys.executable, os.path.join(HERE, "lab.py")]


def snapshot() -> dict[int, tuple[str, str]]:
    out = {}
    for pid in lab.all_pids():
        try:
            with open(f"/proc/{pid}/stat") as f:
                start = f.read().rsplit(")", 1)[1].split()[19]  # starttime
        except OSError:
            continue
        out[pid] = (lab.proc_exe(pid) or "", start)
    return out


def lab_processes(L: lab.Lab) -> list[str]:
    found = []
    for pid in lab.all_pids():
        exe = lab.proc_exe(pid) or ""
        if not lab.alive(pid):
            continue
        cmd = lab.proc_cmdline(pid)
        if exe in (lab.KNOTD, lab.DOVECOT) or exe.startswith(lab.DOVECOT_DAEMON_DIR) \
                or exe.startswith(lab.POSTFIX_DAEMON_DIR) \
                or lab.F2B_SERVER in cmd \
                or (exe == lab.OPENDKIM and f"-x {lab.OPENDKIM_CONF}" in cmd) \
                or L.sts_script in cmd \
                or (exe == lab.SSHD and (L.sshd_config in cmd or pid in lab.sshd_sessions(L))):
            found.append(f"{pid} {exe} {cmd[:60]}")
    return found


def timed(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    t = time.monotonic()
    p = subprocess.run(LAB + list(args), capture_output=True, text=True)
    return time.monotonic() - t, p


def must(ok: bool, msg: str) -> None:
    print(("ok   " if ok else "FAIL ") + msg, flush=True)
    if not ok:
        sys.exit(1)


def ssh_session(info: dict) -> subprocess.Popen:
    u = info["ssh"]["users"]["admin"]
    return subprocess.Popen(
        ["ssh", "-F", "/dev/null", "-i", u["key"], "-p", str(info["ssh"]["port"]),
         "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={info['ssh']['known_hosts_file']}",
         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
         f"{u['name']}@{info['ssh']['host']}", "echo connected; exec sleep 300"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def main() -> int:
    L = lab.Lab()
    was_up = any(pid for _, pid, _ in lab.services(L))
    try:
        return check(L)
    finally:
        if was_up and "--leave-down" not in sys.argv[1:]:
            dt, p = timed("up")
            print(("ok   " if p.returncode == 0 else "FAIL ")
                  + f"lab was up before: up again ({dt:.2f}s)", flush=True)


def check(L: lab.Lab) -> int:
    before = snapshot()
    lab_f2b = lab.read_pid(L.fail2ban_pid)  # the lab's fail2ban-server (exe is python3)
    lab_sts = lab.read_pid(L.sts_pid)  # the lab's MTA-STS policy server (exe is python3 too)

    dt, p = timed("down")
    must(p.returncode == 0, f"down ({dt:.2f}s)")
    left = lab_processes(L)
    must(not left, f"no lab process after down {left or ''}")
    must(lab.nft_f2b_sets() is None, f"no nft table {lab.F2B_NFT_TABLE} after down")

    dt, p = timed("up")
    must(p.returncode == 0, f"up from scratch: {dt:.2f}s" + ("" if p.returncode == 0 else "\n" + p.stdout + p.stderr))
    dt, p = timed("up")
    must(p.returncode == 0, f"up when already up: {dt:.2f}s")
    counts = {
        "knotd": len(lab.find_pids(exe=lab.KNOTD)),
        "dovecot master": len(lab.find_pids(exe=lab.DOVECOT)),
        "postfix master": len(lab.find_pids(exe=lab.POSTFIX_MASTER)),
        "lab sshd listener": len(lab.find_pids(exe=lab.SSHD, cmd_contains=L.sshd_config)),
        "fail2ban-server": len(lab.find_pids(cmd_contains=lab.F2B_SERVER)),
        "opendkim": len(lab.find_pids(exe=lab.OPENDKIM, cmd_contains=f"-x {lab.OPENDKIM_CONF}")),
        "mta-sts server": len(lab.find_pids(cmd_contains=L.sts_script)),
    }
    must(all(v == 1 for v in counts.values()), f"exactly one instance each: {counts}")
    p = subprocess.run([lab.F2B_CLIENT, "status"], capture_output=True, text=True, timeout=20)
    jails = sorted(lab.f2b_status_jails(p.stdout))
    must(p.returncode == 0 and jails == sorted(lab.f2b_jails(L)),
         f"system `fail2ban-client status` lists the lab jails: {jails}")
    dt, p = timed("status")
    must(p.returncode == 0, f"status exit 0 ({dt:.2f}s)")

    info = lab.load_info()
    s1 = ssh_session(info)
    must(s1.stdout.readline().strip() == "connected", "ssh session 1 connected")
    old = lab.sshd_pid(L)
    dt, p = timed("sshd-restart")
    new = lab.sshd_pid(L)
    must(p.returncode == 0 and new and new != old, f"sshd-restart: pid {old} -> {new} ({dt:.2f}s)")
    time.sleep(0.5)
    must(s1.poll() is None, "session 1 survived a plain sshd-restart")
    s2 = ssh_session(info)
    must(s2.stdout.readline().strip() == "connected", "ssh session 2 connected to the new sshd")
    dt, p = timed("sshd-restart", "--drop-sessions")
    must(p.returncode == 0, f"sshd-restart --drop-sessions ({dt:.2f}s)")
    try:
        s1.wait(timeout=5)
        s2.wait(timeout=5)
        dropped = True
    except subprocess.TimeoutExpired:
        dropped = False
    must(dropped, f"both sessions dropped (ssh exit {s1.returncode}, {s2.returncode})")
    u = info["ssh"]["users"]["admin"]
    p = subprocess.run(["ssh", "-F", "/dev/null", "-i", u["key"], "-p", "2222", "-o", "BatchMode=yes",
                        "-o", f"UserKnownHostsFile={info['ssh']['known_hosts_file']}",
                        "-o", "StrictHostKeyChecking=yes", f"{u['name']}@127.0.0.1", "true"],
                       capture_output=True, text=True, timeout=20)
    must(p.returncode == 0, "new sshd accepts logins with the same host key")

    dt, p = timed("down")
    must(p.returncode == 0, f"down ({dt:.2f}s)")
    left = lab_processes(L)
    must(not left, f"no lab process after down {left or ''}")
    must(lab.nft_f2b_sets() is None, f"no nft table {lab.F2B_NFT_TABLE} after down")
    after = snapshot()
    lost = [f"{pid} {exe}" for pid, (exe, st) in before.items()
            if after.get(pid) != (exe, st) and exe and not exe.startswith(
                (lab.SSHD, lab.KNOTD, lab.DOVECOT, lab.DOVECOT_DAEMON_DIR, lab.POSTFIX_DAEMON_DIR, lab.OPENDKIM))
            and lab.alive(pid) is False and pid != os.getpid() and pid not in (lab_f2b, lab_sts)]
    # short-lived helpers started before the snapshot may end on their own; anything
    # long-running that disappeared is listed for a human to judge
    must(not lost, f"no other process disappeared {lost or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
