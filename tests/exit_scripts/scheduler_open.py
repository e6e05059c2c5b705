"""A Scheduler in a module global, never closed (every service does this)."""

import exitlib
import ortnative as ortn

M, X = exitlib.small_model()
S = ortn.Scheduler(threads=2)
S.add_model("m", M, max_batch_size=4)
print(S.run("m", {"x": X})["y"].tolist())
