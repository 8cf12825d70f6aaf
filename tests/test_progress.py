import io

from tf_varattn.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_log_files_get_plain_lines_with_running_means():
    stream = io.StringIO()
    progress = Progress(4, "epoch 1", stateful=("learning_rate",), interval=3600, stream=stream)
    for step, loss in enumerate([4.0, 2.0, 3.0, 1.0], start=1):
        progress.update(step, [("loss", loss), ("learning_rate", 0.1 * step)])
    lines = stream.getvalue().splitlines()
    # The first update and the last print (the interval is long); no ANSI codes, no carriage returns.
    assert len(lines) == 2 and "\x1b" not in stream.getvalue() and "\r" not in stream.getvalue()
    assert lines[0].startswith("epoch 1: 1/4 steps (25%)") and "loss 4," in lines[0]
    assert lines[1].startswith("epoch 1: 4/4 steps (100%)") and "loss 2.5," in lines[1] and lines[1].endswith("learning_rate 0.4")


def test_add_counts_and_a_terminal_gets_the_keras_bar():
    stream = io.StringIO()
    progress = Progress(10, "decoding", unit="input", interval=0, stream=stream)
    progress.add(4)
    progress.add(6)
    assert stream.getvalue().splitlines()[-1].startswith("decoding: 10/10 inputs (100%)")
    assert Progress(3, "x", stream=_Terminal()).bar is not None


def test_time_left_of_a_resumed_run_counts_only_the_work_of_this_process():
    stream = io.StringIO()
    progress = Progress(100, "epoch 2", interval=0, stream=stream, initial=60)
    progress.start -= 20.0  # 20 s in this process for 10 steps: 2 s per step, 30 steps left
    progress.update(70)
    assert "70/100 steps (70%), 0:20 elapsed, 1:00 left" in stream.getvalue()
