"""Reads the AddressSanitizer/LeakSanitizer logs of a pytest-under-ASan run and
fails on what is ortnative's: any memory error, and any leak whose allocation stack
passes through ortnative's code (the extension module or the ortnative:: core).

Python is not instrumented, so at exit LeakSanitizer also lists objects the
interpreter (and numpy, onnxruntime, subprocesses such as git) never free; those
records carry no frame of ours and are counted, not failed.
Usage: python asan_report.py LOG_DIR
"""

from __future__ import annotations

import glob
import os
import re
import sys

OURS = re.compile(r"ortnative|/_core\.cpython|py_bridge|/cpp/(?:src|python|include)/")


def main(log_dir: str) -> int:
    errors, our_leaks, other_leaks = [], [], 0
    for path in sorted(glob.glob(os.path.join(log_dir, "*"))):
        with open(path, errors="replace") as f:
            text = f.read()
        for block in re.split(r"\n(?==+\n==\d+==ERROR)", text):
            if "ERROR: AddressSanitizer" in block or "runtime error:" in block:
                errors.append(f"{path}:\n{block.strip()[:4000]}")
            if "ERROR: LeakSanitizer" not in block:
                continue
            for record in re.split(r"\n(?=(?:Direct|Indirect) leak of)", block):
                if not record.startswith(("Direct leak", "Indirect leak")):
                    continue
                if OURS.search(record):
                    our_leaks.append(f"{path}:\n{record.strip()}")
                else:
                    other_leaks += 1
    for e in errors:
        print("MEMORY ERROR", e, sep="\n")
    for leak in our_leaks:
        print("LEAK IN ORTNATIVE", leak, sep="\n")
    print(
        f"asan report: {len(errors)} memory errors, {len(our_leaks)} leaks through ortnative, "
        f"{other_leaks} leak records of the interpreter and other libraries (not ours)"
    )
    return 1 if errors or our_leaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
