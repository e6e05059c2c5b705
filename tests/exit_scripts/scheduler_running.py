"""The program ends while a request is running: it finishes and its future gets the result."""

import time

import exitlib
import ortnative as ortn

M, X = exitlib.slow_model()
S = ortn.Scheduler(threads=1)
S.add_model("slow", M)
exitlib.watch(S.submit("slow", {"x": X}))
deadline = time.monotonic() + 5
while S.stats("slow")["running"] == 0 and time.monotonic() < deadline:
    time.sleep(0.0005)
print("running", S.stats("slow")["running"])
