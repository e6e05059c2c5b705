"""An asyncio program whose loop closes with infer() calls pending: asyncio.run cancels
the tasks still awaiting (their queued requests are cancelled); a second loop is closed
by hand while its requests are still running (their results have nowhere to go)."""

import asyncio

import exitlib
import ortnative as ortn

M, X = exitlib.slow_model()
S = ortn.Scheduler(threads=1)
S.add_model("slow", M, max_queue_size=200)


async def main() -> None:
    tasks = [asyncio.create_task(S.infer("slow", {"x": X})) for _ in range(20)]
    done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    print("first done", len(done) >= 1)


asyncio.run(main())

loop = asyncio.new_event_loop()
pending = [loop.create_task(S.infer("slow", {"x": X})) for _ in range(5)]
loop.run_until_complete(asyncio.sleep(0.01))
loop.close()  # five tasks still pending: never awaited again
print("loop closed")
