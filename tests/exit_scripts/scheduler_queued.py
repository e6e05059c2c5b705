"""The program ends with requests still queued behind a slow model; nobody waits for
them. Each must still end exactly once (SchedulerClosedError at exit)."""

import exitlib
import ortnative as ortn

M, X = exitlib.slow_model()
S = ortn.Scheduler(threads=1)
S.add_model("slow", M, max_queue_size=100)
for _ in range(50):
    exitlib.watch(S.submit("slow", {"x": X}))
print("submitted 50")
