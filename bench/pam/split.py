#!/usr/bin/env python3
# Where a login's time goes, per process: wall, CPU (user + system, from wait4) and off-CPU time,
# and minor page faults, for pamtester under pam_wrapper with four stacks run interleaved:
#   matrix   pam_matrix alone (the baseline compare.sh uses)
#   loaded   pam_matrix, with pam_policy.so on an account line: loaded and unloaded, never called
#   policy   pam_policy.so (`auth password` -> pam_matrix, audit log on), as in compare.sh
#   unknown  the same login for a name the name service does not know (NSS tries every source)
# CPU and page faults move much less with machine load than wall time: compare those first.
#
# usage: bench/pam/split.py BUILD_DIR [RUNS]   (as root; BENCH_USER as in compare.sh)
import os
import pwd
import shutil
import statistics
import sys
import tempfile
import time

WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
MATRIX = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
UNKNOWN = "ap-bench-no-such-user"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: split.py BUILD_DIR [RUNS]")
    module = os.path.realpath(os.path.join(sys.argv[1], "pam", "pam_policy.so"))
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    for need in (module, WRAPPER, MATRIX, "/usr/bin/pamtester"):
        if not os.path.exists(need):
            sys.exit(f"split.py: missing {need}")
    if os.geteuid() != 0:
        sys.exit("split.py: run as root (policy files must be root-owned)")
    user = os.environ.get("BENCH_USER", "nobody")
    try:
        pwd.getpwnam(user)
    except KeyError:
        sys.exit(f"split.py: no account {user} (set BENCH_USER)")

    work = tempfile.mkdtemp(prefix="ap-pam-split.", dir="/tmp")
    try:
        os.chmod(work, 0o755)
        os.mkdir(f"{work}/pam.d")
        os.mkdir(f"{work}/audit", 0o700)
        with open(f"{work}/bench.pol", "w") as policy:
            policy.write(f'factor password {{ module = "{MATRIX}"; arguments = "passdb={work}/passdb" }}\n'
                         f'auth password\naudit {{ db = "{work}/audit/audit.db" }}\n')
        os.chmod(f"{work}/bench.pol", 0o644)
        stacks = {
            "matrix": f"auth required {MATRIX} passdb={work}/passdb\n",
            "loaded": f"auth required {MATRIX} passdb={work}/passdb\n"
                      f"account optional {module} policy={work}/bench.pol\n",
            "policy": f"auth required {module} policy={work}/bench.pol\n",
        }
        for name, text in stacks.items():
            with open(f"{work}/pam.d/{name}", "w") as stack:
                stack.write(text)
        with open(f"{work}/pam.d/other", "w") as stack:
            stack.write("auth required pam_deny.so\n")
        with open(f"{work}/passdb", "w") as passdb:
            for name in stacks:
                passdb.write(f"{user}:bench-pass:{name}\n{UNKNOWN}:bench-pass:{name}\n")
        runs_of = [("matrix", user), ("loaded", user), ("policy", user), ("policy", UNKNOWN)]
        labels = ["matrix", "loaded", "policy", "unknown"]
        env = dict(os.environ, LD_PRELOAD=WRAPPER, PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=f"{work}/pam.d")
        results = {label: [] for label in labels}
        for warm in runs_of:
            login(env, *warm)
        for _ in range(runs):  # interleaved, so load changes hit every stack alike
            for label, (service, name) in zip(labels, runs_of):
                results[label].append(login(env, service, name))
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"runs={runs} user={user} load average: {load} (medians, microseconds)")
        base = None
        for label in labels:
            wall, cpu, faults = (statistics.median(column) for column in zip(*results[label]))
            off = statistics.median(w - c for w, c, _ in results[label])
            base = base or (wall, cpu, faults)
            print(f"{label:8s} wall={wall:6.0f} cpu={cpu:6.0f} off-cpu={off:6.0f} minflt={faults:4.0f}"
                  f"  added: wall={wall - base[0]:+5.0f} cpu={cpu - base[1]:+5.0f}"
                  f" minflt={faults - base[2]:+4.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def login(env, service, user):
    """One pamtester process: (wall us, cpu us, minor faults); exits the script if denied."""
    read_end, write_end = os.pipe()
    devnull = os.open(os.devnull, os.O_WRONLY)
    start = time.perf_counter_ns()
    pid = os.fork()
    if pid == 0:
        os.dup2(read_end, 0)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execve("/usr/bin/pamtester", ["pamtester", service, user, "authenticate"], env)
    os.close(read_end)
    os.write(write_end, b"bench-pass\n")
    os.close(write_end)
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - start) / 1000
    os.close(devnull)
    if status != 0:
        sys.exit(f"split.py: {service} login of {user} failed (status {status})")
    return wall, (usage.ru_utime + usage.ru_stime) * 1e6, usage.ru_minflt


if __name__ == "__main__":
    main()
