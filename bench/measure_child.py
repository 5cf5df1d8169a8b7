"""Runs a command from a small launcher process and writes the command's own peak RSS and CPU time as JSON."""

# Why a launcher: a child forked from a big process (the bench, after building large trees) keeps that
# process's resident-set high-water mark in ``ru_maxrss`` even after exec; started from this small
# process, the figure is the command's own. Usage: python -m bench.measure_child REPORT.json COMMAND...

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    report, command = argv[0], argv[1:]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = code = os.waitstatus_to_exitcode(status)
    with open(report, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "code": code,
                "wall_s": time.perf_counter() - started,
                "maxrss_kib": usage.ru_maxrss,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "launcher_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            },
            handle,
        )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
