"""A done-callback calls sys.exit() on a scheduler thread: as in any thread but the main
one, that ends the callback, not the program; every other request still completes."""

import concurrent.futures
import sys
import threading

import exitlib
import ortnative as ortn

M, X = exitlib.small_model()
SLOW, XS = exitlib.slow_model()
S = ortn.Scheduler(threads=1)
S.add_model("slow", SLOW)
S.add_model("m", M, max_batch_size=8, max_queue_delay_us=500)
gate = threading.Event()


def hold(_f):
    # The one worker waits here until every callback below is added, so that they all
    # run on it. (Should the slow run end before this callback is added, it runs here on
    # the main thread, at once, and holds nothing.)
    if threading.current_thread() is not threading.main_thread():
        gate.wait(30)


busy = S.submit("slow", {"x": XS})
busy.add_done_callback(hold)
futures = [S.submit("m", {"x": X}) for _ in range(200)]
exits = []


def bye(_f):
    if threading.current_thread() is threading.main_thread():
        return  # done before its callback was added: sys.exit() here would end the program
    exits.append(1)
    sys.exit(3)


for f in futures[::10]:
    f.add_done_callback(bye)
gate.set()
done, not_done = concurrent.futures.wait([busy, *futures], timeout=30)
print("results", sum(f.exception() is None for f in done) - 1, "not done", len(not_done))
print("sys.exit() on a scheduler thread", len(exits))
