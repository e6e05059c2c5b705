"""Closed from a weakref callback (weakref.finalize of an object the program drops), and
a second scheduler dropped for good inside one of its own done-callbacks (so it is
closed on its own worker thread)."""

import gc
import weakref

import exitlib
import ortnative as ortn

M, X = exitlib.small_model()


class Owner:
    pass


owner = Owner()
S = ortn.Scheduler(threads=2)
S.add_model("m", M)
weakref.finalize(owner, S.close)
for _ in range(20):
    exitlib.watch(S.submit("m", {"x": X}))
del owner
gc.collect()
print("closed by weakref callback", S.closed)

holder = {"s": ortn.Scheduler(threads=2)}
holder["s"].add_model("m", M)
fut = holder["s"].submit("m", {"x": X})
fut.add_done_callback(lambda _f: holder.clear())  # the last reference goes on a worker
print("result", fut.result(timeout=10)["y"].tolist())
