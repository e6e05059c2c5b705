"""Daemon threads are inside Session.run when the program ends."""

import threading
import time

import exitlib
import ortnative as ortn

M, X = exitlib.slow_model()
S = ortn.Session(M, intra_op_threads=1)


def loop() -> None:
    # At exit the native backend parks this thread inside run; the python backend
    # (after waiting for the runs already inside onnxruntime) refuses the next run.
    try:
        while True:
            S.run({"x": X})
    except ortn.SessionClosedError:
        pass


for _ in range(3):
    threading.Thread(target=loop, daemon=True).start()
time.sleep(0.3)
print("main thread done")
