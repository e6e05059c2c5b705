"""Client threads keep requests in flight until the parent sends SIGTERM or SIGINT
(argv[1]); the program must end as Python ends on that signal, with no traceback from
a thread of ortnative's."""

import sys
import threading
import time

import exitlib
import ortnative as ortn

M, X = exitlib.slow_model()
S = ortn.Scheduler(threads=2)
S.add_model("slow", M, replicas=2, max_batch_size=512, max_queue_delay_us=500)
s2 = ortn.Session(M, intra_op_threads=1)


def client(i: int) -> None:
    try:
        while True:
            if i % 3 == 0:
                s2.run({"x": X})
            elif i % 3 == 1:
                S.run("slow", {"x": X})
            else:
                S.submit("slow", {"x": X}).result()
    except (ortn.SchedulerClosedError, ortn.SessionClosedError):
        pass  # closed at exit


for i in range(6):
    threading.Thread(target=client, args=(i,), daemon=True).start()
while S.stats("slow")["running"] == 0:
    time.sleep(0.001)
print("ready", flush=True)
time.sleep(30)  # the parent's signal ends this
print("no signal came", file=sys.stderr)
