"""Check what a built wheel holds: the package, its py.typed marker and the pytest plugin,
and nothing of the tests (usage: python .ci/check_wheel.py dist/plivo_numlink-*.whl)."""

from __future__ import annotations

import sys
import zipfile

(wheel,) = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
problems = [
    f"{required} is missing"
    for required in (
        "plivo_numlink/__init__.py",
        "plivo_numlink/py.typed",
        "pytest_plivo_numlink.py",
    )
    if required not in names
]
problems += [f"{name} is a test" for name in names if name.split("/")[0] in ("tests", "test")]
problems += [
    f"{name} does not belong in the wheel"
    for name in names
    if name.split("/")[0] not in ("plivo_numlink", "pytest_plivo_numlink.py")
    and ".dist-info/" not in name
]
if problems:
    sys.exit(f"{wheel}:\n  " + "\n  ".join(problems))
print(f"{wheel}: {len(names)} files, py.typed and the pytest plugin in, no tests")
