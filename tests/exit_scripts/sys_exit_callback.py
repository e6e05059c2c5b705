"""A done-callback calls sys.exit() on a scheduler thread: as in any thread but the main
one, that ends the callback, not the program; every other request still completes."""

import concurrent.futures
import sys

import exitlib
import ortnative as ortn

M, X = exitlib.small_model()
SLOW, XS = exitlib.slow_model()
S = ortn.Scheduler(threads=1)
S.add_model("slow", SLOW)
S.add_model("m", M, max_batch_size=8, max_queue_delay_us=500)
busy = S.submit("slow", {"x": XS})  # holds the one worker while the callbacks are added
futures = [S.submit("m", {"x": X}) for _ in range(200)]
for f in futures[::10]:
    f.add_done_callback(lambda _f: sys.exit(3))
done, not_done = concurrent.futures.wait([busy, *futures], timeout=30)
print("results", sum(f.exception() is None for f in done) - 1, "not done", len(not_done))
