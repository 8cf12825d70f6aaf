"""Ctrl-C deferred to the next stop point (tf_varattn/interrupts.py)."""

import os
import signal

import pytest

from tf_varattn.interrupts import stop_point, stop_points


def test_a_ctrl_c_waits_for_the_next_stop_point_and_a_second_one_does_not(sigint_as_in_a_plain_process, capsys):
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with stop_points():
            sigint_as_in_a_plain_process()
            reached.append("after the signal")  # not interrupted here
            stop_point()
            reached.append("after the stop point")
    assert reached == ["after the signal"]
    assert "stopping after this step (press it again to stop at once)" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with stop_points():
        sigint_as_in_a_plain_process()
        with pytest.raises(KeyboardInterrupt):  # the second Ctrl-C: at once
            sigint_as_in_a_plain_process()
            reached.append("after the second signal")
        with pytest.raises(KeyboardInterrupt):  # the first one still stops at the next stop point
            stop_point()
    assert reached == ["after the signal"]
    stop_point()  # nothing pending: nothing raised


def test_a_ctrl_c_that_meets_no_stop_point_stops_at_the_end_of_the_block(sigint_as_in_a_plain_process):
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with stop_points():
            sigint_as_in_a_plain_process()
            reached.append("the rest of the block")
        reached.append("after the block")
    assert reached == ["the rest of the block"]
    with pytest.raises(ValueError):  # another error leaves the block: it wins, and nothing stays pending
        with stop_points():
            sigint_as_in_a_plain_process()
            raise ValueError
    stop_point()


def test_an_ignored_or_handled_sigint_is_left_alone():
    calls = []
    for handler in (signal.SIG_IGN, lambda signum, frame: calls.append(signum)):
        previous = signal.signal(signal.SIGINT, handler)
        try:
            with stop_points():
                assert signal.getsignal(signal.SIGINT) is handler
                os.kill(os.getpid(), signal.SIGINT)
                stop_point()
        finally:
            signal.signal(signal.SIGINT, previous)
    assert calls == [signal.SIGINT]
