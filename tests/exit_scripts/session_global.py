"""A Session in a module global; the program ends without closing it."""

import numpy as np
import ortnative as ortn
from ortnative import models

S = ortn.Session(models.add_one(("N", 4)))
print(S.run({"x": np.zeros((1, 4), np.float32)})["y"].tolist())
