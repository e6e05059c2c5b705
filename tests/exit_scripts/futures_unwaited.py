"""Many futures nobody waits for, on a batching model; the program just ends."""

import exitlib
import ortnative as ortn

M, X = exitlib.small_model()
S = ortn.Scheduler(threads=2)
S.add_model("m", M, max_batch_size=8, max_queue_delay_us=2000, max_queue_size=4096)
for _ in range(1000):
    exitlib.watch(S.submit("m", {"x": X}))
print("submitted 1000")
