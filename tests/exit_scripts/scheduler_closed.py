"""A Scheduler in a module global, closed by the program (then dropped at exit)."""

import ortnative as ortn

S = ortn.Scheduler()
S.close()
print("closed", S.closed)
