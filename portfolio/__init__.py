"""工业投资项目库分析工具 — the industrial investment portfolio analyser library.

The library never imports streamlit; the CLI (`portfolio.cli`) and the app pages are thin
shells over it.
"""

__version__ = "0.1.0"
