"""The script server (tests/script_server.py) runs a script as ``python SCRIPT ARGS`` would."""

import subprocess
import sys

import pytest

PROBE = """
import atexit, json, os, signal, sys, threading, time
atexit.register(lambda: print("atexit ran"))


class Finalized:
    def __del__(self):
        print("finalized at the interpreter's exit", flush=True)


finalized = Finalized()  # a global: collected after atexit
threading.Thread(target=lambda: (time.sleep(0.3), print("thread joined", flush=True))).start()
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "probe": os.environ.get("PROBE"),
                  "path0": sys.path[0], "name": __name__, "affinity": sorted(os.sched_getaffinity(0)),
                  "sigint": str(signal.getsignal(signal.SIGINT))}))
print("to stderr", file=sys.stderr)
how = sys.argv[1]
if how == "code":
    sys.exit(3)
if how == "message":
    sys.exit("a message")
if how == "raise":
    raise ValueError("boom")
if how == "hard":
    os._exit(4)
if how == "signal":
    sys.stdout.flush()
    os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("how", ["normal", "code", "message", "raise", "hard", "signal", "cluster"])
def test_a_script_through_the_server_behaves_as_a_plain_process(tmp_path, script_server, how):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {"PROBE": "value", "PATH": "/usr/bin:/bin"}
    if how == "cluster":  # a TensorFlow cluster's script ends with the interpreter's own exit
        env["TF_CONFIG"] = "{}"
    plain = subprocess.run([sys.executable, str(script), how, "two words"], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
    served = script_server.run(script, how, "two words", env=env, cwd=tmp_path)
    assert served.returncode == plain.returncode and served.stdout == plain.stdout
    assert served.stderr.replace(str(script), "SCRIPT") == plain.stderr.replace(str(script), "SCRIPT")
    # What the comparison covered: the buffered output is lost only where Python loses it.
    assert ('"probe": "value"' in plain.stdout) == (how != "hard") and "to stderr" in plain.stderr
    exited = how in ("normal", "code", "message", "raise", "cluster")
    assert ("atexit ran" in plain.stdout) == exited == ("thread joined" in plain.stdout)
    assert plain.stdout.endswith("thread joined\natexit ran\nfinalized at the interpreter's exit\n") == exited
    assert plain.returncode == {"normal": 0, "code": 3, "message": 1, "raise": 1, "hard": 4, "signal": -9, "cluster": 0}[how]


def test_a_started_script_is_signalled_itself_and_its_client_ends_as_it_does(tmp_path, script_server):
    import os
    import signal

    script = tmp_path / "wait.py"
    script.write_text("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(600)\n")
    process = script_server.start(script, stdout=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin"})
    pid = int(process.stdout.readline())
    assert process.script_pid() == pid != process.pid
    os.kill(pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL  # as a plain process killed so would
