"""benchmarks/bench_convergence.py's command line: names checked by the shared helper, --quick's setting."""

from __future__ import annotations

import pytest


def test_lists_are_split_and_unknown_names_refused_in_one_line(capsys, load_benchmark):
    bc = load_benchmark("bench_convergence")
    args = bc.parse_args(["--layers", " conv2, conv5,", "--methods", "badger"])
    assert args.layers == ["conv2", "conv5"] and args.methods == ["badger"]
    quick = bc.parse_args(["--quick", "--methods", "default,mahendran"])
    assert (quick.layers, quick.size, quick.iterations, quick.trials) == (["conv2", "conv4"], 128, 60, 3)
    for argv, message in (
        (["--layers", "conv2,conv9"], "unknown layer(s) conv9: choose from conv1, conv2, conv3, conv4, conv5"),
        (["--methods", ","], "unknown method(s) (none given): choose from default, badger, mahendran"),
    ):
        with pytest.raises(SystemExit) as exc:
            bc.parse_args(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and "Traceback" not in err
