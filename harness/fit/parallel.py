"""Run independent pieces of a batched fit on both cores.

On Linux each extra piece runs in a forked child process (the problem and its tables are inherited, nothing is
pickled but the result), so the pieces do not share one interpreter lock; elsewhere, or inside a daemonic process
(which may not have children), threads are used. BLAS is held to one thread while the pieces run, so two pieces
use two cores rather than four competing threads.
"""
from __future__ import annotations

import multiprocessing
import sys
from typing import Callable

from threadpoolctl import ThreadpoolController

_CONTROLLER: list = []   # one ThreadpoolController, made on first use: each one scans the loaded libraries (~1 ms)


def _blas_limited():
    """A context holding BLAS to one thread (``threadpool_limits(1, "blas")`` without re-scanning the process's
    libraries on every call: a profile-likelihood fit makes a few dozen calls). Libraries are found at first use,
    after numpy has loaded its BLAS."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _child(send, function: Callable, piece: tuple) -> None:
    """In the forked child: run one piece and send back its result (or the exception it raised)."""
    try:
        send.send(function(*piece))
    except BaseException as error:   # the parent re-raises it
        send.send(error)
    finally:
        send.close()


def _forked(function: Callable, pieces: list) -> list:
    context = multiprocessing.get_context("fork")
    children = []
    for piece in pieces[1:]:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(send, function, piece), daemon=True)
        process.start()
        send.close()
        children.append((process, receive))
    results = [function(*pieces[0])]
    for process, receive in children:
        try:
            result = receive.recv()
        except EOFError:
            process.join()
            raise RuntimeError(f"fit worker process died (exit code {process.exitcode})") from None
        process.join()
        if isinstance(result, BaseException):
            raise result
        results.append(result)
    return results


def map_pieces(function: Callable, pieces: list) -> list:
    """``[function(*piece) for piece in pieces]``, the pieces run in parallel (processes on Linux, else threads)."""
    with _blas_limited():
        if len(pieces) == 1:
            return [function(*pieces[0])]
        if sys.platform.startswith("linux") and not multiprocessing.current_process().daemon:
            return _forked(function, pieces)
        from concurrent.futures import ThreadPoolExecutor   # here: with logging, ~5 ms of every Linux fit

        with ThreadPoolExecutor(len(pieces)) as pool:
            return list(pool.map(lambda piece: function(*piece), pieces))
