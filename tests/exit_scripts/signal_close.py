"""A signal handler closes the scheduler while client threads submit."""

import os
import signal
import threading
import time

import exitlib
import ortnative as ortn

M, X = exitlib.small_model()
S = ortn.Scheduler(threads=2)
S.add_model("m", M, max_batch_size=8, max_queue_delay_us=200)
closed = threading.Event()


def on_signal(_signum: int, _frame: object) -> None:
    S.close(drain=True)
    closed.set()


signal.signal(signal.SIGUSR1, on_signal)


def submit() -> None:
    while True:
        try:
            exitlib.watch(S.submit("m", {"x": X}))
            return
        except ortn.QueueFullError:
            time.sleep(0.001)  # backpressure: try again


def client() -> None:
    try:
        while True:
            submit()
    except ortn.SchedulerClosedError:
        pass


threads = [threading.Thread(target=client) for _ in range(3)]
for t in threads:
    t.start()
for _ in range(200):  # the main thread submits too: the signal may land inside submit
    submit()
os.kill(os.getpid(), signal.SIGUSR1)
for _ in range(100):
    try:
        submit()
    except ortn.SchedulerClosedError:
        break
closed.wait(10)
for t in threads:
    t.join(10)
print("closed by the handler", S.closed)
