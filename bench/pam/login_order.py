#!/usr/bin/env python3
# Writes pam/login_functions.ld: the functions of pam_policy.so that one login runs, to be placed next
# to each other by the module's link (pam/CMakeLists.txt). The kernel maps a module's code 64 KiB
# at a time, on the first touch of each such window: one login's functions, scattered over the
# module's 1.6 MiB of code, cost it a page fault per window (docs/cost.md). Regenerate after
# large changes to the login path; a stale list only places fewer functions together.
#
# How: callgrind records the functions of the module that run in one pamtester login under
# pam_wrapper (auth, account and session of a password policy delegating to pam_matrix, audit
# log on; the third login, so the log exists), and the module's link map (BUILD/pam/pam_policy.map)
# names the input section holding each of them (a function may be an alias of another: C1/C2,
# ICF). The list names those sections in first-run order.
#
# usage: bench/pam/login_order.py BUILD_DIR [OUT]   (as root; OUT defaults to pam/login_functions.ld)
import bisect
import os
import re
import shutil
import subprocess
import sys
import tempfile

WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
MATRIX = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: login_order.py BUILD_DIR [OUT]")
    build = os.path.realpath(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "..", "pam", "login_functions.ld")
    module = os.path.join(build, "pam", "pam_policy.so")
    link_map = os.path.join(build, "pam", "pam_policy.map")
    for need in (module, link_map, WRAPPER, MATRIX, "/usr/bin/pamtester", shutil.which("valgrind") or "valgrind"):
        if not os.path.exists(need):
            sys.exit(f"login_order.py: missing {need}")
    if os.geteuid() != 0:
        sys.exit("login_order.py: run as root (policy files must be root-owned)")
    functions = functions_run(module)
    if len(functions) < 50:  # the module's symbols were not read: keep the list there is
        sys.exit(f"login_order.py: callgrind named only {len(functions)} functions of the module")
    sections = sections_of(module, link_map, functions)
    write_script(out, sections)
    print(f"login_order.py: {len(functions)} functions run, {len(sections)} sections -> {out}")


def functions_run(module):
    """Mangled names of the module's functions one login runs, in callgrind's order."""
    work = tempfile.mkdtemp(prefix="ap-login-order.", dir="/tmp")
    try:
        os.chmod(work, 0o755)
        os.mkdir(f"{work}/pam.d")
        os.mkdir(f"{work}/audit", 0o700)
        with open(f"{work}/bench.pol", "w") as policy:
            policy.write(f'factor password {{ module = "{MATRIX}"; arguments = "passdb={work}/passdb" }}\n'
                         f'auth password\naudit {{ db = "{work}/audit/audit.db" }}\n')
        os.chmod(f"{work}/bench.pol", 0o644)
        with open(f"{work}/passdb", "w") as passdb:
            passdb.write("nobody:bench-pass:order\n")
        line = f"{module} policy={work}/bench.pol"
        with open(f"{work}/pam.d/order", "w") as stack:
            stack.write(f"auth required {line}\naccount required {line}\nsession optional {line}\n"
                        "session required pam_permit.so\n")
        with open(f"{work}/pam.d/other", "w") as stack:
            stack.write("auth required pam_deny.so\n")
        env = dict(os.environ, LD_PRELOAD=WRAPPER, PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=f"{work}/pam.d")
        login = ["pamtester", "order", "nobody", "authenticate", "acct_mgmt", "open_session", "close_session"]
        profile = f"{work}/callgrind.out"
        for prefix in ([], [], ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={profile}"]):
            run = subprocess.run(prefix + login, input=b"bench-pass\n", env=env, capture_output=True)
            if run.returncode != 0:
                sys.exit(f"login_order.py: login failed: {run.stdout.decode()} {run.stderr.decode()}")
        return callgrind_functions(profile, os.path.basename(module))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def callgrind_functions(profile, object_name):
    objects, names, order, seen, current = {}, {}, [], set(), None
    with open(profile) as text:
        for line in text:
            found = re.match(r"^(ob|cob)=\((\d+)\)(?: (.*))?", line)
            if found:
                if found.group(3):
                    objects[found.group(2)] = found.group(3)
                if found.group(1) == "ob":
                    current = objects[found.group(2)]
                continue
            found = re.match(r"^(fn|cfn)=\((\d+)\)(?: (.*))?", line)
            if not found:
                continue
            if found.group(3):
                names[found.group(2)] = re.sub(r"'\d+$", "", found.group(3))  # recursion marks
            name = names[found.group(2)]
            if found.group(1) == "fn" and current and current.endswith("/" + object_name) and name not in seen:
                seen.add(name)
                order.append(name)
    return order


def sections_of(module, link_map, functions):
    """The input section (as an ld pattern) holding each function, first-run order, no repeats."""
    addresses = {}
    symbols = subprocess.run(["nm", "--defined-only", module], capture_output=True, text=True, check=True)
    for row in symbols.stdout.splitlines():
        fields = row.split()
        if len(fields) == 3 and fields[1] in "tTwWi":
            addresses.setdefault(fields[2], int(fields[0], 16))
    # Input sections of the module's code, as the link map lists them: name, address, size, file.
    inputs, pending = [], None
    with open(link_map) as text:
        for line in text:
            found = re.match(r"^ (\.text\S*)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+))?\s*$", line)
            if found:
                pending = found.group(1)
                if found.group(2):
                    inputs.append((int(found.group(2), 16), int(found.group(3), 16), pending, found.group(4)))
                    pending = None
                continue
            found = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)\s*$", line)
            if found and pending:
                inputs.append((int(found.group(1), 16), int(found.group(2), 16), pending, found.group(3)))
            pending = None
    inputs.sort()
    starts = [entry[0] for entry in inputs]
    patterns, seen = [], set()
    for name in functions:
        address = addresses.get(name)
        if address is None:
            continue
        index = bisect.bisect_right(starts, address) - 1
        if index < 0:
            continue
        start, size, section, origin = inputs[index]
        if not start <= address < start + size:
            continue
        if section == ".text":  # an object built without function sections: all of its code
            member = re.sub(r"^.*/", "", origin)  # libmd.a(sha2.o) -> *libmd.a:sha2.o
            found = re.match(r"^(.*)\((.*)\)$", member)
            pattern = f"*{found.group(1)}:{found.group(2)}(.text)" if found else f"*{member}(.text)"
        else:
            pattern = f"*({section})"
        if pattern not in seen:
            seen.add(pattern)
            patterns.append(pattern)
    return patterns


def write_script(out, patterns):
    with open(out, "w") as script:
        script.write("/* The functions of pam_policy.so that one login runs, first in its .text so that the login\n"
                     "   touches few 64 KiB windows of the module's code (docs/cost.md). Generated by\n"
                     "   bench/pam/login_order.py; included by the link's script (pam/CMakeLists.txt). A stale entry\n"
                     "   matches nothing and is harmless. */\n")
        # frame_dummy and __do_global_dtors_aux run at every load and unload; callgrind does not name them.
        for pattern in ["*crtbeginS.o(.text)"] + [p for p in patterns if p != "*crtbeginS.o(.text)"]:
            script.write(f"{pattern}\n")


if __name__ == "__main__":
    main()
