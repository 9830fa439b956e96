#!/usr/bin/env python3
"""An MCP client built on the official Python SDK (PyPI `mcp`), driving `jit mcp` over stdio
for tests/it/mcp.rs.

    driver.py SETUP.json

SETUP names the server (`command`, `args`, `env`: the whole environment `jit mcp` gets),
the client's name and version for `initialize`, and two files: `record`, where every message
the client receives from the server is written as one JSON line (responses, notifications
including progress and log messages, and anything that failed to parse), and `stderr`, where
the server's stderr goes.

The driver then takes one JSON command per line on its stdin and answers each with one JSON
line on its stdout, so the test can look at the world between steps:

    {"op": "list_tools"}                  -> {"tools": [Tool, ...]}
    {"op": "call", "tool": T, "arguments": {..},
     "on_first_progress": {"argv": [..], "env": {..}}}
                                          -> {"is_error", "structured", "text", "progress",
                                              "hook"}
    {"op": "server_pid"}                  -> {"pid": N}
    {"op": "close"}                       -> {"closed": true} (the client has disconnected and
                                              the server process has been waited for)

The first line it prints, before reading any command, is the `initialize` result.
`on_first_progress` runs a program (the test's `jit approve ID` as another person) from the
progress callback, when the first progress notification of that call arrives: that is the
synchronisation, and it proves progress notifications arrive while the call is in flight.
A call's "hook" is that program's outcome (`null` when no progress notification came).
"""

import json
import os
import sys

import anyio
from mcp import ClientSession
from mcp import types
from mcp.client.stdio import StdioServerParameters, stdio_client


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def answer(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


async def read_command():
    line = await anyio.to_thread.run_sync(sys.stdin.readline)
    if not line:
        return {"op": "close"}
    return json.loads(line)


def children_of(pid):
    """The pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The command name is in parentheses and may hold spaces: the fields after
                # the last ')' are the state, then the parent's pid.
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


async def run_hook(hook, into):
    result = await anyio.run_process(
        hook["argv"], env=hook.get("env"), check=False, stdin=None
    )
    into.update(
        {
            "argv": hook["argv"],
            "code": result.returncode,
            "stdout": result.stdout.decode(errors="replace"),
            "stderr": result.stderr.decode(errors="replace"),
        }
    )


async def call(session, command, task_group):
    progress = []
    hook = command.get("on_first_progress")
    hook_result = {}
    hook_done = anyio.Event()

    async def on_progress(value, total, message):
        progress.append({"progress": value, "total": total, "message": message})
        if hook is not None and len(progress) == 1:
            # In a task of its own: the progress callback must not hold up the session.
            async def run():
                try:
                    await run_hook(hook, hook_result)
                finally:
                    hook_done.set()

            task_group.start_soon(run)

    result = await session.call_tool(
        command["tool"],
        command.get("arguments") or {},
        read_timeout_seconds=command.get("read_timeout", 120),
        progress_callback=on_progress,
    )
    if progress and hook is not None:
        await hook_done.wait()
    return {
        "is_error": bool(result.is_error),
        "structured": result.structured_content,
        "text": [c.text for c in result.content if isinstance(c, types.TextContent)],
        "content_types": [c.type for c in result.content],
        "progress": progress,
        "hook": hook_result or None,
    }


async def main(setup_path):
    with open(setup_path) as f:
        setup = json.load(f)
    record = open(setup["record"], "w", buffering=1)
    errlog = open(setup["stderr"], "w")
    server = StdioServerParameters(
        command=setup["command"], args=setup.get("args", []), env=setup.get("env")
    )
    client_info = types.Implementation(
        name=setup["client_name"], version=setup["client_version"]
    )

    async with stdio_client(server, errlog=errlog) as (server_read, write):
        # Every message from the server passes through here on its way to the session.
        tee_send, tee_read = anyio.create_memory_object_stream(0)

        async def tee():
            async with tee_send:
                async for item in server_read:
                    if isinstance(item, Exception):
                        record.write(json.dumps({"unparsed": repr(item)}) + "\n")
                    else:
                        record.write(
                            item.message.model_dump_json(by_alias=True, exclude_unset=True)
                            + "\n"
                        )
                    await tee_send.send(item)

        logs = []

        async def on_log(params):
            logs.append(dump(params))

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(tee)
            async with ClientSession(
                tee_read, write, client_info=client_info, logging_callback=on_log
            ) as session:
                init = await session.initialize()
                if init.capabilities.logging is not None:
                    # Ask for every log message the server has: all of them are searched.
                    await session.set_logging_level("debug")
                answer({"initialize": dump(init)})
                while True:
                    command = await read_command()
                    op = command["op"]
                    if op == "close":
                        break
                    try:
                        if op == "list_tools":
                            listed = await session.list_tools()
                            answer({"tools": [dump(t) for t in listed.tools]})
                        elif op == "call":
                            answer(await call(session, command, task_group))
                        elif op == "server_pid":
                            answer({"pid": children_of(os.getpid())})
                        else:
                            answer({"driver_error": f"unknown op {op!r}"})
                    except Exception as err:  # the test sees what went wrong, and goes on
                        answer({"driver_error": f"{type(err).__name__}: {err}"})
            task_group.cancel_scope.cancel()
    # stdio_client has closed the server's stdin and waited for it to exit (killing it
    # after a grace period if it did not).
    errlog.close()
    record.close()
    answer({"closed": True, "logs": logs})


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
