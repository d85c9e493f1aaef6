"""Run README.md's first Python block as a new user would, against a FakePlivo.

CI runs it with the wheel installed in a clean venv with no extras (usage: python
.ci/readme_example.py README.md), so it checks that the package as published runs the
front page's example. The fake serves from a thread of its own, since the example calls
``asyncio.run()`` itself; the environment points the example's session at it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
from pathlib import Path

import plivo_numlink
from plivo_numlink.testing import FakePlivo

readme = Path(sys.argv[1]).read_text(encoding="utf-8")
match = re.search(r"^```python\n(.*?)^```", readme, re.DOTALL | re.MULTILINE)
if match is None:
    sys.exit(f"{sys.argv[1]} has no ```python block")
print(f"plivo_numlink {plivo_numlink.__version__} from {Path(plivo_numlink.__file__).parent}")

loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, daemon=True).start()
fake = FakePlivo()
asyncio.run_coroutine_threadsafe(fake.start(), loop).result(timeout=30)
os.environ["PLIVO_AUTH_ID"] = fake.auth_id
os.environ["PLIVO_AUTH_TOKEN"] = fake.auth_token
os.environ["PLIVO_NUMLINK_BASE_URL"] = fake.base_url
try:
    exec(compile(match[1], f"{sys.argv[1]} (first python block)", "exec"), {"__name__": "__main__"})
finally:
    asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=30)
print(f"the README's first example ran against the fake: {len(fake.requests)} requests")
