"""A Scheduler created and used in an atexit handler that runs after ortnative's own,
left open in a module global: it is dropped while the interpreter finalises."""

import atexit

import exitlib


def late() -> None:
    global LATE
    import ortnative as ortn

    LATE = ortn.Scheduler(threads=2)
    M, X = exitlib.small_model()
    LATE.add_model("m", M)
    print("late result", LATE.run("m", {"x": X})["y"].tolist(), flush=True)
    LATE.submit("m", {"x": X})


atexit.register(late)  # registered before ortnative is imported: runs after its handler
import ortnative  # noqa: F401

print("main done")
