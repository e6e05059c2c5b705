"""Daemon threads are inside Scheduler.run (and submit) when the program ends, with
schedulers being created and closed meanwhile."""

import threading
import time

import exitlib
import ortnative as ortn

M, X = exitlib.slow_model()
S = ortn.Scheduler(threads=2)
S.add_model("slow", M, replicas=2, max_batch_size=512, max_queue_delay_us=1000)
small, x1 = exitlib.small_model()


def clients() -> None:
    try:
        while True:
            S.run("slow", {"x": X})
    except ortn.SchedulerClosedError:
        pass  # closed at exit (the request queued then ended so, or came after)


def churn() -> None:
    while True:
        s = ortn.Scheduler(threads=2)
        try:
            s.add_model("a", small, max_batch_size=4)
            for _ in range(20):
                s.submit("a", {"x": x1})
        except ortn.SchedulerClosedError:
            pass  # closed at exit meanwhile
        s.close(drain=bool(time.monotonic_ns() & 1))


for target in (clients, clients, churn, churn):
    threading.Thread(target=target, daemon=True).start()
time.sleep(0.3)
print("main thread done")
