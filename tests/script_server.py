"""Runs experiment scripts as their own processes, forked from a server with their libraries imported.

A script a test runs (directly, or through ``reproduce.sh``) is a fresh process with its own
``sys.argv``, environment, working directory, standard streams, CPU affinity, SIGINT handling,
absl flags and TensorFlow runtime. It is forked from a server process that has imported
TensorFlow, Keras, TensorFlow Probability and NLTK (``PRELOAD``) but never used them, so what the
tests leave out is the import, which would otherwise be most of the time of a test that runs
twenty scripts, and the teardown of those libraries' modules at the exit (``end_as_python_does``;
a script of a TensorFlow cluster keeps the interpreter's whole exit). Signals reach the script
through its client (SIGINT, SIGTERM) or directly (``ScriptServer.start``'s ``script_pid``). The
import as a user meets it (its start-up messages) is tested with a plain subprocess.

    python tests/script_server.py serve SOCKET        # the server (ScriptServer starts one)
    python tests/script_server.py client PYTHON ARGS  # run `PYTHON ARGS` through $VARATTN_SCRIPT_SERVER

``reproduce.sh`` puts ``$VARATTN_LAUNCHER`` before the Python of each script; the tests set it to
the client. Only the standard library is imported here until the server preloads.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

SERVER_VARIABLE = "VARATTN_SCRIPT_SERVER"
PID_VARIABLE = "VARATTN_SCRIPT_PID_FILE"  # where a client writes its script's PID (ScriptServer.start)
PRELOAD = ("tensorflow", "keras", "tensorflow_probability", "nltk.tokenize")  # third-party only: the
# package under test is imported by each script from the working tree, as a user's run would.
HEADER = struct.Struct("!I")


def run_as_main(script: str, args: list[str]) -> int:
    """What ``python SCRIPT ARGS`` does in this process, from the start to its exit status (the
    exit itself is the caller's)."""
    import builtins
    import io
    import traceback
    import types

    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    # The script's globals live in sys.modules["__main__"] until the interpreter's exit, as they
    # do in a plain process (runpy would drop them when the script ends, before atexit).
    main = sys.modules["__main__"] = types.ModuleType("__main__")
    main.__dict__.update(__file__=script, __cached__=None, __loader__=None, __package__=None, __spec__=None,
                         __builtins__=builtins)
    try:
        with io.open_code(script) as source:
            exec(compile(source.read(), script, "exec"), main.__dict__)
        code = 0
    except SystemExit as exit:  # sys.exit's rules: None is 0; a message is printed and is 1
        code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
        if not isinstance(exit.code, int) and exit.code is not None:
            print(exit.code, file=sys.stderr)
    except BaseException as error:  # noqa: BLE001  (uncaught: the traceback and status 1, as Python does)
        frames = error.__traceback__  # from the script's own frame on, as Python prints it
        while frames is not None and frames.tb_frame.f_code.co_filename != script:
            frames = frames.tb_next
        traceback.print_exception(type(error), error, frames or error.__traceback__)
        code = 1
    return code


def end_as_python_does(code: int) -> NoReturn:
    """The exit of a script that ``run_as_main`` ran, as the interpreter's own exit would end it
    for what the script can see: its non-daemon threads joined, its atexit functions run, its
    globals cleared and collected (their finalizers run), the standard streams flushed, the status.

    Left out: the teardown of every module, most of it TensorFlow's, which costs a second or two of
    CPU per script and changes nothing a script leaves behind, except in a TensorFlow cluster
    (``TF_CONFIG``): there the coordination service's shutdown lets a worker's peers finish their
    last collective before it leaves, so such a script ends with the interpreter's own exit.
    """
    if os.environ.get("TF_CONFIG"):
        raise SystemExit(code)
    import atexit
    import gc
    import threading

    threading._shutdown()  # what the interpreter's exit calls first: waits for non-daemon threads
    atexit._run_exitfuncs()
    sys.modules["__main__"].__dict__.clear()
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120  # Python's status when flushing at the exit fails
    os._exit(code)


def _receive_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client went away")
        data += chunk
    return data


def _serve_one(connection: socket.socket, listener: socket.socket) -> None:
    """Forks a monitor that forks the script, waits for it and sends the client its exit status."""
    header, fds, _, _ = socket.recv_fds(connection, HEADER.size, 3)
    request = json.loads(_receive_exactly(connection, HEADER.unpack(header)[0]))
    if os.fork() != 0:  # the server goes back to accepting
        for fd in fds:
            os.close(fd)
        return
    try:  # the monitor: never returns to the server's loop
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        script = os.fork()
    except BaseException:  # noqa: BLE001  (whatever failed, the monitor never returns to the server's loop)
        os._exit(1)
    if script == 0:
        listener.close()
        connection.close()
        _start_script(request, fds)
    try:
        for fd in fds:
            os.close(fd)
        try:
            os.setpgid(script, script)  # (the script does it too: whichever comes first)
        except OSError:
            pass
        connection.sendall(f"{script}\n".encode())
        # A status below 0 is the signal that ended the script.
        connection.sendall(f"{os.waitstatus_to_exitcode(os.waitpid(script, 0)[1])}\n".encode())
    finally:
        os._exit(0)


def _start_script(request: dict, fds: list[int]) -> None:
    """The script's process: the client's streams, environment, directory, CPU affinity and
    SIGINT handling, then the script, which ends as a Python process ends (``end_as_python_does``)."""
    code = 1
    try:
        os.setpgid(0, 0)  # a group of its own: the client passes a signal on to the script and its children
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        # Standard streams as Python opens them at start-up (buffering decided by the new files).
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding=sys.stdout.encoding, errors=sys.stdout.errors, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace",  # noqa: SIM115
                          closefd=False)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        os.sched_setaffinity(0, request["affinity"])
        # Python's start-up: SIGINT raises KeyboardInterrupt unless the parent ignored it.
        signal.signal(signal.SIGINT, signal.SIG_IGN if request["sigint_ignored"] else signal.default_int_handler)
        code = run_as_main(request["argv"][0], request["argv"][1:])
    except BaseException:  # noqa: BLE001  (a failed start: said on the client's stderr)
        import traceback

        traceback.print_exc()
    end_as_python_does(code)


