"""An ImagePreprocessor in a module global, used from a thread pool, never closed."""

import concurrent.futures

import numpy as np
import ortnative as ortn

P = ortn.ImagePreprocessor(size=(8, 8))
POOL = concurrent.futures.ThreadPoolExecutor(2)
images = [np.full((32, 48, 3), i, np.uint8) for i in range(8)]
print(sum(float(x.sum()) > 0 for x in POOL.map(P, images)))
