"""cvdemo: the inference core behind the Streamlit app.

Everything here is importable and testable without Streamlit; the pages in ``pages/`` only lay
out widgets over it.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
__version__ = "0.1.0"
