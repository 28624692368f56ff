"""Make the repository's ``bench`` package importable (``python -m pytest`` already does; bare ``pytest`` may not)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
