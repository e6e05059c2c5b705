"""The program closes its scheduler from its own atexit handler, draining: that handler
runs before ortnative's, so every queued request still runs."""

import atexit

import exitlib
import ortnative as ortn

M, X = exitlib.small_model()
S = ortn.Scheduler(threads=1)
S.add_model("m", M, max_batch_size=4, max_queue_delay_us=5000, max_queue_size=1000)
atexit.register(S.close, drain=True)
for _ in range(300):
    exitlib.watch(S.submit("m", {"x": X}))
print("submitted 300")
