"""Ctrl-C and SIGTERM deferred to the next stop point (tf_varattn/interrupts.py)."""

import os
import signal

import pytest

from tf_varattn.interrupts import Terminated, exit_status, signal_name, stop_point, stop_points


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


@pytest.fixture
def sigterm_as_in_a_plain_process():
    """SIGTERM with Python's default (it ends the process) during the test; yields a function that
    sends it to this process (only ever inside ``stop_points()``, which defers it)."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield lambda: os.kill(os.getpid(), signal.SIGTERM)
    signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_waits_for_the_next_stop_point_as_a_terminated_keyboard_interrupt(sigterm_as_in_a_plain_process,
                                                                                     capsys):
    reached = []
    with pytest.raises(Terminated) as stopped:
        with stop_points():
            sigterm_as_in_a_plain_process()
            reached.append("after the signal")  # not ended here
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # a second SIGTERM: at once
            stop_point()
            reached.append("after the stop point")
    assert reached == ["after the signal"] and isinstance(stopped.value, KeyboardInterrupt)
    assert (signal_name(stopped.value), exit_status(stopped.value)) == ("SIGTERM", 143)
    assert "SIGTERM: stopping after this step (send it again to stop at once)" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Terminated):  # one that meets no stop point stops at the end of the block
        with stop_points():
            sigterm_as_in_a_plain_process()
    stop_point()  # nothing pending: nothing raised


def test_the_first_of_a_sigterm_and_a_ctrl_c_is_the_one_reported(sigterm_as_in_a_plain_process,
                                                                  sigint_as_in_a_plain_process):
    with pytest.raises(KeyboardInterrupt) as stopped:
        with stop_points():
            sigint_as_in_a_plain_process()
            sigterm_as_in_a_plain_process()
            stop_point()
    assert not isinstance(stopped.value, Terminated)
    assert (signal_name(stopped.value), exit_status(stopped.value)) == ("Ctrl-C", 130)


def test_a_handled_sigterm_is_left_alone():
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        with stop_points():
            os.kill(os.getpid(), signal.SIGTERM)
            stop_point()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == [signal.SIGTERM]
