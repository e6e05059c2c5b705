"""magika (Google's content-type detector) on a few made-up files, as a user would
write it: the ONNX model shipped inside the magika wheel, fed by magika as lists of
ints (onnxruntime converts them to the input's type). Prints one JSON line."""

import json
import os
import tempfile

from magika import Magika

SAMPLES = {
    "python": b"import os\n\n\ndef main():\n    for k, v in sorted(os.environ.items()):\n"
    b"        print(k, v)\n\n\nif __name__ == '__main__':\n    main()\n" * 3,
    "json": b'{"name": "ortnative", "version": [0, 1, 0], "tags": ["onnx"], "ok": true}\n' * 4,
    "html": b"<!DOCTYPE html><html><head><title>t</title></head><body><p>Hello</p>"
    b"<a href='x'>x</a></body></html>\n" * 3,
    "c": b"#include <stdio.h>\nint main(void) {\n  int i;\n  for (i = 0; i < 10; i++)"
    b' printf("%d\\n", i);\n  return 0;\n}\n' * 3,
    "csv": b"a,b,c\n1,2,3\n4,5,6\n7,8,9\n" * 20,
    "short": b"hi",
}


def main() -> None:
    magika = Magika()
    result = {}
    for name, content in SAMPLES.items():
        r = magika.identify_bytes(content)
        result[name] = [str(r.output.label), str(r.dl.label), r.score]
    with tempfile.TemporaryDirectory() as tmp:  # a batch: one run for all files
        paths = []
        for name, content in SAMPLES.items():
            paths.append(os.path.join(tmp, name))
            with open(paths[-1], "wb") as f:
                f.write(content)
        batch = magika.identify_paths(paths)
    result["batch"] = [[str(r.output.label), r.score] for r in batch]
    session = magika._onnx_session
    print(
        json.dumps(
            {
                "result": result,
                "sessions": [
                    [type(session).__module__, getattr(session, "ortnative_delegation", "-")]
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