def serve(path: str) -> None:
    """Preload, then fork a child for each client until terminated."""
    for module in PRELOAD:
        __import__(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".part")
    listener.listen(16)
    os.rename(path + ".part", path)  # the socket appears once the server accepts
    while True:
        connection, _ = listener.accept()
        try:
            _serve_one(connection, listener)
        except (ConnectionError, OSError, ValueError) as error:
            print(f"script server: a request failed: {error}", file=sys.stderr)
        finally:
            connection.close()


def client(python: str, args: list[str]) -> int:
    """Runs ``python ARGS`` through the server named by $VARATTN_SCRIPT_SERVER when ARGS start with
    a script file; anything else (``-c``, ``-m``, no server) runs as a plain process."""
    path = os.environ.get(SERVER_VARIABLE)
    if not path or not args or args[0].startswith("-") or not os.path.isfile(args[0]):
        os.execv(python, [python, *args])
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    env = dict(os.environ)
    pid_file = env.pop(PID_VARIABLE, None)
    payload = json.dumps({"argv": args, "env": env, "cwd": os.getcwd(), "affinity": sorted(os.sched_getaffinity(0)),
                          # Ignored in this process's parent (pytest-xdist's workers), so in a plain child.
                          "sigint_ignored": signal.getsignal(signal.SIGINT) is signal.SIG_IGN}).encode()
    socket.send_fds(connection, [HEADER.pack(len(payload))], [0, 1, 2])
    connection.sendall(payload)
    replies = connection.makefile("r")
    pid = int(replies.readline())
    if pid_file:
        Path(pid_file + ".part").write_text(f"{pid}\n")
        os.replace(pid_file + ".part", pid_file)
    for number in (signal.SIGINT, signal.SIGTERM):  # passed on, as if the script were this process
        signal.signal(number, lambda received, frame: os.killpg(pid, received))
    status = replies.readline().strip()
    if not status:
        print(f"script server: lost {args[0]} (PID {pid})", file=sys.stderr)
        return 1
    if int(status) < 0:  # ended by a signal: so does this process
        if -int(status) not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(-int(status), signal.SIG_DFL)
        os.kill(os.getpid(), -int(status))
    return int(status)


class ScriptServer:
    """A server with its socket in ``folder``; ``environment`` holds the variables that send
    ``reproduce.sh``'s scripts to it, ``command``, ``run`` and ``start`` send one script."""

    def __init__(self, folder: Path):
        path, self.folder, self._started = folder / "scripts.sock", folder, 0
        self.process = subprocess.Popen([sys.executable, __file__, "serve", str(path)], stdin=subprocess.DEVNULL)
        deadline = time.time() + 600  # a loaded machine imports TensorFlow slowly
        while not path.exists():
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the script server did not start (status {self.process.poll()})")
            time.sleep(0.05)
        self.environment = {SERVER_VARIABLE: str(path), "VARATTN_LAUNCHER": f"{sys.executable} {__file__} client"}

    def command(self, script: Path | str, *args: str) -> list[str]:
        """The command that runs ``python SCRIPT ARGS`` through this server (its environment
        must hold :attr:`environment`)."""
        return [sys.executable, __file__, "client", sys.executable, str(script), *args]

    def run(self, script: Path | str, *args: str, env: dict | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess:
        """``subprocess.run([python, script, *args], capture_output=True, text=True)`` through
        this server (``env``: the environment, this server's variables added)."""
        result = subprocess.run(self.command(script, *args), capture_output=True, text=True, env=self._env(env),
                                cwd=cwd)
        result.args = [sys.executable, str(script), *args]
        return result

    def start(self, script: Path | str, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
        """``subprocess.Popen([python, script, *args], **popen)`` through this server. The Popen is
        the client, which ends as the script ends (a signal that ends the script ends it too);
        ``process.script_pid()`` waits for the script's own PID, to signal the script itself."""
        self._started += 1
        pid_file = self.folder / f"script-{self._started}.pid"
        process = subprocess.Popen(self.command(script, *args), env={**self._env(env), PID_VARIABLE: str(pid_file)},
                                   **popen)

        def script_pid(timeout: float = 600) -> int:
            deadline = time.time() + timeout  # a loaded machine forks slowly
            while not pid_file.exists():
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"{script} did not start (client status {process.poll()})")
                time.sleep(0.01)
            return int(pid_file.read_text())

        process.script_pid = script_pid
        return process

    def _env(self, env: dict | None) -> dict:
        """``env`` (default: this process's environment) with this server's variables."""
        return {**(os.environ if env is None else env), **self.environment}

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    elif sys.argv[1:2] == ["client"]:
        sys.exit(client(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit(__doc__)
