#!/usr/bin/env python3
"""hyperfine_once.py [HYPERFINE OPTIONS] COMMAND...: the part of hyperfine the benchmark
scripts use, for their quick mode (JIT_BENCH_QUICK=1) on a machine without hyperfine.

It runs what hyperfine would run, in the same order and with the same checks: for each
command, every warm-up and timed run preceded by its --prepare command, then its --cleanup
command; a command that exits non-zero fails the whole run, as in hyperfine. The times
are wall-clock and kept in a hyperfine-shaped --export-json file (results[i].median, mean,
min, max, times, in seconds), which is all scripts/bench/median.py reads. The figures of a
quick run mean nothing; what the quick mode proves is that every step of a script works.

Options: --style S, -N/--shell=none (split commands like a shell, run them without one),
--shell SHELL, --warmup N, --runs N (-r), --prepare CMD (once for all commands, or once
per command), --cleanup CMD, --export-json FILE, --output FILE|null|pipe|inherit.
"""
import json
import shlex
import statistics
import subprocess
import sys
import time


def usage(message):
    sys.exit(f"hyperfine_once.py: {message}")


def parse(argv):
    opts = {"shell": "sh", "warmup": 0, "runs": 10, "prepare": [], "cleanup": None,
            "export_json": None, "output": "null", "commands": []}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
            argv[i + 1:i + 1] = [value]
        if arg in ("-N",):
            opts["shell"] = None
        elif arg in ("--style", "--shell", "-S", "--warmup", "-w", "--runs", "-r", "--prepare",
                     "-p", "--cleanup", "-c", "--export-json", "--output"):
            if i + 1 >= len(argv):
                usage(f"{arg} needs a value")
            value = argv[i + 1]
            i += 1
            if arg in ("--shell", "-S"):
                opts["shell"] = None if value == "none" else value
            elif arg in ("--warmup", "-w"):
                opts["warmup"] = int(value)
            elif arg in ("--runs", "-r"):
                opts["runs"] = int(value)
            elif arg in ("--prepare", "-p"):
                opts["prepare"].append(value)
            elif arg in ("--cleanup", "-c"):
                opts["cleanup"] = value
            elif arg == "--export-json":
                opts["export_json"] = value
            elif arg == "--output":
                opts["output"] = value
        elif arg.startswith("-"):
            usage(f"unsupported option {arg}")
        else:
            opts["commands"].append(arg)
        i += 1
    if not opts["commands"]:
        usage("no command to run")
    if opts["runs"] < 1:
        usage("--runs must be at least 1")
    if len(opts["prepare"]) not in (0, 1, len(opts["commands"])):
        usage("give --prepare once, or once per command")
    return opts


def run(command, shell, stdout, what):
    argv = shlex.split(command) if shell is None else [shell, "-c", command]
    started = time.perf_counter()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace"))
        sys.exit(f"hyperfine_once.py: {what} terminated with exit code {done.returncode}: {command}")
    return elapsed


def main():
    opts = parse(sys.argv[1:])
    output = opts["output"]
    if output == "null":
        sink = subprocess.DEVNULL
    elif output in ("pipe", "inherit"):
        sink = None
    else:
        sink = open(output, "wb")
    results = []
    for n, command in enumerate(opts["commands"]):
        prepare = opts["prepare"][n if len(opts["prepare"]) > 1 else 0] if opts["prepare"] else None
        times = []
        for i in range(opts["warmup"] + opts["runs"]):
            if prepare:
                run(prepare, opts["shell"], subprocess.DEVNULL, "the prepare command")
            elapsed = run(command, opts["shell"], sink, "the command")
            if i >= opts["warmup"]:
                times.append(elapsed)
        if opts["cleanup"]:
            run(opts["cleanup"], opts["shell"], subprocess.DEVNULL, "the cleanup command")
        median = statistics.median(times)
        print(f"Benchmark {n + 1}: {command}\n  Time (median): {median * 1000:.1f} ms "
              f"({len(times)} run{'s' if len(times) > 1 else ''}, hyperfine_once.py)")
        results.append({"command": command, "mean": statistics.fmean(times), "median": median,
                        "min": min(times), "max": max(times), "times": times})
    if opts["export_json"]:
        with open(opts["export_json"], "w") as out:
            json.dump({"results": results}, out)


if __name__ == "__main__":
    main()
